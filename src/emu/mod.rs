//! The emulator's control plane at `/_emu` (SPEC 4), kept apart from the emulated API.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
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
