//! The emulator's control plane at `/_emu` (SPEC 4), kept apart from the emulated API: health and
//! readiness, information, reset, run-time settings and the request journal.
//!
//! Everything but health and ready needs an administrator, and with `--control-plane
//! loopback-only` a caller on this machine.

pub mod journal;
pub mod reset;
pub mod seed;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::api::extract::{Json, Query};
use crate::auth::{Admin, Caller};
use crate::config::{ControlPlane, ReplicationSpeed};
use crate::error::{AppError, Result};
use crate::state::{AppState, Settings, Transition};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/info", get(info))
        .route("/state/reset", post(reset::reset))
        .route("/settings", get(get_settings).put(put_settings))
        .route("/requests", get(requests))
        .route("/requests/unimplemented", get(unimplemented))
}

/// Live: the process answers.
async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready: migrations ran and the driver packages are indexed.
async fn ready(State(state): State<AppState>) -> Response {
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

async fn info(State(state): State<AppState>, _: ControlPlaneAdmin) -> Result<Response> {
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(&state.db.read)
            .await?;
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
            "adminPassword": "***",
            "operatorPassword": redact(c.operator_password.is_some()),
            "logFormat": format!("{:?}", c.log_format).to_lowercase(),
            "journalSize": c.journal_size,
            "controlPlane": c.control_plane,
            "seedFile": c.seed_file.as_ref().map(|p| p.display().to_string()),
        },
        "settings": state.settings(),
    }))
    .into_response())
}

async fn get_settings(State(state): State<AppState>, _: ControlPlaneAdmin) -> axum::Json<Settings> {
    axum::Json(state.settings())
}

/// A change of settings: any field left out stays as it is.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsChange {
    replication_speed: Option<ReplicationSpeed>,
    transition: Option<Transition>,
}

async fn put_settings(
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
        Some(Transition::AfterPolls { polls: 0 }) => {
            return Err(AppError::bad_request(
                "InvalidSettings",
                "transition.polls must be at least 1",
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

async fn requests(
    State(state): State<AppState>,
    _: ControlPlaneAdmin,
    Query(filter): Query<journal::Filter>,
) -> Response {
    journal_body(&state, &filter, false)
}

async fn unimplemented(
    State(state): State<AppState>,
    _: ControlPlaneAdmin,
    Query(filter): Query<journal::Filter>,
) -> Response {
    journal_body(&state, &filter, true)
}

fn journal_body(state: &AppState, filter: &journal::Filter, unimplemented_only: bool) -> Response {
    let (entries, kept) = state.journal.list(filter, unimplemented_only);
    axum::Json(json!({
        "requests": entries,
        "kept": kept,
        "capacity": state.journal.capacity(),
    }))
    .into_response()
}
