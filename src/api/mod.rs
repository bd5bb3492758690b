//! The Migrate REST API at `/MigrateApi/2019.8` (alias `/MigrateApi/2019.5`), JSON in camelCase.

pub mod cache;
pub mod extract;
pub mod openapi;
mod operations;
pub mod packages;
mod platforms;
mod root;
pub use root::root;
pub(crate) mod sources;
mod tasks;
mod transformations;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;

use crate::domain::paging::{Cursor, Page, Paged, Start};
use crate::error::AppError;
use crate::state::AppState;

/// The bases and links are the wire contract's, shared with `migrate-agent`.
pub use migrate_core::wire::{BASE, BASE_ALIAS, Link};

/// A router's routes as a table, `"/path" => get(handler).post(other)` (a path is a `&str`
/// literal or constant), that makes both the function adding them to a router and `ROUTES`, the
/// (path, methods) it serves, from the same tokens: the list cannot drift from the router, and `tests/it/openapi.rs` checks it against the
/// OpenAPI document. Add routes here, not with a bare `.route()`.
macro_rules! route_table {
    (
        $vis:vis const $routes:ident;
        fn $add:ident;
        $($path:expr => $method:ident($handler:path) $(.$more:ident($more_handler:path))*,)*
    ) => {
        /// Every (path, methods) this table serves, methods in lower case.
        $vis const $routes: &[(&str, &[&str])] =
            &[$(($path, &[stringify!($method) $(, stringify!($more))*])),*];

        /// Add every route of the table under `base` (a path prefix, or "").
        fn $add(router: axum::Router<AppState>, base: &str) -> axum::Router<AppState> {
            router$(.route(
                &format!("{base}{}", $path),
                axum::routing::$method($handler)$(.$more($more_handler))*,
            ))*
        }
    };
}
pub(crate) use route_table;

route_table! {
    pub const ROUTES;
    fn add_routes;
    "/" => get(root::root),
    "/openapi.json" => get(openapi::spec),
    "/docs" => get(openapi::docs_page),
    "/docs/api-docs.js" => get(openapi::docs_script),
    "/sources" => get(sources::list).post(sources::create),
    "/sources/{id}" => get(sources::get).delete(sources::delete).post(sources::operation),
    sources::DRIVER_STATE => put(sources::report_driver_state),
    "/platforms" => get(platforms::list).post(platforms::add),
    "/platforms/{id}" => get(platforms::get).delete(platforms::delete),
    "/driverPackages" => get(packages::list).post(packages::upload_or_rescan),
    "/driverPackages/platforms" => get(packages::platforms),
    "/driverPackages/latest" => get(packages::latest),
    "/driverPackages/latest/content" => get(packages::latest_content),
    "/driverPackages/{id}" => get(packages::get),
    packages::CONTENT_BY_ID => get(packages::content),
    packages::CONTENT_BY_VERSION => get(packages::content_by_version),
    "/tasks" => get(tasks::list),
    "/tasks/{id}" => get(tasks::get).post(tasks::operation),
    "/events" => get(tasks::events),
    "/transformations" => get(transformations::list).post(transformations::create),
    "/transformations/{id}" =>
        get(transformations::get).delete(transformations::delete).post(transformations::operation),
    "/transformations/{id}/storage" =>
        get(transformations::settings::get_storage).put(transformations::settings::put_storage),
    "/transformations/{id}/networking" =>
        get(transformations::settings::get_networking).put(transformations::settings::put_networking),
    "/transformations/{id}/schedule" =>
        get(transformations::settings::get_schedule).put(transformations::settings::put_schedule),
    "/transformations/{id}/targetSettings" =>
        get(transformations::settings::get_target_settings).put(transformations::settings::put_target_settings),
    "/transformations/{id}/replicationSettings" =>
        get(transformations::settings::get_replication_settings).put(transformations::settings::put_replication_settings),
    "/transformations/{id}/validationResults" => get(transformations::settings::get_validation_results),
    "/operations" => get(operations::list),
    "/operations/{id}" => get(operations::get),
}

/// The API's routes at both bases, as full paths in one router: nested at each base, every
/// request would pay for a second router (a rewritten URI, a second lookup and a service clone).
/// Paths under a base that match no route are [`unknown_api_path`], which the app's fallback
/// calls.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for base in [BASE, BASE_ALIAS] {
        // The root answers with and without its trailing slash.
        router = add_routes(router, base).route(base, axum::routing::get(root::root));
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

