//! The emulator's control plane at `/_emu` (SPEC 4), kept apart from the emulated API: health and
//! readiness, information, reset, run-time settings, fault injection and the request journal.
//!
//! Everything but health and ready needs an administrator, and with `--control-plane
//! loopback-only` a caller on this machine.

pub mod faults;
pub mod journal;
pub mod reset;
pub mod seed;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::api::extract::{Json, Query};
use crate::api::openapi::{BadRequest, EmuHealth, EmuInfo, Forbidden, JournalPage, Unauthorized};
use crate::auth::{Admin, Caller};
use crate::config::{ControlPlane, ReplicationSpeed};
use crate::error::{AppError, Result};
use crate::state::{AppState, Settings, Transition};

crate::api::route_table! {
    pub const ROUTES;
    fn add_routes;
    "/health" => get(health),
    "/ready" => get(ready),
    "/info" => get(info),
    "/state/reset" => post(reset::reset),
    "/settings" => get(get_settings).put(put_settings),
    "/faults" => get(faults::list).post(faults::add).delete(faults::clear),
    "/faults/{id}" => delete(faults::remove),
    "/requests" => get(requests),
    "/requests/unimplemented" => get(unimplemented),
}

/// The control plane's routes, under `/_emu`.
pub fn routes() -> Router<AppState> {
    add_routes(Router::new(), "/_emu")
}

/// Live: the process answers. No credentials needed.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "emulator",
    responses((status = 200, description = "Alive", body = EmuHealth, example = json!({"status": "ok"}))),
)]
pub async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready: migrations ran and the driver packages are indexed. No credentials needed.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "getReady",
    tag = "emulator",
    responses(
        (status = 200, description = "Ready", body = EmuHealth, example = json!({"status": "ready"})),
        (status = 503, description = "Still starting", body = EmuHealth),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting", "message": "migrating the database and indexing driver packages"})),
        )
            .into_response()
    }
}

/// An administrator allowed to use the control plane from where the request came.
pub struct ControlPlaneAdmin(pub Caller);

impl FromRequestParts<AppState> for ControlPlaneAdmin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if state.config.control_plane == ControlPlane::LoopbackOnly {
            // Without connection info (an in-process test) the caller is this process.
            let remote = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|c| c.0);
            if let Some(addr) = remote.filter(|a| !a.ip().is_loopback()) {
                return Err(AppError::Forbidden(format!(
                    "the control plane answers only on this machine (--control-plane loopback-only), not to {}",
                    addr.ip()
                )));
            }
        }
        let Admin(caller) = Admin::from_request_parts(parts, state).await?;
        Ok(Self(caller))
    }
}

/// The emulator: versions, database, uptime, its configuration (secrets redacted) and settings.
#[utoipa::path(
    get,
    path = "/info",
    operation_id = "getInfo",
    tag = "emulator",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "About the emulator", body = EmuInfo),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn info(State(state): State<AppState>, _: ControlPlaneAdmin) -> Result<Response> {
    let schema_version = state.db.schema_version().await?;
    let c = &state.config;
    let redact = |set: bool| if set { Some("***") } else { None };
    Ok(axum::Json(json!({
        "product": "PlateSpin Migrate Server (emulated)",
        "version": env!("CARGO_PKG_VERSION"),
        "emulatedApiVersion": "2019.8",
        "apiBases": [crate::api::BASE, crate::api::BASE_ALIAS],
        "database": {"url": c.database_url(), "schemaVersion": schema_version},
        "uptimeSeconds": state.started_at.elapsed().as_secs(),
        "ready": state.is_ready(),
        "config": {
            "listen": c.listen.to_string(),
            "dataDir": c.data_dir.display().to_string(),
            "driverPackages": c.driver_packages.display().to_string(),
            "maxUploadMb": c.max_upload_mb,
            "packageCacheMb": c.package_cache_mb,
            "adminPassword": "***",
            "operatorPassword": redact(c.operator_password.is_some()),
            "logFormat": format!("{:?}", c.log_format).to_lowercase(),
            "journalSize": c.journal_size,
            "controlPlane": c.control_plane,
            "seedFile": c.seed_file.as_ref().map(|p| p.display().to_string()),
            "headerTimeoutSecs": c.header_timeout_secs,
            "bodyTimeoutSecs": c.body_timeout_secs,
            "bodyMinRate": c.body_min_rate,
            "maxConnections": c.max_connections,
            "tls": if c.tls_self_signed { Some("self-signed") } else if c.tls_cert.is_some() { Some("certificate") } else { None },
        },
        "settings": state.settings(),
    }))
    .into_response())
}

