//! The accept loop: each connection accepted, counted under `--max-connections`, taken through
//! its TLS handshake when the server speaks HTTPS, and served by hyper on a task of its own until
//! it closes or the server shuts down (then gracefully: the request in flight is answered, and
//! the connection closes after it).
//!
//! Our own rather than a serving crate's: on every request, a generic server adds its own
//! bookkeeping (an extension inserted in each request, its shutdown signals polled on each wake
//! of the connection), and an agent's report is small enough for that to show (bench/RESULTS.md).
//!
//! Invariants:
//! - A connection holds its place under the cap from its accept (TLS handshake included) until
//!   its task ends; one beyond the cap is answered 503 and closed (`super::capped`).
//! - After shutdown no connection is accepted, every open one is told to finish the request in
//!   flight and close, and [`serve`] returns once all of them have.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::http::Request;
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower::util::Oneshot;

use super::capped::{Cap, refuse};
use super::coarse_timer::CoarseTimer;
use super::shortcut::{Answered, Passing};
use crate::App;

/// The longest a TLS handshake may take before its connection is closed.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// How long to wait after an accept fails for want of resources (file descriptors) before
/// accepting again, instead of spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What one server serves, and how.
pub struct Serving {
    /// The app; each connection gets its own (`App::connected`).
    pub app: App,
    /// HTTPS when set.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Connections open at once (`--max-connections`).
    pub max_connections: u64,
    /// The time to send a request head (`--header-timeout-secs`); also how long a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// The largest request head, in bytes.
    pub max_head: usize,
}

impl Serving {
    /// hyper's connection settings: HTTP/1.1 alone on a plain connection (telling HTTP/2
    /// apart reads the first bytes with no timeout), HTTP/2 too over TLS when the client asks
    /// for it in the handshake (ALPN).
    fn builder(&self, h2: bool) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The timer is coarse (`super::coarse_timer`): hyper starts it for every request head.
        builder
            .http1()
            .timer(CoarseTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(self.max_head);
        if h2 { builder } else { builder.http1_only() }
    }
}

/// A [`Serving`] with its connection settings made once.
struct Served {
    serving: Serving,
    builder: auto::Builder<TokioExecutor>,
}

/// Serve connections from `listener` until `shutdown`, then wait for the open ones to finish
/// (the caller bounds that wait). The listener is taken over here, before anything is spawned,
/// so that a listener the runtime cannot use fails the start rather than a server that seems
/// ready and accepts nothing.
pub fn serve(
    listener: std::net::TcpListener,
    serving: Serving,
    shutdown: CancellationToken,
) -> io::Result<impl Future<Output = ()> + Send + 'static> {
    let listener = TcpListener::from_std(listener)?;
    Ok(accept_loop(listener, serving, shutdown))
}

/// [`serve`]'s loop.
async fn accept_loop(listener: TcpListener, serving: Serving, shutdown: CancellationToken) {
    let builder = serving.builder(serving.tls.is_some());
    let serving = Arc::new(Served { serving, builder });
    let cap = Cap::new(serving.serving.max_connections);
    let connections = TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        // Small answers leave at once rather than wait for more to send with them.
        let _ = stream.set_nodelay(true);
        let place = cap.take();
        connections.spawn(connection(
            stream,
            remote,
            Arc::clone(&serving),
            place,
            shutdown.clone(),
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// An accept that failed: the client's own failure (it reset the connection before it was
/// accepted) is nothing to wait for; anything else (out of file descriptors) is logged, and the
/// loop pauses before it tries again.
async fn accept_failed(e: &io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; trying again shortly");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}

/// One connection, from its accept until it closes.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    served: Arc<Served>,
    place: super::capped::Place,
    shutdown: CancellationToken,
) {
    let Some(tls) = &served.serving.tls else {
        if place.over() {
            return refuse(stream).await;
        }
        return http(stream, remote, &served, shutdown).await;
    };
    // The handshake counts under the cap too, and a shutdown does not wait for it.
    let handshake = tokio::time::timeout(HANDSHAKE_TIME, tls.accept(stream));
    let stream = tokio::select! {
        biased;
        () = shutdown.cancelled() => return,
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return tracing::debug!(%remote, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
        },
    };
    if place.over() {
        return refuse(stream).await;
    }
    http(stream, remote, &served, shutdown).await;
}

/// Serve HTTP on `stream` until it closes, or until `shutdown` and the request in flight is
/// answered.
async fn http<S>(stream: S, remote: SocketAddr, served: &Served, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = ByReference(served.serving.app.connected(remote));
    let conn = served
        .builder
        .serve_connection(TokioIo::new(stream), service);
    let result = UntilShutdown::new(conn, shutdown).await;
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
}

type Connection<'b, S> = auto::Connection<'b, TokioIo<S>, ByReference, TokioExecutor>;

/// The app as hyper calls it, by reference: what the shortcut takes (an agent's report, a
/// download) is answered without a clone of the app, whose clone and drop on every request
/// (tower's `Service::call` takes `&mut self`) cost as much as a small part of a report. Any
/// other request is answered by a clone, as tower's adapter would.
struct ByReference(App);

impl hyper::service::Service<Request<Incoming>> for ByReference {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Answered, Oneshot<App, Request<Incoming>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        match self.0.answer_taken(request) {
            Passing::Answered(answered) => Either::Left(answered),
            Passing::On(request) => Either::Right(self.0.clone().oneshot(request)),
        }
    }
}

/// A connection served until it closes; on shutdown, told to finish the request in flight and
/// close.
///
/// The shutdown signal is polled only when it has woken the task, or when the task's waker is
/// not the one it was given: polling the signal (or asking the token) takes the token's lock,
/// and the connection is polled on every wake (twice for each agent's report). The signal holds
/// a waker of ours ([`SignalWake`]) that marks the wake as the signal's before it passes it on,
/// so a wake by the connection's own I/O costs an atomic read.
struct UntilShutdown<'b, S> {
    conn: Pin<Box<Connection<'b, S>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The waker the signal holds; `None` before the first poll and once the connection was
    /// told to close (then `registered` is false).
    signal: Option<Arc<SignalWake>>,
    registered: bool,
}

/// The task's waker, as the shutdown signal holds it: a wake through it says the signal fired.
struct SignalWake {
    fired: AtomicBool,
    task: Waker,
}

impl std::task::Wake for SignalWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl<'b, S> UntilShutdown<'b, S> {
    fn new(conn: Connection<'b, S>, token: CancellationToken) -> Self {
        Self {
            conn: Box::pin(conn),
            cancelled: Box::pin(token.cancelled_owned()),
            signal: None,
            registered: true,
        }
    }

    /// Poll the signal when it may have fired or holds a stale waker: true once it fired.
    fn shutdown_signalled(&mut self, task: &Waker) -> bool {
        let stale = self.signal.as_ref().is_none_or(|s| !s.task.will_wake(task));
        let fired = self
            .signal
            .as_ref()
            .is_some_and(|s| s.fired.load(Ordering::Acquire));
        if !stale && !fired {
            return false;
        }
        let signal = Arc::new(SignalWake {
            fired: AtomicBool::new(false),
            task: task.clone(),
        });
        let waker = Waker::from(Arc::clone(&signal));
        self.signal = Some(signal);
        self.cancelled
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }
}

impl<S> Future for UntilShutdown<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.registered && this.shutdown_signalled(cx.waker()) {
            this.registered = false;
            this.signal = None;
            this.conn.as_mut().graceful_shutdown();
        }
        this.conn.as_mut().poll(cx)
    }
}