/// Whether a path is under one of the API's bases.
pub fn is_api_path(path: &str) -> bool {
    [BASE, BASE_ALIAS].iter().any(|base| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A path under the API that the emulator does not implement: 404, marked for the journal's
/// list of unimplemented requests.
pub async fn unknown_api_path(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = AppError::NotFound(format!(
        "no API resource at {}",
        extract::truncate(uri.path())
    ))
    .into_response();
    response
        .extensions_mut()
        .insert(crate::emu::journal::Unimplemented);
    response
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AppError {
    AppError::MethodNotAllowed(format!(
        "{method} is not allowed on {}",
        extract::truncate(uri.path())
    ))
}

/// The base the request came in on, as an absolute URL built from the request's scheme and
/// `Host` (`http://10.0.0.5:8080/MigrateApi/2019.8`), so that links are absolute as the product's
/// documented answers show them (SPEC 9) and stay on the version and the address the client used.
/// A request that names no usable host (no `Host`, or one that is not a plain host[:port]) gets
/// the bare path as its base: its links are relative, never built from unchecked text.
#[derive(Debug, Clone)]
pub struct ApiBase(pub std::sync::Arc<str>);

impl ApiBase {
    /// The API version the client asked for: `2019.8`, or the alias's `2019.5`.
    pub fn version(&self) -> &'static str {
        let path = if self.0.ends_with(BASE_ALIAS) {
            BASE_ALIAS
        } else {
            BASE
        };
        path.rsplit('/').next().unwrap_or(path)
    }

    /// `scheme://host[:port]`, or "" when the links are relative.
    pub fn origin(&self) -> &str {
        let path = if self.0.ends_with(BASE_ALIAS) {
            BASE_ALIAS
        } else {
            BASE
        };
        &self.0[..self.0.len() - path.len()]
    }

    /// Build the base for a request: `path` is the API base it came in on, `tls` whether the
    /// server speaks HTTPS (it serves one scheme on all its connections).
    pub fn from_parts(parts: &Parts, path: &'static str, tls: bool) -> Self {
        let host = parts.headers.get(axum::http::header::HOST);
        Self::from_host(host, parts.uri.authority(), path, tls)
    }

    /// [`Self::from_parts`] from the request's `Host` and its URI's authority.
    fn from_host(
        host: Option<&axum::http::HeaderValue>,
        authority: Option<&axum::http::uri::Authority>,
        path: &'static str,
        tls: bool,
    ) -> Self {
        let host = host
            .and_then(|h| h.to_str().ok())
            .or_else(|| authority.map(|a| a.as_str()))
            .filter(|h| is_plain_host(h));
        let Some(host) = host else {
            return ApiBase(path.into());
        };
        let scheme = if tls { "https://" } else { "http://" };
        // Pieces pushed, not `format!`: this runs on every API request, polls included.
        let mut base = String::with_capacity(scheme.len() + host.len() + path.len());
        base.push_str(scheme);
        base.push_str(host);
        base.push_str(path);
        ApiBase(base.into())
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`: the characters a host name, an IP address and a
/// port are made of, and nothing that could end or redirect a URL.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 261
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// An [`ApiBase`] made only if an answer needs its links (an agent's report answered `204` has
/// none): what it is made from, shared rather than copied until then.
pub struct LazyApiBase {
    host: Option<axum::http::HeaderValue>,
    authority: Option<axum::http::uri::Authority>,
    path: &'static str,
    tls: bool,
}

impl LazyApiBase {
    pub fn get(&self) -> ApiBase {
        ApiBase::from_host(
            self.host.as_ref(),
            self.authority.as_ref(),
            self.path,
            self.tls,
        )
    }
}

impl FromRequestParts<AppState> for LazyApiBase {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(LazyApiBase {
            host: parts.headers.get(axum::http::header::HOST).cloned(),
            authority: parts.uri.authority().cloned(),
            path: base_of(parts),
            tls: state.config.serves_tls(),
        })
    }
}

/// The API base a request came in on. The API's routes are not nested: the URI is the one
/// requested.
fn base_of(parts: &Parts) -> &'static str {
    if parts.uri.path().starts_with(BASE_ALIAS) {
        BASE_ALIAS
    } else {
        BASE
    }
}

impl FromRequestParts<AppState> for ApiBase {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ApiBase::from_parts(
            parts,
            base_of(parts),
            state.config.serves_tls(),
        ))
    }
}

/// `{"<plural>": [...], "totalCount": N, "links": [...]}` with self/next/prev links that keep the
/// list's filters.
pub fn list_body<T: Serialize>(
    plural: &str,
    items: Vec<T>,
    total: u64,
    page: Page,
    href: &str,
    filters: &[(&str, String)],
) -> serde_json::Value {
    let link = |p: Page, rel: &str| {
        let mut query: Vec<String> = filters
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect();
        query.push(format!("offset={}", p.offset));
        query.push(format!("limit={}", p.limit));
        Link::new(format!("{href}?{}", query.join("&")), rel, &["GET"])
    };
    let mut links = vec![link(page, "self")];
    if let Some(next) = page.next(total) {
        links.push(link(next, "next"));
    }
    if let Some(prev) = page.prev() {
        links.push(link(prev, "prev"));
    }
    serde_json::json!({ plural: items, "totalCount": total, "links": links })
}

/// [`list_body`] for a list paged by key: `next` and `prev` carry `after=` / `before=` (whatever
/// the request sent, `offset` included), so that a client following them never pays for an
/// offset, and sees each row once while rows are added.
pub fn keyset_list_body<T: Serialize>(
    plural: &str,
    page: Paged<T>,
    total: u64,
    cursor: Cursor,
    href: &str,
    filters: &[(&str, String)],
) -> serde_json::Value {
    let link = |c: Cursor, rel: &str| {
        let mut query: Vec<String> = filters
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect();
        match c.start {
            Start::Offset(offset) => query.push(format!("offset={offset}")),
            Start::After(key) => query.push(format!("after={key}")),
            Start::Before(key) => query.push(format!("before={key}")),
        }
        query.push(format!("limit={}", c.limit));
        Link::new(format!("{href}?{}", query.join("&")), rel, &["GET"])
    };
    let mut links = vec![link(cursor, "self")];
    if let Some(next) = page.next {
        links.push(link(next, "next"));
    }
    if let Some(prev) = page.prev {
        links.push(link(prev, "prev"));
    }
    serde_json::json!({ plural: page.items, "totalCount": total, "links": links })
}

/// Percent-encode a query value (values here are ids, enum names and versions, but stay safe).
fn encode_query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?offset=&limit=`, extracted on its own beside a list's filters (serde's `flatten` would
/// read the numbers as strings from a query string).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many items to skip (default 0).
    #[param(minimum = 0, maximum = 2147483647)]
    pub offset: Option<u32>,
    /// How many items to answer (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl Paging {
    pub fn page(&self) -> Result<Page, AppError> {
        Page::new(self.offset, self.limit).map_err(|m| AppError::bad_request("InvalidPaging", m))
    }
}

/// An optional query value as given: absent is none, and present but empty (`?sourceId=`) is
/// refused with a 400 naming it, not read as none: the OpenAPI document gives no parameter an
/// empty value (an id, an enum or a version), so the server takes none either (issue 20 D2).
pub fn given<'a>(value: Option<&'a str>, name: &str) -> Result<Option<&'a str>, AppError> {
    match value {
        Some("") => Err(AppError::bad_request(
            "InvalidParameter",
            format!("{name} is empty; give a value, or leave the parameter out"),
        )),
        other => Ok(other),
    }
}

/// `?offset=&limit=` or, as the `next` and `prev` links send them, `?after=&limit=` and
/// `?before=&limit=`: the paging of the lists that grow long (sources, tasks, events).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysetPaging {
    /// How many items to skip (default 0); the `next` and `prev` links use `after`/`before`.
    #[param(minimum = 0, maximum = 2147483647)]
    pub offset: Option<u32>,
    /// The items after this key, as the `next` link gives it (not with `offset` or `before`).
    pub after: Option<i64>,
    /// The items before this key, as the `prev` link gives it (not with `offset` or `after`).
    pub before: Option<i64>,
    /// How many items to answer (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl KeysetPaging {
    pub fn cursor(&self) -> Result<Cursor, AppError> {
        Cursor::new(self.offset, self.after, self.before, self.limit)
            .map_err(|m| AppError::bad_request("InvalidPaging", m))
    }
}

/// Parse an optional query value with `FromStr`, naming the parameter in the error; empty is
/// refused ([`given`]).
pub fn parse_param<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
    name: &str,
) -> Result<Option<T>, AppError> {
    given(value, name)?
        .map(|v| {
            v.parse().map_err(|e: String| {
                AppError::bad_request("InvalidParameter", format!("{name}: {e}"))
            })
        })
        .transpose()
}
