//! Fault injection (`/_emu/faults`): rules that break the emulated API and pages on purpose, in
//! the manner of WireMock's faults and LocalStack's chaos API.
//!
//! A rule matches a request by method (or any) and a path pattern where `*` stands for any run
//! of characters, fires with a probability drawn from its own seeded generator (so a fixed seed
//! gives the same sequence of hits run after run), and then answers an error status, waits before
//! passing the request on, drops the connection without a response, or lets the response through
//! but cuts its body short. Rules are tried in the order they were added; the first that fires
//! wins. They can expire after some seconds or after some hits.
//!
//! Rules are configuration, not state: `POST /_emu/state/reset` leaves them in place. They never
//! apply to the control plane (`/_emu/*`) or to `/metrics`, so a client can always remove them.

mod inject;
mod rules;

pub use inject::{DROPPED, FAULT_HEADER, inject};
pub use rules::{Action, Fault, Faults, MAX_RULES, RuleSpec, RuleView, SplitMix64, glob_match};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::ControlPlaneAdmin;
use crate::api::extract::{Json, Path, parse_id};
use crate::api::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, Unauthorized, UnsupportedMediaType,
};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// The fault rules, in the order they are tried.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultList {
    faults: Vec<RuleView>,
    total_count: usize,
}

/// List the fault rules
#[utoipa::path(
    get,
    path = "/faults",
    operation_id = "listFaults",
    tag = "emulator",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "The rules, in the order they are tried", body = FaultList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn list(State(state): State<AppState>, _: ControlPlaneAdmin) -> axum::Json<FaultList> {
    let faults = state.faults.list();
    axum::Json(FaultList {
        total_count: faults.len(),
        faults,
    })
}

/// Add a fault rule
///
/// Rules apply to the API and the pages, never to `/_emu` or `/metrics`, and are kept by
/// `POST /_emu/state/reset`. Actions: `error` answers `status` with the standard error body,
/// `delay` waits `delayMs` and passes the request on, `drop` closes the connection without a
/// response, `truncate` passes it on but ends the body with an error after `truncateAfterBytes`.
#[utoipa::path(
    post,
    path = "/faults",
    operation_id = "addFault",
    tag = "emulator",
    security(("basicAuth" = [])),
    request_body(content = RuleSpec, example = json!({"method": "GET", "path": "/MigrateApi/2019.8/sources*", "probability": 0.3, "seed": 42, "status": 503, "expiresInSeconds": 60})),
    responses(
        (status = 201, description = "The rule, with its id (also in `Location`)", body = RuleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 415, response = UnsupportedMediaType),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
    Json(spec): Json<RuleSpec>,
) -> Result<Response> {
    let rule = state.faults.add(spec.validate()?)?;
    tracing::info!(by = %caller.user, rule = %rule.id, path = %rule.path, action = rule.action.as_str(), "fault rule added");
    let mut response = (StatusCode::CREATED, axum::Json(&rule)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/_emu/faults/{}", rule.id)) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}

/// Remove every fault rule
#[utoipa::path(
    delete,
    path = "/faults",
    operation_id = "clearFaults",
    tag = "emulator",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "How many rules were removed", body = FaultsCleared),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn clear(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
) -> axum::Json<FaultsCleared> {
    let removed = state.faults.clear();
    tracing::info!(by = %caller.user, removed, "fault rules cleared");
    axum::Json(FaultsCleared { removed })
}

/// What `DELETE /_emu/faults` did.
#[derive(Serialize, ToSchema)]
pub struct FaultsCleared {
    /// How many rules were removed.
    removed: usize,
}

/// Remove one fault rule
#[utoipa::path(
    delete,
    path = "/faults/{id}",
    operation_id = "removeFault",
    tag = "emulator",
    security(("basicAuth" = [])),
    params(("id" = Uuid, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "The rule removed, with its counts", body = RuleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
    Path(id): Path<String>,
) -> Result<axum::Json<RuleView>> {
    let id = parse_id(&id, "fault rule id")?;
    let rule = state
        .faults
        .remove(id)
        .ok_or_else(|| AppError::NotFound(format!("there is no fault rule {id}")))?;
    tracing::info!(by = %caller.user, rule = %id, "fault rule removed");
    Ok(axum::Json(rule))
}
