//! The cap on open connections (`--max-connections`, issue 20 D1): the accept loop
//! (`super::serve`) counts each connection from its accept (TLS handshake included) until its
//! task ends, and answers one beyond the cap with a 503 and closes it, rather than letting it
//! wait in a queue no client can see.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The answer to a connection beyond the cap: written without reading the request (whatever it
/// is, it is refused), then the connection is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 109\r\n\
\r\n\
{\"error\":{\"code\":\"TooManyConnections\",\"message\":\"the server has --max-connections open; try again shortly\"}}\n";

/// How long the refusal may take: writing it, and reading what the client sent before closing
/// (closing a socket with unread bytes resets it, and the client may then never see the 503).
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// The count of open connections against the cap.
pub(super) struct Cap {
    open: Arc<AtomicU64>,
    max: u64,
}

impl Cap {
    pub fn new(max: u64) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    /// A place for a connection just accepted: counted before any handshake, since handshakes
    /// in progress hold resources too. The place is taken first and checked after, so two
    /// accepts racing for the last place cannot both get it.
    pub fn take(&self) -> Place {
        let over = self.open.fetch_add(1, Ordering::Relaxed) >= self.max;
        Place {
            open: Arc::clone(&self.open),
            over,
        }
    }
}

/// One connection's place under the cap, given back when its task drops it (the connection
/// ended, however it ended).
pub(super) struct Place {
    open: Arc<AtomicU64>,
    over: bool,
}

impl Place {
    /// Whether the connection is one beyond the cap, to be refused.
    pub fn over(&self) -> bool {
        self.over
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answer 503 and close, in [`REFUSAL_TIME`] at most.
pub(super) async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut stream: T) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        // Read (and drop) what the client sent until it closes, so the close is not a reset.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_declares_its_body_length() {
        let text = std::str::from_utf8(REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("a length")
            .parse()
            .expect("a number");
        assert_eq!(declared, body.len());
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["error"]["code"], "TooManyConnections");
    }
}
