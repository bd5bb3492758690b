//! hyper's timer, coarse: the header-read timeout of every connection waits here.
//!
//! hyper starts a new sleep for each request it waits for on a connection, and drops it once the
//! head has arrived. With tokio's own timer each of them is an entry of the runtime's timer
//! wheel, and the first one registered after the wheel ran empty (every connection waiting for
//! its answer, as agents' reports do while their group commits) wakes the runtime's driver with
//! a system call. A timeout of seconds needs none of that precision: here a sleep is an entry of
//! one ordered map, and one task looks every [`TICK`] for those that are due.
//!
//! Invariant: a sleep is woken at most [`TICK`] (plus the scheduler's delay) after its deadline,
//! and never before it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the due sleeps are looked for: the most a timeout runs late.
const TICK: Duration = Duration::from_millis(100);

/// The sleeps waiting, by deadline (and a number, to tell apart equal deadlines).
type Key = (Instant, u64);

#[derive(Default)]
struct Sleepers {
    waiting: Mutex<BTreeMap<Key, Waker>>,
    numbered: AtomicU64,
}

impl Sleepers {
    fn waiting(&self) -> MutexGuard<'_, BTreeMap<Key, Waker>> {
        // The map is whole after any panic (a panicking waker is called outside the lock).
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The timer to give hyper (`http1().timer(..)`). Made inside the runtime: it starts the task
/// that wakes the sleeps, which ends when the timer and all its sleeps are gone.
#[derive(Clone)]
pub struct CoarseTimer(Arc<Sleepers>);

impl CoarseTimer {
    pub fn new() -> Self {
        let sleepers = Arc::new(Sleepers::default());
        tokio::spawn(wake_due(Arc::downgrade(&sleepers)));
        Self(sleepers)
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseSleep {
            deadline,
            key: None,
            sleepers: Arc::clone(&self.0),
        })
    }
}

/// Every [`TICK`], wake the sleeps whose deadline has passed (taking them out of the map).
async fn wake_due(sleepers: Weak<Sleepers>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(sleepers) = sleepers.upgrade() else {
            return;
        };
        let due = {
            let mut waiting = sleepers.waiting();
            let later = waiting.split_off(&(Instant::now(), u64::MAX));
            std::mem::replace(&mut *waiting, later)
        };
        due.into_values().for_each(Waker::wake);
    }
}

/// One sleep: in the map (under `key`) from its first poll until it is due or dropped.
struct CoarseSleep {
    deadline: Instant,
    key: Option<Key>,
    sleepers: Arc<Sleepers>,
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // No clock read here (hyper polls each request's sleep): the sweep alone decides that a
        // deadline has passed, and takes the sleep out of the map when it has. So a sleep whose
        // deadline had passed already also ends at the next sweep.
        let this = self.get_mut();
        let mut waiting = this.sleepers.waiting();
        match this.key.map(|key| waiting.get_mut(&key)) {
            Some(Some(waker)) => waker.clone_from(cx.waker()),
            Some(None) => {
                this.key = None;
                return Poll::Ready(());
            }
            None => {
                let key = (
                    this.deadline,
                    this.sleepers.numbered.fetch_add(1, Ordering::Relaxed),
                );
                waiting.insert(key, cx.waker().clone());
                this.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl CoarseSleep {
    /// Out of the map (if still there).
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            self.sleepers.waiting().remove(&key);
        }
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.leave();
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    // Real time: hyper's deadlines are `std::time::Instant`s, which tokio's paused clock does
    // not move.
    #[tokio::test]
    async fn a_sleep_ends_after_its_deadline_within_a_tick() {
        let timer = CoarseTimer::new();
        let started = Instant::now();
        timer.sleep(Duration::from_millis(250)).await;
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(250), "{slept:?}");
        // A tick late at most, and the scheduler's delay on a busy test machine.
        assert!(slept < Duration::from_millis(250) + TICK * 5, "{slept:?}");
    }

    #[tokio::test]
    async fn a_dropped_sleep_leaves_the_map() {
        let timer = CoarseTimer::new();
        let mut sleep = timer.sleep(Duration::from_secs(30));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert!(
            sleep.as_mut().poll(&mut cx).is_pending(),
            "polled again: still one entry"
        );
        assert_eq!(timer.0.waiting().len(), 1);
        drop(sleep);
        assert!(timer.0.waiting().is_empty());
    }

    #[tokio::test]
    async fn sleeps_end_in_the_order_of_their_deadlines() {
        let timer = CoarseTimer::new();
        let (sender, mut ended) = tokio::sync::mpsc::unbounded_channel();
        for ms in [450u64, 150, 300] {
            let sleep = timer.sleep(Duration::from_millis(ms));
            let sender = sender.clone();
            tokio::spawn(async move {
                sleep.await;
                let _ = sender.send(ms);
            });
        }
        drop(sender);
        let mut order = Vec::new();
        while let Some(ms) = ended.recv().await {
            order.push(ms);
        }
        assert_eq!(order, [150, 300, 450]);
    }
}
