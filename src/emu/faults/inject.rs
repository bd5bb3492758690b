//! The middleware that applies the rules: an error answer, a delay, a dropped connection or a
//! body cut short.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::{Action, Fault};
use crate::state::AppState;

/// How long a cut-short body waits before failing, so that hyper flushes the bytes it was given
/// (it drops its write buffer when a body fails).
const FLUSH_GRACE: Duration = Duration::from_millis(200);
/// The status the journal and the metrics record for a dropped connection: nginx's "444 No
/// Response", which closes the connection without answering. The client never sees it.
pub const DROPPED: u16 = 444;
/// Names the rule behind an injected answer.
pub const FAULT_HEADER: &str = "x-psserver-fault";

/// Apply the first fault rule that fires, on everything but the control plane (the innermost
/// step of `crate::per_request`).
pub async fn inject<F, Fut>(state: &AppState, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let path = request.uri().path();
    if path == "/_emu" || path.starts_with("/_emu/") || path == "/metrics" {
        return next(request).await;
    }
    let Some(fault) = state.faults.decide(request.method(), path) else {
        return next(request).await;
    };
    // Boxed: every request's future would otherwise be as large as this path's (its sleep),
    // and be copied as such.
    Box::pin(with_fault(state, request, next, fault)).await
}

/// [`inject`] once `fault` fired.
async fn with_fault<F, Fut>(state: &AppState, request: Request, next: F, fault: Fault) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    tracing::info!(rule = %fault.rule, action = fault.action.as_str(), "fault injected");
    state.metrics.fault_injected(fault.action);
    if !fault.delay.is_zero() {
        // A shutdown does not wait for an injected delay.
        tokio::select! {
            () = tokio::time::sleep(fault.delay) => {}
            () = state.shutdown.cancelled() => {}
        }
    }
    let mut response = match fault.action {
        Action::Delay => next(request).await,
        Action::Error => error_response(&fault),
        Action::Drop => return dropped(),
        Action::Truncate => {
            let response = next(request).await;
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, cut_short(body, fault.truncate_after))
        }
    };
    if let Ok(v) = HeaderValue::from_str(&fault.rule.to_string()) {
        response.headers_mut().insert(FAULT_HEADER, v);
    }
    response
}

fn error_response(fault: &Fault) -> Response {
    let message = fault.message.clone().unwrap_or_else(|| {
        format!(
            "fault injected by the emulator (rule {}); see /_emu/faults",
            fault.rule
        )
    });
    (
        fault.status,
        axum::Json(json!({"error": {"code": fault.error_code, "message": message}})),
    )
        .into_response()
}

/// A response whose body fails before its first byte. hyper polls the body before it flushes
/// the status line, so the failure aborts the connection with nothing written: the client sees
/// the connection closed without a response.
fn dropped() -> Response {
    let body = Body::from_stream(futures_util::stream::once(async {
        Err::<Bytes, _>(io::Error::other("connection dropped by a fault rule"))
    }));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(DROPPED).unwrap_or(StatusCode::BAD_GATEWAY);
    response
}

/// The body, ended with an error after `limit` bytes (unless it is no longer than that). The
/// response keeps its `Content-Length`, so the client sees fewer bytes than promised.
fn cut_short(body: Body, limit: u64) -> Body {
    #[derive(PartialEq)]
    enum Next {
        Stream,
        Fail,
        Done,
    }
    struct Cut {
        inner: axum::body::BodyDataStream,
        left: u64,
        next: Next,
    }
    async fn fail(mut cut: Cut) -> Option<(io::Result<Bytes>, Cut)> {
        cut.next = Next::Done;
        // Let hyper flush what it has before the failure makes it drop its buffer.
        tokio::time::sleep(FLUSH_GRACE).await;
        Some((Err(io::Error::other("body cut short by a fault rule")), cut))
    }
    let start = Cut {
        inner: body.into_data_stream(),
        left: limit,
        next: Next::Stream,
    };
    let stream = futures_util::stream::unfold(start, |mut cut| async move {
        match cut.next {
            Next::Done => return None,
            Next::Fail => return fail(cut).await,
            Next::Stream => {}
        }
        // None: the body ended within the limit and passes whole.
        match cut.inner.next().await? {
            Err(e) => {
                cut.next = Next::Done;
                Some((Err(io::Error::other(e)), cut))
            }
            Ok(chunk) if chunk.is_empty() => Some((Ok(chunk), cut)),
            Ok(_) if cut.left == 0 => fail(cut).await,
            Ok(mut chunk) => {
                let len = chunk.len() as u64;
                if len > cut.left {
                    chunk.truncate(usize::try_from(cut.left).unwrap_or(usize::MAX));
                    cut.left = 0;
                    cut.next = Next::Fail;
                } else {
                    cut.left -= len;
                }
                Some((Ok(chunk), cut))
            }
        }
    });
    Body::from_stream(stream)
}
