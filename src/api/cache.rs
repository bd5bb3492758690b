//! The answers to status polls as HTTP responses, from the cache kept beside the database's
//! generation ([`crate::db::views`]).

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use crate::db::views::{Key, Kind};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// Answer `key` from the cache, or compute it (`compute`'s future, made only then), store it
/// and answer it, as JSON.
pub async fn json<T, C, F>(state: &AppState, key: Key, compute: C) -> Result<Response>
where
    T: Serialize,
    C: FnOnce() -> F,
    F: Future<Output = Result<T>>,
{
    let (body, kept) = state
        .db
        .view(key, || async {
            let view = compute().await?;
            Ok(Bytes::from(
                serde_json::to_vec(&view).map_err(AppError::internal)?,
            ))
        })
        .await?;
    state.metrics.poll_answered(kept);
    Ok(answer(body))
}

fn answer(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
