//! The PlateSpin Migrate Server emulator: the library behind `psserver`.
//!
//! Layers, from the inside out: `domain` (pure rules, shared with the agent from `migrate_core`),
//! `db` (all SQL), `drivers` (the package store), `api` (JSON handlers) and `emu` (control plane), put together by [`app`] and run by
//! [`server::run`].

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod drivers;
pub mod emu;
pub mod error;
pub mod metrics;
pub mod replication;
pub mod server;
pub mod state;
pub mod tls;
pub mod web;

pub use config::Config;
/// The product's rules, shared with `migrate-agent`.
pub use migrate_core::domain;
pub use state::AppState;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use tower::Service;

use crate::error::AppError;

/// The whole HTTP surface. `main` serves it; tests call it with `oneshot`.
pub fn app(state: AppState) -> App {
    let router = api::routes()
        .merge(emu::routes())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(web::routes())
        .fallback(not_found)
        .layer(PerRequestLayer(state.clone()))
        .with_state(state.clone());
    App {
        router,
        downloads: Arc::new(Downloads::new(state)),
        remote: None,
    }
}

/// The HTTP surface: axum's router, with the downloads of a package answered before it
/// (`GET {base}/driverPackages/{id}/content`, the agent's, and `.../{platform}/{version}/content`).
///
/// Why: a download is what a fleet of agents asks for most, and for a small package a fifth of
/// the router's instructions went to routing itself (the lookup, each URL parameter decoded and
/// allocated, the matched path, the route's clone and its boxed futures). Only a path whose
/// segments are plain is taken ([`api::DownloadPath`]); it gets the same per-request work as
/// every route ([`per_request`]: request id, span, journal, metrics under the route's template,
/// readiness, faults) and the same handler code. Every other request, a `HEAD` of the same
/// path included, goes to the router. `tests/fast_download.rs` checks that both answer alike.
#[derive(Clone)]
pub struct App {
    router: Router,
    downloads: Arc<Downloads>,
    /// Where the connection comes from, when served ([`App::connected`]).
    remote: Option<std::net::SocketAddr>,
}

/// What [`App`] needs to answer a download itself.
struct Downloads {
    state: AppState,
    /// By base ([`api::BASE`], then [`api::BASE_ALIAS`]) and route ([`api::DownloadPath::route`]):
    /// the route's template, as the router names it in the metrics, and its metrics series.
    at: [[(Arc<str>, metrics::RouteSeries); 2]; 2],
}

impl Downloads {
    fn new(state: AppState) -> Self {
        let at = |base: &str| {
            api::DownloadPath::ROUTES.map(|route| {
                let template: Arc<str> = Arc::from(format!("{base}{route}"));
                (template, metrics::RouteSeries::default())
            })
        };
        Self {
            state,
            at: [at(api::BASE), at(api::BASE_ALIAS)],
        }
    }
}

impl App {
    /// The app for one connection from `remote`: the router's routes see the address as
    /// `ConnectInfo<SocketAddr>` (the control plane's loopback check reads it). The server makes
    /// one per connection; without one, as in tests through `oneshot`, a request is taken as
    /// coming from this process. Only the routes get it: a download reads no address, and
    /// the insert (the extensions' first, so an allocation) was a fiftieth of its cost.
    pub fn connected(&self, remote: std::net::SocketAddr) -> Self {
        Self {
            remote: Some(remote),
            ..self.clone()
        }
    }

    /// The router alone, without the download taken before it: for tests that compare the two.
    #[doc(hidden)]
    pub fn router_only(&self) -> Router {
        self.router.clone()
    }
}

type Routed = axum::routing::future::RouteFuture<std::convert::Infallible>;
type Answered = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
>;

impl<B> Service<axum::http::Request<B>> for App
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<Answered, Routed>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Both sides are always ready (axum's router is).
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        use futures_util::future::Either;
        let download = (request.method() == axum::http::Method::GET)
            .then(|| api::DownloadPath::find(request.uri().path()))
            .flatten();
        let Some(download) = download else {
            let mut request = request;
            if let Some(remote) = self.remote {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
            }
            return Either::Right(self.router.call(request));
        };
        let downloads = Arc::clone(&self.downloads);
        let request = request.map(axum::body::Body::new);
        Either::Left(Box::pin(async move {
            let (template, series) = &downloads.at[download.base][download.route()];
            let state = &downloads.state;
            let response = per_request(
                state,
                request,
                Some(template),
                series,
                |request| async move {
                    let response = download.answer(state, request).await;
                    content_length_of(response)
                },
            )
            .await;
            // And on what the fault rules answered instead, as the router's outer route does.
            Ok(content_length_of(response))
        }))
    }
}

/// A `Content-Length` from the body's exact size when the answer has none, as axum's router
/// sets it on what its routes answer (hyper would send the same, but an answer read in process,
/// as the tests do, shows the header only if it is there).
fn content_length_of(mut response: Response) -> Response {
    use axum::body::HttpBody;
    let length = axum::http::header::CONTENT_LENGTH;
    if !response.headers().contains_key(&length)
        && let Some(size) = response.body().size_hint().exact()
    {
        response.headers_mut().insert(length, size.into());
    }
    response
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if api::is_api_path(uri.path()) {
        return api::unknown_api_path(uri).await;
    }
    AppError::NotFound(format!("nothing at {}", api::extract::truncate(uri.path()))).into_response()
}

