//! The HTML face of [`AppError`]: the same statuses and messages as the JSON API, as a page with
//! the site's layout. 401 keeps `WWW-Authenticate` so the browser asks for credentials.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Layout;
use crate::error::AppError;

/// An error on a page. Handlers return `Result<_, WebError>`; `?` converts every `AppError`.
#[derive(Debug)]
pub struct WebError(pub AppError);

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into())
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

fn heading(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "Sign-in required",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible now",
        StatusCode::PAYLOAD_TOO_LARGE => "Too large",
        s if s.is_server_error() => "Something went wrong",
        _ => "Bad request",
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(code = self.0.code(), error = %self.0, "page failed");
        }
        let page = ErrorPage {
            layout: Layout::anonymous(heading(status)),
            status: status.as_u16(),
            heading: heading(status),
            message: self.0.public_message(),
        };
        let body = page.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the error page failed to render");
            format!("{} {}", status.as_u16(), heading(status))
        });
        let mut response = (status, axum::response::Html(body)).into_response();
        crate::auth::add_challenges(&self.0, response.headers_mut());
        response
    }
}
