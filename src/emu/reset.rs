//! `POST /_emu/state/reset[?scope=sources|tasks|operations|journal]`: back to a clean state
//! (`crate::service::emulator::reset`), with the seed scenario loaded again.

use std::time::Instant;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ControlPlaneAdmin;
use crate::api::extract::{Query, truncate};
use crate::error::{AppError, Result};
use crate::service::emulator::{self, Scope};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResetQuery {
    /// What to clear: `sources` (with their tasks, transformations and operations), `tasks`,
    /// `operations` or `journal`; none for everything (also uploaded packages, events and target
    /// platforms).
    #[param(example = "sources", value_type = Option<Scope>, inline)]
    scope: Option<String>,
}

/// Back to a clean state
///
/// Clears everything, or one scope, in milliseconds, also while downloads and replications run
/// (running operations are cancelled; downloads finish). With `--seed-file`, its scenario is
/// loaded again.
#[utoipa::path(
    post,
    path = "/state/reset",
    operation_id = "resetState",
    tag = "emulator",
    security(("basicAuth" = [])),
    params(ResetQuery),
    responses(
        (status = 200, description = "Reset", body = crate::api::openapi::ResetReport),
        (status = 400, response = crate::api::openapi::BadRequest),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::Forbidden),
    ),
)]
pub async fn reset(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
    Query(q): Query<ResetQuery>,
) -> Result<axum::Json<Value>> {
    let text = q.scope.as_deref().unwrap_or("all");
    let scope: Scope = text.parse().map_err(|e: String| {
        AppError::bad_request(
            "InvalidScope",
            format!("unknown scope {:?}; {e}", truncate(text)),
        )
    })?;
    let started = Instant::now();
    emulator::reset(&state, scope).await?;
    let seeded = match &state.config.seed_file {
        Some(path) if scope.reseeds() => emulator::seed(&state, &super::seed::read(path)?).await?,
        _ => 0,
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(by = %caller.user, scope = scope.as_str(), seeded, ms, "state reset");
    Ok(axum::Json(
        json!({"scope": scope.as_str(), "seededSources": seeded, "durationMs": ms}),
    ))
}
