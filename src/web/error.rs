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
    /// The page the user came from (same site), so that an error is never a dead end.
    back: Option<String>,
    /// What to do next, by status.
    hint: &'static str,
}

/// What an error page says, kept on its response so that [`with_way_back`] can draw it again
/// with a link to the page the user came from.
#[derive(Debug, Clone)]
struct Facts {
    status: StatusCode,
    message: String,
}

fn hint(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => {
            "It may have been removed. The Workloads and Tasks lists show what there is."
        }
        StatusCode::CONFLICT => "The workload's page shows the commands it allows now.",
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
            "Go back, correct the form and send it again."
        }
        StatusCode::FORBIDDEN => "Sign in as an administrator for this, or ask one.",
        _ => "",
    }
}

fn render(status: StatusCode, message: String, back: Option<String>) -> String {
    let page = ErrorPage {
        layout: Layout::anonymous(heading(status)),
        status: status.as_u16(),
        heading: heading(status),
        message,
        back,
        hint: hint(status),
    };
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the error page failed to render");
        format!("{} {}", status.as_u16(), heading(status))
    })
}

/// A page that failed draws its error page again with a link back to where the user came from:
/// the `Referer`, when it is a page of this site.
pub async fn with_way_back(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let back = came_from(request.headers());
    let mut response = next.run(request).await;
    if let (Some(back), Some(facts)) = (back, response.extensions_mut().remove::<Facts>()) {
        let body = render(facts.status, facts.message, Some(back));
        *response.body_mut() = axum::body::Body::from(body);
        response
            .headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
    }
    response
}

/// The path of the `Referer` when it is one of our pages on the host the request names.
fn came_from(headers: &axum::http::HeaderMap) -> Option<String> {
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let referer = headers.get(axum::http::header::REFERER)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("http://")
        .or_else(|| referer.strip_prefix("https://"))?
        .strip_prefix(host)?;
    let back = super::tasks::back_to(Some(rest));
    (back == rest).then_some(back)
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
        let message = self.0.public_message();
        let body = render(status, message.clone(), None);
        let mut response = (status, axum::response::Html(body)).into_response();
        crate::auth::add_challenges(&self.0, response.headers_mut());
        if status != StatusCode::UNAUTHORIZED {
            response.extensions_mut().insert(Facts { status, message });
        }
        response
    }
}
