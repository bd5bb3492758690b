//! The operator pages at `/migrate` (SPEC 4, 6): server-rendered with askama, usable without
//! JavaScript; `static/live.js` refreshes the parts that change while work runs by polling the
//! `/migrate/live/...` fragments, which are the same partial templates the pages include.
//!
//! Every page needs Basic credentials like the API (401 makes the browser ask). Form posts are
//! checked by [`csrf`]. Errors get an HTML face ([`WebError`]).

mod assets;
mod commands;
mod confirm;
pub mod csrf;
mod dashboard;
mod error;
mod events;
mod packages;
mod tasks;
mod view;
mod workload_actions;
mod workload_bulk;
mod workload_commands;
mod workload_list;
mod workloads;

pub use error::WebError;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};

use crate::auth::{self, Caller, Role};
use crate::error::AppError;
use crate::state::AppState;

pub type WebResult<T> = std::result::Result<T, WebError>;

pub fn routes() -> Router<AppState> {
    let pages = Router::new()
        .route(
            "/migrate",
            get(|| async { Redirect::permanent("/migrate/") }),
        )
        .route("/migrate/", get(dashboard::page))
        .route("/migrate/workloads", get(workload_list::list))
        .route("/migrate/workloads/bulk", post(workload_bulk::bulk))
        .route("/migrate/workloads/{id}", get(workloads::page))
        .route(
            "/migrate/workloads/{id}/operations",
            post(workload_commands::run),
        )
        .route(
            "/migrate/workloads/{id}/commands/{command}",
            get(workload_commands::page),
        )
        .route(
            "/migrate/workloads/{id}/reboot",
            post(workload_commands::reboot),
        )
        .route("/migrate/tasks", get(tasks::page))
        .route("/migrate/events", get(events::page))
        .route("/migrate/tasks/{id}/dismiss", post(tasks::dismiss))
        .route("/migrate/tasks/{id}/execute", post(tasks::execute))
        .route("/migrate/commands/{id}", get(commands::page))
        .route(
            "/migrate/driver-packages",
            // The store enforces --max-upload-mb while it streams the file.
            get(packages::list)
                .post(packages::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/migrate/downloads", get(packages::downloads))
        .route(
            "/migrate/downloads/migrate-agent",
            get(packages::agent_download),
        )
        // Fragments for live updates: the same partials the pages include.
        .route("/migrate/live/dashboard", get(dashboard::live))
        .route("/migrate/live/workloads", get(workload_list::live_list))
        .route("/migrate/live/workloads/{id}", get(workloads::live))
        .route("/migrate/live/tasks", get(tasks::live))
        .route("/migrate/live/commands/{id}", get(commands::live))
        .route("/migrate/{*rest}", any(not_found))
        .layer(axum::middleware::from_fn(error::with_way_back))
        .layer(axum::middleware::map_response(page_headers));
    // Pages, fragments and assets go compressed to clients that take gzip (HTML and CSS shrink
    // to a fifth). Binaries (the agent on Downloads) go as they are, with their length.
    use tower_http::compression::predicate::{NotForContentType, Predicate};
    let compress = tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .compress_when(
            tower_http::compression::DefaultPredicate::new()
                .and(NotForContentType::const_new("application/octet-stream")),
        );
    pages
        .route("/static/{file}", get(assets::serve))
        .layer(compress)
}

async fn not_found(_: WebUser, uri: axum::http::Uri) -> WebError {
    AppError::NotFound(format!(
        "there is no page at {}",
        crate::api::extract::truncate(uri.path())
    ))
    .into()
}

/// Pages change with every report: never cached. The policy forbids inline script and style,
/// so even a value that escaped escaping could not run.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// What every page's layout needs: its title, the current section, the user, the version.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// dashboard | workloads | tasks | events | packages | downloads, or "" for none.
    pub nav: &'static str,
    pub user: Option<String>,
    pub is_admin: bool,
    pub csrf: String,
    pub version: &'static str,
    /// The server's time zone, in which the pages show times.
    pub time_zone: String,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, caller: &Caller) -> Self {
        Self {
            title: title.into(),
            nav,
            user: Some(caller.user.clone()),
            is_admin: caller.role == Role::Administrator,
            csrf: csrf::token(&caller.user),
            version: env!("CARGO_PKG_VERSION"),
            time_zone: view::time_zone(),
        }
    }

    /// For error pages, which may be shown to someone not signed in.
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            nav: "",
            user: None,
            is_admin: false,
            csrf: String::new(),
            version: env!("CARGO_PKG_VERSION"),
            time_zone: view::time_zone(),
        }
    }

    pub fn role(&self) -> &'static str {
        if self.is_admin {
            "administrator"
        } else {
            "operator"
        }
    }
}

/// A rendered template as an HTML response; a rendering failure is an `AppError`, not a panic.
pub struct Html<T>(pub T);

impl<T: Template> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(body) => axum::response::Html(body).into_response(),
            Err(e) => {
                WebError(AppError::internal(format!("rendering a page: {e}"))).into_response()
            }
        }
    }
}

/// The signed-in user of a page (Basic credentials, like the API).
pub struct WebUser(pub Caller);

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        Ok(WebUser(auth::caller(parts, &state.users)?))
    }
}

/// An id in a page's path. A malformed one names nothing, so it is a 404 like an unknown one.
pub fn page_id(text: &str, what: &str) -> Result<uuid::Uuid, WebError> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        WebError(AppError::NotFound(format!(
            "there is no {what} {:?}",
            crate::api::extract::truncate(text)
        )))
    })
}