/// The settings that can change while the emulator runs.
#[utoipa::path(
    get,
    path = "/settings",
    operation_id = "getSettings",
    tag = "emulator",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "The settings", body = Settings),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn get_settings(
    State(state): State<AppState>,
    _: ControlPlaneAdmin,
) -> axum::Json<Settings> {
    axum::Json(state.settings())
}

/// A change of settings: any field left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsChange {
    replication_speed: Option<ReplicationSpeed>,
    transition: Option<Transition>,
}

/// Change the replication speed or how operations advance
///
/// `transition` in the manner of moto's state transitions: `{"mode": "steps"}` (step by step at
/// the replication speed), `{"mode": "afterSeconds", "seconds": 5}` (the whole operation takes
/// that long), or `{"mode": "afterPolls", "polls": 3}` (it completes on its third
/// `GET operations/{id}`).
#[utoipa::path(
    put,
    path = "/settings",
    operation_id = "changeSettings",
    tag = "emulator",
    security(("basicAuth" = [])),
    request_body(content = SettingsChange, example = json!({"replicationSpeed": "instant", "transition": {"mode": "afterPolls", "polls": 3}})),
    responses(
        (status = 200, description = "The new settings", body = Settings),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn put_settings(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
    Json(change): Json<SettingsChange>,
) -> Result<axum::Json<Settings>> {
    match change.transition {
        Some(Transition::AfterSeconds { seconds }) if !(0.0..=86_400.0).contains(&seconds) => {
            return Err(AppError::bad_request(
                "InvalidSettings",
                "transition.seconds must be between 0 and 86400",
            ));
        }
        // The range the OpenAPI document gives (a 32-bit signed integer, as clients read it).
        Some(Transition::AfterPolls { polls }) if polls == 0 || polls > i32::MAX as u32 => {
            return Err(AppError::bad_request(
                "InvalidSettings",
                "transition.polls must be between 1 and 2147483647",
            ));
        }
        _ => {}
    }
    let settings = state.update_settings(|s| {
        if let Some(speed) = change.replication_speed {
            s.replication_speed = speed;
        }
        if let Some(t) = change.transition {
            s.transition = t;
        }
    });
    tracing::info!(by = %caller.user, ?settings, "settings changed");
    Ok(axum::Json(settings))
}

/// The request journal, newest first: the last requests the emulator received (bounded by
/// `--journal-size`).
#[utoipa::path(
    get,
    path = "/requests",
    operation_id = "listRequests",
    tag = "emulator",
    security(("basicAuth" = [])),
    params(journal::Filter),
    responses(
        (status = 200, description = "The matching requests", body = JournalPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn requests(
    State(state): State<AppState>,
    _: ControlPlaneAdmin,
    Query(filter): Query<journal::Filter>,
) -> Response {
    journal_body(&state, &filter, false)
}

/// The requests to API paths the emulator does not implement, newest first.
#[utoipa::path(
    get,
    path = "/requests/unimplemented",
    operation_id = "listUnimplementedRequests",
    tag = "emulator",
    security(("basicAuth" = [])),
    params(journal::Filter),
    responses(
        (status = 200, description = "The matching requests", body = JournalPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn unimplemented(
    State(state): State<AppState>,
    _: ControlPlaneAdmin,
    Query(filter): Query<journal::Filter>,
) -> Response {
    journal_body(&state, &filter, true)
}

fn journal_body(state: &AppState, filter: &journal::Filter, unimplemented_only: bool) -> Response {
    // The range the OpenAPI document gives: an HTTP status, which no answer is outside of.
    if let Some(status) = filter.status
        && !(100..=599).contains(&status)
    {
        return AppError::bad_request(
            "InvalidQuery",
            format!("status must be an HTTP status between 100 and 599, not {status}"),
        )
        .into_response();
    }
    let (entries, kept) = state.journal.list(filter, unimplemented_only);
    axum::Json(json!({
        "requests": entries,
        "kept": kept,
        "capacity": state.journal.capacity(),
    }))
    .into_response()
}
