//! Extractors whose rejections are `AppError`s, so a malformed request gets the same JSON error
//! body as every other failure.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, AppError> {
        // Scripts often leave out the content type; take a body without one as JSON. A body that
        // says it is something else is still refused (415).
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            req.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
        }
        // A declared length beyond the limit is refused before a byte of the body is read, so the
        // client gets its 413 instead of a connection closed while it still sends.
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > JSON_LIMIT) {
            return Err(too_large());
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// axum's default body limit, which the JSON routes keep.
const JSON_LIMIT: u64 = 2 * 1024 * 1024;

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!(
        "the request body is too large for a JSON request (at most {} MiB)",
        JSON_LIMIT / (1024 * 1024)
    ))
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    if crate::error::body_timed_out(&rejection) {
        return crate::error::body_timeout();
    }
    let detail = rejection.body_text();
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        _ => match rejection {
            JsonRejection::JsonSyntaxError(_) => AppError::bad_request(
                "MalformedJson",
                format!("the body is not valid JSON: {detail}"),
            ),
            _ => AppError::bad_request("InvalidBody", detail),
        },
    }
}

pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> AppError {
    AppError::bad_request("InvalidPath", rejection.body_text())
}

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> AppError {
    AppError::bad_request("InvalidQuery", rejection.body_text())
}

/// Parse a path or query segment that must be an id.
pub fn parse_id(text: &str, what: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        AppError::bad_request(
            "InvalidId",
            format!("{what} {:?} is not a valid id (a UUID)", truncate(text)),
        )
    })
}

/// Keep echoed client input short.
pub fn truncate(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}
