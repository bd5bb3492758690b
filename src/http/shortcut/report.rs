//! Agents' reports before the router: `PUT {base}/sources/{id}/driverState` with the agent's
//! bearer token, as migrate-agent sends it after each check.

use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use axum::response::Response;
use uuid::Uuid;

use super::{Route, captures};
use crate::api;
use crate::state::AppState;

/// An agent's report of its machine's driver state, its source's id parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub source: Uuid,
}

impl Report {
    /// The report a `PUT` of `rest` (the path, its base cut off) is, when it carries one
    /// `Authorization`, a bearer token. Other credentials go to the router: an operator's sign-in
    /// may belong to the connection (NTLM), which only the router's routes see.
    pub fn parse_under(rest: &str, headers: &HeaderMap) -> Option<Self> {
        let [id] = captures(Route::Report.segments(), rest)?;
        let source = id.parse().ok()?;
        let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(credentials), None) = (authorization.next(), authorization.next()) else {
            return None;
        };
        let scheme = credentials.as_bytes().split(|b| *b == b' ').next()?;
        scheme
            .eq_ignore_ascii_case(b"bearer")
            .then_some(Self { source })
    }

    /// The answer, from the router's handler with its own extractors.
    pub(super) async fn answer(self, state: &AppState, request: Request<Body>) -> Response {
        // Boxed: each of the futures around this one (the per-request work's) would otherwise
        // carry the handler's state, and each is moved whole when it starts.
        Box::pin(api::sources::report_without_router(
            state.clone(),
            self.source,
            request,
        ))
        .await
    }
}