/// Every request's bookkeeping, as one middleware around each route ([`PerRequestLayer`]; each
/// layer costs a clone of the route and a boxed future per request, so one does the work of
/// nine). In order: the request id and the request's span, the header-size limit, the journal
/// and the metrics, the readiness gate, and fault injection innermost, so that an injected fault
/// is journalled and counted like any answer; last, the id and the server's version on the
/// answer. Request bodies get their idle timeout here too.
///
/// `template` names the route in the metrics when the router did not match it (see [`App`]);
/// `next` answers the request.
async fn per_request<F, Fut>(
    state: &AppState,
    mut request: Request,
    template: Option<&Arc<str>>,
    series: &metrics::RouteSeries,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    use tracing::Instrument;
    let request_id = server::request_id(&mut request);
    let span = server::request_span(&request, &request_id);
    let mut response = answer(state, request, template, series, &request_id, next)
        .instrument(span)
        .await;
    server::stamp(&mut response, request_id);
    response
}

/// [`per_request`] inside the request's span.
async fn answer<F, Fut>(
    state: &AppState,
    request: Request,
    template: Option<&Arc<str>>,
    series: &metrics::RouteSeries,
    request_id: &axum::http::HeaderValue,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    // A body that stops arriving fails its read after `--body-timeout-secs` (the handler
    // answers 408): a stalled client cannot hold a request, and a task, for ever.
    // Only a request with a body gets the wrapper (an allocation on every poll otherwise).
    let request = if axum::body::HttpBody::is_end_stream(request.body()) {
        request
    } else {
        let timeout = std::time::Duration::from_secs(state.config.body_timeout_secs);
        request
            .map(|body| axum::body::Body::new(tower_http::timeout::TimeoutBody::new(timeout, body)))
    };
    let journal = emu::journal::Pending::begin(&request, request_id);
    let counted = metrics::Pending::begin(&request, template);
    // For the log line of a failure (cheap clones: the parts are shared bytes).
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = if let Some(refused) = server::header_fields_too_large(&request) {
        refused
    } else if state.is_ready() || request.uri().path().starts_with("/_emu/") {
        emu::faults::inject(state, request, next).await
    } else {
        // Until the database is migrated and the packages indexed, only `/_emu` answers.
        AppError::Unavailable("the server is starting; see /_emu/ready".into()).into_response()
    };
    if response.status().is_server_error() {
        log_failure(&method, &uri, request_id, &response);
    }
    let took = counted.finish(&state.metrics, series, &response);
    tracing::debug!(
        status = response.status().as_u16(),
        latency_ms = took.as_secs_f64() * 1000.0,
        "finished processing request"
    );
    if let Some(journal) = journal {
        journal.finish(&state.journal, &response);
    }
    response
}

/// [`per_request`] around every route. A layer of its own rather than axum's `from_fn`, which
/// boxes the route once more for every request.
#[derive(Clone)]
struct PerRequestLayer(AppState);

impl tower::Layer<Route> for PerRequestLayer {
    type Service = PerRequest;

    fn layer(&self, route: Route) -> PerRequest {
        PerRequest {
            state: self.0.clone(),
            route,
            series: Arc::default(),
        }
    }
}

#[derive(Clone)]
struct PerRequest {
    state: AppState,
    route: Route,
    /// The metrics series of this route's requests, shared by the clones made for each request.
    series: Arc<metrics::RouteSeries>,
}

impl tower::Service<Request> for PerRequest {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        <Route as Service<Request>>::poll_ready(&mut self.route, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The route made ready goes with the request; a clone stays for the next one.
        let fresh = self.route.clone();
        let ready = std::mem::replace(&mut self.route, fresh);
        let (state, series) = (self.state.clone(), Arc::clone(&self.series));
        Box::pin(async move {
            let response = per_request(&state, request, None, &series, |request| async move {
                let mut route = ready;
                match <Route as Service<Request>>::call(&mut route, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            })
            .await;
            Ok(response)
        })
    }
}

/// One log line for an answer of 5xx, with the error behind it. A read's request span is off at
/// the default level (see `server::request_span`), so the line then says which request it was.
fn log_failure(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    request_id: &axum::http::HeaderValue,
    response: &Response,
) {
    // Only an error of ours: an injected fault has its own line ("fault injected").
    let Some(error::Failure { code, error }) = response.extensions().get::<error::Failure>() else {
        return;
    };
    let status = response.status().as_u16();
    if tracing::Span::current().is_disabled() {
        let request_id = request_id.to_str().unwrap_or("-");
        tracing::error!(%method, path = %uri.path(), request_id = %request_id, status, code, error = %error, "request failed");
    } else {
        tracing::error!(status, code, error = %error, "request failed");
    }
}
