//! Who waits for the write connection.
//!
//! The steady reports' task (`super::steady`) keeps the write pool's one connection from one
//! batch to the next: giving it back is a round trip to SQLite's thread (sqlx pings every
//! connection it takes back) and a wake-up of that thread, once per batch. It keeps it only while
//! no one else wants it. Every other writer says here that it waits before it asks the pool, and
//! the task lets go as soon as it sees one (at once when it is idle, after its batch when it is
//! writing).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(super) struct Waiting {
    count: AtomicUsize,
    arrived: Notify,
}

impl Waiting {
    /// Say that a writer waits, until the guard is dropped (once it holds the connection, or
    /// gave up).
    pub fn enter(&self) -> Waits<'_> {
        self.count.fetch_add(1, Ordering::AcqRel);
        // Stored when the task is not listening: its next wait ends at once, and it lets go.
        self.arrived.notify_one();
        Waits(self)
    }

    /// Whether some writer waits now.
    pub fn anyone(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Ends when a writer has said it waits (since the last time this ended).
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }
}

/// A writer waiting: counted in [`Waiting`] while it lives.
pub(super) struct Waits<'w>(&'w Waiting);

impl Drop for Waits<'_> {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_writer_is_counted_while_it_waits_and_wakes_the_listener() {
        let waiting = Waiting::default();
        assert!(!waiting.anyone());
        let first = waiting.enter();
        let second = waiting.enter();
        assert!(waiting.anyone());
        // Said before anyone listened: the next wait ends at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting.arrived())
            .await
            .expect("the arrival was kept for the listener");
        drop(first);
        assert!(waiting.anyone());
        drop(second);
        assert!(!waiting.anyone());
    }

    #[tokio::test]
    async fn no_arrival_no_wake() {
        let waiting = Waiting::default();
        let woke =
            tokio::time::timeout(std::time::Duration::from_millis(20), waiting.arrived()).await;
        assert!(woke.is_err(), "no writer arrived, yet the listener woke");
    }
}
