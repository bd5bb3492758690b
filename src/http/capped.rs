//! The cap on open connections (`--max-connections`, issue 20 D1): an acceptor around the
//! server's own (plain or TLS) that counts each connection from its accept (TLS handshake
//! included) until its stream is dropped, and answers one beyond the cap with a 503 and closes
//! it, rather than letting it wait in a queue no client can see.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

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

/// An acceptor counting connections against a cap, around `inner` (the plain or TLS acceptor).
#[derive(Clone)]
pub struct Capped<A> {
    inner: A,
    open: Arc<AtomicU64>,
    max: u64,
}

impl<A> Capped<A> {
    pub fn new(inner: A, max: u64) -> Self {
        Self {
            inner,
            open: Arc::default(),
            max,
        }
    }
}

/// One connection's place under the cap, given back when the connection's stream is dropped
/// (hyper drops it when the connection ends, however it ends).
struct Place(Arc<AtomicU64>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<A, I, S> Accept<I, S> for Capped<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send,
    A::Future: Send,
    A::Service: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Counted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        // Counted before the handshake: handshakes in progress hold resources too. The place
        // is taken first and checked after, so two accepts racing for the last place cannot
        // both get it.
        let place = Place(Arc::clone(&self.open));
        let over = self.open.fetch_add(1, Ordering::Relaxed) >= self.max;
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            if over {
                refuse(stream).await;
                drop(place);
                return Err(io::Error::other("over --max-connections; answered 503"));
            }
            Ok((
                Counted {
                    stream,
                    _place: place,
                },
                service,
            ))
        })
    }
}

/// Answer 503 and close, in [`REFUSAL_TIME`] at most.
async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut stream: T) {
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

/// A connection's stream holding its place under the cap.
pub struct Counted<T> {
    stream: T,
    _place: Place,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
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
