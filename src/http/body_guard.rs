//! How long a request body may take (issue 20 D1): a body may pause at most
//! `--body-timeout-secs` between two pieces, and it must keep up an average of `--body-min-rate`
//! bytes a second once that same time has passed since it started.
//!
//! Why a minimum rate rather than a total deadline: a total deadline short enough to stop a
//! trickle (one byte every 40 s holds a connection for as long as the deadline) would cut a large
//! upload over a slow link, and one long enough for a 512 MiB package is no bound at all. A rate
//! bounds a body's time by its size: a JSON body (2 MiB at most) is over within a few minutes
//! however it is sent, an upload of N bytes gets `grace + N / rate` seconds, and a client that
//! wants to hold a connection must keep sending at the rate for all of that time.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a body read was given up (in the error chain of the read that failed, for
/// [`crate::error::body_stalled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyStalled {
    /// No piece came for `--body-timeout-secs`.
    #[error("the request body stopped arriving")]
    Paused,
    /// The body came slower than `--body-min-rate` on average.
    #[error("the request body arrived too slowly")]
    TooSlow,
}

/// The limits of [`GuardedBody`], from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The longest pause between two pieces, and the time before the rate counts.
    pub pause: Duration,
    /// Bytes a second a body must average after `pause`; 0: no rate is asked.
    pub min_rate: u64,
}

impl BodyLimits {
    /// The latest instant by which the next piece must come, for a body that `started` and has
    /// `received` bytes so far, the last of them at `now`. Invariant: the rate deadline
    /// `started + pause + received / min_rate` only moves forward as bytes arrive, so a body
    /// that keeps the rate is never cut, and one that falls behind is cut at the instant it
    /// does (not at its next piece).
    fn deadline(&self, started: Instant, received: u64, now: Instant) -> (Instant, BodyStalled) {
        let pause = now + self.pause;
        if self.min_rate == 0 {
            return (pause, BodyStalled::Paused);
        }
        // Whole microseconds: exact enough, and no overflow below 2^64 / 10^6 bytes.
        let earned = Duration::from_micros(received.saturating_mul(1_000_000) / self.min_rate);
        let rate = started + self.pause + earned;
        if rate < pause {
            (rate, BodyStalled::TooSlow)
        } else {
            (pause, BodyStalled::Paused)
        }
    }
}

/// A request body read under [`BodyLimits`]: past its deadline, its next read fails with
/// [`BodyStalled`] and the handler answers 408.
///
/// The clock starts at the first read that has to wait: a body that is there whenever it is
/// read (a small one, sent at once) never reads the clock nor touches the runtime's timer, and
/// what it received before that wait came within the same instant.
pub struct GuardedBody {
    inner: Body,
    limits: BodyLimits,
    received: u64,
    /// From the first wait on.
    clock: Option<Clock>,
}

struct Clock {
    started: Instant,
    /// When the next piece must have come, and what it means if it does not.
    deadline: Instant,
    why: BodyStalled,
    /// Fires at `deadline`, moved to it before each wait.
    sleep: Pin<Box<Sleep>>,
}

impl GuardedBody {
    pub fn new(inner: Body, limits: BodyLimits) -> Self {
        Self {
            inner,
            limits,
            received: 0,
            clock: None,
        }
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    if let Some(clock) = &mut this.clock {
                        let now = Instant::now();
                        let (deadline, why) =
                            this.limits.deadline(clock.started, this.received, now);
                        // Checked here too: a piece that comes after the rate deadline (the
                        // timer not yet polled) does not save a body that fell behind.
                        if why == BodyStalled::TooSlow && deadline <= now {
                            return Poll::Ready(Some(Err(axum::Error::new(BodyStalled::TooSlow))));
                        }
                        clock.deadline = deadline;
                        clock.why = why;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let (limits, received) = (this.limits, this.received);
                let clock = this.clock.get_or_insert_with(|| {
                    let now = Instant::now();
                    let (deadline, why) = limits.deadline(now, received, now);
                    Clock {
                        started: now,
                        deadline,
                        why,
                        sleep: Box::pin(tokio::time::sleep_until(deadline)),
                    }
                });
                if clock.sleep.deadline() != clock.deadline {
                    clock.sleep.as_mut().reset(clock.deadline);
                }
                ready!(clock.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(axum::Error::new(clock.why))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(pause: u64, min_rate: u64) -> BodyLimits {
        BodyLimits {
            pause: Duration::from_secs(pause),
            min_rate,
        }
    }

    #[test]
    fn without_a_rate_only_the_pause_counts() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(500);
        assert_eq!(
            limits(10, 0).deadline(t0, 1, later),
            (later + Duration::from_secs(10), BodyStalled::Paused)
        );
    }

    #[test]
    fn the_rate_deadline_grows_with_the_bytes_received() {
        let t0 = Instant::now();
        let l = limits(10, 1000);
        // At the start, the pause is the nearer deadline.
        assert_eq!(
            l.deadline(t0, 0, t0),
            (t0 + Duration::from_secs(10), BodyStalled::Paused)
        );
        // 5 s in with 100 bytes: the rate allows until 10 s + 0.1 s, nearer than 5 s + 10 s.
        let now = t0 + Duration::from_secs(5);
        assert_eq!(
            l.deadline(t0, 100, now),
            (t0 + Duration::from_millis(10_100), BodyStalled::TooSlow)
        );
        // Keeping the rate (20,000 bytes at 20 s) leaves the pause as the nearer deadline.
        let now = t0 + Duration::from_secs(20);
        assert_eq!(
            l.deadline(t0, 20_000, now),
            (now + Duration::from_secs(10), BodyStalled::Paused)
        );
    }

    #[test]
    fn a_huge_count_does_not_overflow() {
        let t0 = Instant::now();
        let (_, why) = limits(1, 1).deadline(t0, u64::MAX, t0);
        assert_eq!(why, BodyStalled::Paused);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_when_it_falls_behind_the_rate() {
        use futures_util::StreamExt;
        // One byte a second against a rate of 100 bytes a second after 2 s: cut at 2.01 s.
        let trickle = futures_util::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), n + 1))
        })
        .boxed();
        let body = GuardedBody::new(Body::from_stream(trickle), limits(2, 100));
        let started = Instant::now();
        let result = http_body_util::BodyExt::collect(body).await;
        let error = result.expect_err("the trickle is cut");
        let cause = std::error::Error::source(&error).expect("a cause");
        assert_eq!(
            cause.downcast_ref::<BodyStalled>(),
            Some(&BodyStalled::TooSlow)
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_rate_is_read_whole() {
        use futures_util::StreamExt;
        // 200 bytes a second for 30 s against a rate of 100: never cut.
        let steady = futures_util::stream::iter(0..30)
            .then(|_| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 200]))
            })
            .boxed();
        let body = GuardedBody::new(Body::from_stream(steady), limits(2, 100));
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .expect("read whole")
            .to_bytes();
        assert_eq!(bytes.len(), 6000);
    }
}
