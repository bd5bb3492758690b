//! One error type for every handler. Each variant has a status and a stable code; the JSON body is
//! `{"error": {"code": "...", "message": "..."}}` (SPEC 6). Server-side failures answer an opaque
//! message and are logged once, with their cause, inside the request's span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Every error's body, `{"error": {"code": "...", "message": "..."}}`: the wire contract's.
pub use migrate_core::wire::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; `code` names the kind (e.g. `InvalidVersion`, `MalformedJson`).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    /// An NTLM handshake under way: the 401 carries this CHALLENGE (base64) for the client to
    /// answer on the same connection.
    #[error("answer the NTLM challenge on this connection")]
    NtlmChallenge(String),
    /// Credentials that were given and refused, and why (a 401 offering every scheme again).
    #[error("{0}")]
    SignInRefused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request is well formed but conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Well-formed, but describes something that cannot be (e.g. a Linux driver pending a reboot).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client stopped sending its body, or sent it too slowly (`--body-timeout-secs`,
    /// `--body-min-rate`).
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The disk is full: writes fail, reads go on (RFC 4918 §11.5).
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::NtlmChallenge(_) | Self::SignInRefused(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized | Self::NtlmChallenge(_) | Self::SignInRefused(_) => "Unauthorized",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::Unprocessable(_) => "ImpossibleState",
            Self::PayloadTooLarge(_) => "PayloadTooLarge",
            Self::RequestTimeout(_) => "RequestTimeout",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::InsufficientStorage(_) => "InsufficientStorage",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::Internal(_) => "InternalError",
        }
    }

    /// The message a client sees: everything but internal errors, whose details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "the server failed to handle the request; see its log".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Why a body read was given up by the request body limits of `crate::http::body_guard`
/// (too long a pause, or too slow on average), anywhere in the error's chain of causes.
pub fn body_stalled(error: &(dyn std::error::Error + 'static)) -> Option<crate::http::BodyStalled> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(why) = e.downcast_ref::<crate::http::BodyStalled>() {
            return Some(*why);
        }
        cause = e.source();
    }
    None
}

/// The error for an upload whose body could not be read to its end.
pub fn upload_cut_short(error: &(dyn std::error::Error + 'static)) -> AppError {
    if let Some(why) = body_stalled(error) {
        return body_timeout(why);
    }
    AppError::bad_request(
        "UploadInterrupted",
        format!("the upload was cut short: {error}"),
    )
}

/// The error (408) for a body that stopped arriving or came too slowly.
pub fn body_timeout(why: crate::http::BodyStalled) -> AppError {
    AppError::RequestTimeout(
        match why {
            crate::http::BodyStalled::Paused => {
                "the request body stopped arriving; the server waits --body-timeout-secs \
                 (bodyTimeoutSecs in /_emu/info) between two pieces"
            }
            crate::http::BodyStalled::TooSlow => {
                "the request body arrived too slowly; after --body-timeout-secs a body must \
                 average --body-min-rate bytes a second (bodyMinRate in /_emu/info)"
            }
        }
        .to_owned(),
    )
}

/// A server-side failure (5xx) as its answer carries it to the log line about it: the full
/// error, which the answer's body may hide.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub error: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody::new(self.code(), self.public_message());
        let mut response = (status, axum::Json(body)).into_response();
        if status.is_server_error() {
            // Logged by the app's per-request middleware, which knows the request.
            response.extensions_mut().insert(Failure {
                code: self.code(),
                error: self.to_string(),
            });
        }
        crate::auth::add_challenges(&self, response.headers_mut());
        if matches!(self, Self::PayloadTooLarge(_) | Self::RequestTimeout(_)) {
            // The body was not read to its end, so the connection cannot carry another request:
            // say so (RFC 9112 §9.6), or a client reuses it and meets a closed socket.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            // SQLITE_FULL (13): the disk or the database's size limit is reached.
            if db.code().as_deref() == Some("13") {
                return Self::InsufficientStorage(
                    "the server's data volume is full; free space and try again".into(),
                );
            }
        }
        Self::Internal(format!("database: {err}"))
    }
}

impl From<std::io::Error> for AppError {
    fn from(err: std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Self::InsufficientStorage(
                    "the server's data volume is full; free space and try again".into(),
                )
            }
            _ => Self::Internal(format!("i/o: {err}")),
        }
    }
}
