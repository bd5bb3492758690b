//! The work every request gets, whichever way it is answered: request id and span, the
//! header-size limit, the journal and the metrics, the readiness gate, fault injection, and the
//! `Content-Length` the router would set. [`PerRequestLayer`] puts it around each of the router's
//! routes; the download shortcut (`super::shortcut`) calls [`per_request`] itself.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use tower::Service;

use crate::error::{self, AppError};
use crate::state::AppState;
use crate::{emu, metrics, server};

use super::body_guard;

/// Every request's bookkeeping, around `next`, which answers the request. In order: the request
/// id and the request's span, the header-size limit, the journal and the metrics, the readiness
/// gate, and fault injection innermost, so that an injected fault is journalled and counted like
/// any answer; last, the id and the server's version on the answer. Request bodies get their idle
/// timeout here too.
///
/// `template` names the route in the metrics when the router did not match it (the shortcut's
/// downloads); `series` is that route's metrics series.
pub(super) async fn per_request<F, Fut>(
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
    // A body that stops arriving, or comes too slowly, fails its read (the handler answers
    // 408; see `body_guard`): a stalled or trickling client cannot hold a request, and a task,
    // for ever. Only a request with a body gets the wrapper (an allocation on every poll
    // otherwise).
    let request = if axum::body::HttpBody::is_end_stream(request.body()) {
        request
    } else {
        let limits = body_guard::BodyLimits {
            pause: std::time::Duration::from_secs(state.config.body_timeout_secs),
            min_rate: state.config.body_min_rate,
        };
        request.map(|body| axum::body::Body::new(body_guard::GuardedBody::new(body, limits)))
    };
    let journal = emu::journal::Pending::begin(&request, request_id);
    let counted = metrics::Pending::begin(&request, template);
    // For the log line of a failure (cheap clones: the parts are shared bytes).
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = if let Some(refused) = server::header_fields_too_large(&request) {
        refused
    } else if let Some(refused) = server::bad_framing(&request) {
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
        journal.finish(&state.journal, &response, took);
    }
    response
}

/// A `Content-Length` from the body's exact size when the answer has none, as axum's router
/// sets it on what its routes answer (hyper would send the same, but an answer read in process,
/// as the tests do, shows the header only if it is there).
pub(super) fn content_length_of(mut response: Response) -> Response {
    use axum::body::HttpBody;
    let length = axum::http::header::CONTENT_LENGTH;
    if !response.headers().contains_key(&length)
        && let Some(size) = response.body().size_hint().exact()
    {
        // An empty body's (a 204's: every agent report's) without formatting a number.
        let value = match size {
            0 => axum::http::HeaderValue::from_static("0"),
            size => size.into(),
        };
        response.headers_mut().insert(length, value);
    }
    response
}

/// [`per_request`] around every route: one layer doing all of the work, because each layer
/// costs a clone of the route and a boxed future per request. A layer of its own rather than
/// axum's `from_fn`, which boxes the route once more for every request.
#[derive(Clone)]
pub(super) struct PerRequestLayer(pub(super) AppState);

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
pub(super) struct PerRequest {
    state: AppState,
    route: Route,
    /// The metrics series of this route's requests, shared by the clones made for each request.
    series: Arc<metrics::RouteSeries>,
}

impl Service<Request> for PerRequest {
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
