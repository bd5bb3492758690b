//! One whole read of a package at a time, per package: concurrent first downloads of a package
//! wait for the first one's read (to be kept in memory) instead of each reading it; downloads of
//! different packages do not wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// A lock per package being read whole (see the module).
pub(super) type LoadLocks = Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>;

/// The right to read a package whole (see the module); its entry goes when the
/// last download that wanted it is done.
pub(super) struct Loading {
    loading: LoadLocks,
    id: Uuid,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Loading {
    /// Wait for the right to read a package whole.
    pub(super) async fn of(loading: &LoadLocks, id: Uuid) -> Self {
        let guard = Self::lock_of(loading, id).lock_owned().await;
        Self::held(loading, id, guard)
    }

    /// The right to read a package whole if no one is reading it now.
    pub(super) fn try_of(loading: &LoadLocks, id: Uuid) -> Option<Self> {
        // Taken: its holder removes the entry when done.
        let guard = Self::lock_of(loading, id).try_lock_owned().ok()?;
        Some(Self::held(loading, id, guard))
    }

    /// The package's lock, made if it has none. Entries only the map holds are dropped here:
    /// a download that stopped waiting (its client went away) leaves one behind.
    fn lock_of(loading: &LoadLocks, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(map.entry(id).or_default())
    }

    fn held(loading: &LoadLocks, id: Uuid, guard: tokio::sync::OwnedMutexGuard<()>) -> Self {
        Self {
            loading: Arc::clone(loading),
            id,
            guard: Some(guard),
        }
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        let mut map = self
            .loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Held by the map and by this guard only: no other download waits for it. (Waiters
        // take their reference under the same lock, so none can come in between.)
        if map.get(&self.id).is_some_and(|l| Arc::strong_count(l) <= 2) {
            map.remove(&self.id);
        }
        // Released while the map is locked, after the count above included it.
        self.guard = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn loads_of_one_package_take_turns_and_others_do_not_wait() {
        let loading: LoadLocks = Arc::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = Loading::of(&loading, a).await;
        // Another package: at once.
        let other = tokio::time::timeout(Duration::from_secs(1), Loading::of(&loading, b))
            .await
            .expect("a load of another package waited");
        drop(other);
        // The same package: only after the first is done.
        let second = tokio::spawn({
            let loading = Arc::clone(&loading);
            async move { drop(Loading::of(&loading, a).await) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "two loads of one package at once");
        // The waiter keeps the entry while the first finishes.
        drop(first);
        assert_eq!(loading.lock().unwrap().len(), 1);
        second.await.unwrap();
        assert!(loading.lock().unwrap().is_empty(), "entries left behind");
    }

    #[tokio::test]
    async fn a_load_in_the_background_is_skipped_while_one_runs() {
        let loading: LoadLocks = Arc::default();
        let id = Uuid::new_v4();
        let first = Loading::try_of(&loading, id).expect("no one is loading");
        assert!(Loading::try_of(&loading, id).is_none());
        // A failed try leaves the holder's entry alone.
        assert_eq!(loading.lock().unwrap().len(), 1);
        drop(first);
        assert!(loading.lock().unwrap().is_empty());
        assert!(Loading::try_of(&loading, id).is_some());
    }

    #[tokio::test]
    async fn a_download_that_stops_waiting_leaves_no_entry_for_long() {
        let loading: LoadLocks = Arc::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = Loading::of(&loading, a).await;
        let waiter = tokio::spawn({
            let loading = Arc::clone(&loading);
            async move { drop(Loading::of(&loading, a).await) }
        });
        tokio::task::yield_now().await;
        // The first sees a waiter and leaves the entry; the waiter then goes away.
        drop(first);
        waiter.abort();
        assert!(waiter.await.is_err(), "the waiter ran to the end");
        assert_eq!(loading.lock().unwrap().len(), 1);
        // The next load (of any package) drops the stale entry.
        let other = Loading::try_of(&loading, b).unwrap();
        assert_eq!(loading.lock().unwrap().len(), 1);
        drop(other);
        assert!(loading.lock().unwrap().is_empty());
    }
}
