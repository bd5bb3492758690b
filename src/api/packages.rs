//! Driver packages: the list, the latest per platform, uploads, rescans and the download.
//!
//! Reading packages needs no credentials, as the agent's `/psserver=` carries none; changing
//! them needs an administrator.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::extract::{Path, Query, parse_id, truncate};
use super::openapi::{
    BadRequest, Conflict, Forbidden, InsufficientStorage, LatestPackages, NotFound, PackageList,
    PayloadTooLarge, PlatformList, RangeHeaders, RangeNotSatisfiable, Unauthorized,
};
use super::{ApiBase, Link, Paging, list_body};
use crate::auth::Admin;
use crate::domain::model::DriverPackage;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::range::{self, Conditions, Plan, Representation};
use crate::drivers::{Content, RescanReport};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// A driver package: the wire contract's view, which the agent reads.
pub use migrate_core::wire::PackageView;

/// A platform named in a path segment or query value. The message echoes a short piece of the
/// input only, however long it was.
fn parse_platform(text: &str) -> Result<Platform> {
    text.parse::<Platform>().map_err(|_| {
        AppError::bad_request(
            "InvalidParameter",
            format!(
                "platform: unknown platform {:?}; expected windows-x64, windows-x86 or linux-x64",
                truncate(text)
            ),
        )
    })
}

/// A driver version named in a path segment or query value (SPEC 3.1).
fn parse_version(text: &str) -> Result<DriverVersion> {
    text.parse::<DriverVersion>().map_err(|e| {
        // The parser's reason may quote a part of the input; keep it only when that is short.
        let reason = if text.chars().count() <= 80 {
            e.to_string()
        } else {
            "is not a driver version; expected four numbers separated by dots, such as 8.0.0.11"
                .to_owned()
        };
        AppError::bad_request(
            "InvalidVersion",
            format!("version: driver version {:?} {reason}", truncate(text)),
        )
    })
}

/// `?platform=`: absent or empty is none.
fn platform_param(value: Option<&str>) -> Result<Option<Platform>> {
    value
        .filter(|v| !v.is_empty())
        .map(parse_platform)
        .transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this platform's packages.
    #[param(value_type = Option<Platform>)]
    platform: Option<String>,
}

/// The driver packages, newest version first within each platform.
#[utoipa::path(
    get,
    path = "/driverPackages",
    operation_id = "listDriverPackages",
    tag = "driverPackages",
    params(Paging, ListQuery),
    responses(
        (status = 200, description = "A page of packages", body = PackageList),
        (status = 400, response = BadRequest),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    base: ApiBase,
    Query(paging): Query<Paging>,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let platform = platform_param(q.platform.as_deref())?;
    let page = paging.page()?;
    let catalog = state.db.catalog().await?;
    let (all, latest) = (catalog.list(platform), catalog.latest_versions());
    let total = all.len() as u64;
    let views: Vec<PackageView> = all
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .map(|p| {
            let is_latest = latest.get(&p.platform) == Some(&p.version);
            PackageView::new(base.0, &p, is_latest)
        })
        .collect();
    let filters: Vec<(&str, String)> = platform
        .map(|p| ("platform", p.to_string()))
        .into_iter()
        .collect();
    let href = format!("{}/driverPackages", base.0);
    Ok(axum::Json(list_body(
        "driverPackages",
        views,
        total,
        page,
        &href,
        &filters,
    ))
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatformQuery {
    #[param(value_type = Option<Platform>)]
    platform: Option<String>,
}

/// The latest package of a platform, or of every platform
///
/// `GET driverPackages/latest?platform=`: that platform's latest package (its highest version);
/// without a platform, the latest package of every platform as a list.
#[utoipa::path(
    get,
    path = "/driverPackages/latest",
    operation_id = "getLatestDriverPackages",
    tag = "driverPackages",
    params(PlatformQuery),
    responses(
        (status = 200, description = "With `platform`: that platform's latest package; without: the list of every platform's latest", body = LatestPackages),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ),
)]
pub async fn latest(
    State(state): State<AppState>,
    base: ApiBase,
    Query(q): Query<PlatformQuery>,
) -> Result<Response> {
    match platform_param(q.platform.as_deref())? {
        Some(platform) => {
            let pkg = state.db.catalog().await?.latest(platform).ok_or_else(|| {
                AppError::NotFound(format!("there is no {platform} driver package"))
            })?;
            Ok(axum::Json(PackageView::new(base.0, &pkg, true)).into_response())
        }
        None => {
            let mut views = Vec::new();
            let catalog = state.db.catalog().await?;
            for platform in Platform::ALL {
                if let Some(pkg) = catalog.latest(platform) {
                    views.push(PackageView::new(base.0, &pkg, true));
                }
            }
            let total = views.len() as u64;
            let page = crate::domain::paging::Page::new(None, None).map_err(AppError::internal)?;
            let href = format!("{}/driverPackages/latest", base.0);
            Ok(
                axum::Json(list_body("driverPackages", views, total, page, &href, &[]))
                    .into_response(),
            )
        }
    }
}

/// A driver package.
#[utoipa::path(
    get,
    path = "/driverPackages/{id}",
    operation_id = "getDriverPackage",
    tag = "driverPackages",
    params(("id" = uuid::Uuid, Path, description = "The package's id")),
    responses(
        (status = 200, description = "The package", body = PackageView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    base: ApiBase,
    Path(id): Path<String>,
) -> Result<axum::Json<PackageView>> {
    let id = parse_id(&id, "driver package id")?;
    let catalog = state.db.catalog().await?;
    let pkg = catalog.get(id)?;
    let latest = catalog.latest(pkg.platform);
    let is_latest = latest.is_some_and(|l| l.id == pkg.id);
    Ok(axum::Json(PackageView::new(base.0, &pkg, is_latest)))
}

/// A platform driver packages are built for.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformView {
    name: Platform,
    #[schema(examples("Windows (x64)"))]
    display_name: &'static str,
    os_family: crate::domain::platform::OsFamily,
    latest_driver_version: Option<DriverVersion>,
    links: Vec<Link>,
}

/// The platforms, with their latest driver version.
#[utoipa::path(
    get,
    path = "/platforms",
    operation_id = "listPlatforms",
    tag = "driverPackages",
    responses((status = 200, description = "Every platform", body = PlatformList)),
)]
pub async fn platforms(State(state): State<AppState>, base: ApiBase) -> Result<Response> {
    let latest = state.db.catalog().await?.latest_versions();
    let views: Vec<PlatformView> = Platform::ALL
        .into_iter()
        .map(|p| PlatformView {
            name: p,
            display_name: p.display_name(),
            os_family: p.os_family(),
            latest_driver_version: latest.get(&p).copied(),
            links: vec![Link::new(
                format!("{}/driverPackages?platform={p}", base.0),
                "driverPackages",
                &["GET"],
            )],
        })
        .collect();
    let page = crate::domain::paging::Page::new(None, None).map_err(AppError::internal)?;
    let href = format!("{}/platforms", base.0);
    Ok(axum::Json(list_body("platforms", views, 3, page, &href, &[])).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Required for an upload.
    #[param(value_type = Option<Platform>)]
    platform: Option<String>,
    /// Required for an upload.
    #[param(value_type = Option<DriverVersion>)]
    version: Option<String>,
    /// `Rescan` to re-read the driver-package directory instead of uploading.
    #[param(example = "Rescan")]
    operation: Option<String>,
}

/// Patch the server with a new driver package, or rescan the package directory
///
/// `POST driverPackages?platform=&version=` with the package (a zip) as the body adds it
/// (administrators only): written to a temporary file, checked, and renamed into place before it
/// is listed. `POST driverPackages?operation=Rescan` re-reads the `driver-packages/` directory.
#[utoipa::path(
    post,
    path = "/driverPackages",
    operation_id = "uploadDriverPackage",
    tag = "driverPackages",
    security(("basicAuth" = [])),
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/zip", description = "The package file (for an upload; none for a rescan)"),
    responses(
        (status = 201, description = "Uploaded; `Location` names the new package", body = PackageView,
            headers(("Location" = String, description = "The new package's URL"))),
        (status = 200, description = "Rescanned: the files added, changed, removed and skipped", body = RescanReport),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 507, response = InsufficientStorage),
    ),
)]
pub async fn upload_or_rescan(
    State(state): State<AppState>,
    Admin(caller): Admin,
    base: ApiBase,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    if let Some(op) = q.operation.as_deref() {
        if !op.eq_ignore_ascii_case("Rescan") {
            return Err(AppError::bad_request(
                "UnknownOperation",
                format!(
                    "unknown operation {:?} on driver packages; expected Rescan",
                    truncate(op)
                ),
            ));
        }
        let report = state.store.rescan(&state.db).await?;
        tracing::info!(by = %caller.user, added = report.added.len(), changed = report.changed.len(), removed = report.removed.len(), "driver packages rescanned");
        return Ok(axum::Json(report).into_response());
    }
    let platform = platform_param(q.platform.as_deref())?.ok_or_else(|| {
        AppError::bad_request(
            "MissingParameter",
            "platform is required (?platform=windows-x64)",
        )
    })?;
    let version_text = q.version.as_deref().ok_or_else(|| {
        AppError::bad_request(
            "MissingParameter",
            "version is required (?version=8.0.0.12)",
        )
    })?;
    let version = parse_version(version_text)?;
    // Refuse a declared oversize body before reading a byte of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.store.max_upload()) {
        return Err(AppError::PayloadTooLarge(format!(
            "the package is larger than the server's limit of {} MiB (--max-upload-mb)",
            state.store.max_upload() / (1024 * 1024)
        )));
    }
    let pkg = state
        .store
        .upload(
            &state.db,
            platform,
            version,
            body.into_data_stream()
                .map_err(|e| crate::error::upload_cut_short(&e)),
        )
        .await?;
    tracing::info!(by = %caller.user, package = %pkg.id, %platform, %version, size = pkg.size, "driver package uploaded");
    let latest = state.db.catalog().await?.latest(platform);
    let is_latest = latest.is_some_and(|l| l.id == pkg.id);
    let location = format!("{}/driverPackages/{}", base.0, pkg.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(PackageView::new(base.0, &pkg, is_latest)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Download a package
///
/// `GET driverPackages/{id}/content`: the file, with no credentials, like the agent's
/// `/psserver=`. It carries `Content-Length`, an `ETag` made from the SHA-256, `Repr-Digest`, and
/// answers `HEAD`, `Range` and `If-Range` (206, 416) and `If-None-Match` (304).
#[utoipa::path(
    get,
    path = "/driverPackages/{id}/content",
    operation_id = "downloadDriverPackage",
    tag = "driverPackages",
    params(("id" = uuid::Uuid, Path, description = "The package's id"), RangeHeaders),
    responses(
        (status = 200, description = "The package file", body = Vec<u8>, content_type = "application/zip", headers(
            ("ETag" = String, description = "The SHA-256 of the file, quoted"),
            ("Repr-Digest" = String, description = "`sha-256=:<base64>:` (RFC 9530)"),
        )),
        (status = 206, description = "The requested range", body = Vec<u8>, content_type = "application/zip",
            headers(("Content-Range" = String, description = "`bytes start-end/size`"))),
        (status = 304, description = "Not modified: `If-None-Match` matched"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 416, response = RangeNotSatisfiable),
    ),
)]
pub async fn content(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response> {
    by_id(&state, &id, request.method(), request.headers()).await
}

/// Download a platform's latest package (as `driverPackages/{id}/content`)
#[utoipa::path(
    get,
    path = "/driverPackages/latest/content",
    operation_id = "downloadLatestDriverPackage",
    tag = "driverPackages",
    params(
        ("platform" = Platform, Query, description = "The platform"),
        RangeHeaders,
    ),
    responses(
        (status = 200, description = "The package file", body = Vec<u8>, content_type = "application/zip"),
        (status = 206, description = "The requested range", body = Vec<u8>, content_type = "application/zip"),
        (status = 304, description = "Not modified: `If-None-Match` matched"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 416, response = RangeNotSatisfiable),
    ),
)]
pub async fn latest_content(
    State(state): State<AppState>,
    Query(q): Query<PlatformQuery>,
    request: Request,
) -> Result<Response> {
    let platform = platform_param(q.platform.as_deref())?.ok_or_else(|| {
        AppError::bad_request(
            "MissingParameter",
            "platform is required (?platform=windows-x64)",
        )
    })?;
    let pkg = state
        .db
        .catalog()
        .await?
        .latest(platform)
        .ok_or_else(|| AppError::NotFound(format!("there is no {platform} driver package")))?;
    serve(&state, pkg, request.method(), request.headers()).await
}

/// Download a package by platform and version (as `driverPackages/{id}/content`)
#[utoipa::path(
    get,
    path = "/driverPackages/{platform}/{version}/content",
    operation_id = "downloadDriverPackageByVersion",
    tag = "driverPackages",
    params(
        ("platform" = Platform, Path, description = "The platform"),
        ("version" = DriverVersion, Path, description = "The driver version"),
        RangeHeaders,
    ),
    responses(
        (status = 200, description = "The package file", body = Vec<u8>, content_type = "application/zip"),
        (status = 206, description = "The requested range", body = Vec<u8>, content_type = "application/zip"),
        (status = 304, description = "Not modified: `If-None-Match` matched"),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 416, response = RangeNotSatisfiable),
    ),
)]
pub async fn content_by_version(
    State(state): State<AppState>,
    Path((platform, version)): Path<(String, String)>,
    request: Request,
) -> Result<Response> {
    by_version(
        &state,
        &platform,
        &version,
        request.method(),
        request.headers(),
    )
    .await
}

/// A download found in a request's path before the router (see `crate::App`):
/// `{base}/driverPackages/{id}/content` (what the agent fetches: the `content` link) or
/// `{base}/driverPackages/{platform}/{version}/content`, where every segment is plain (letters,
/// digits, `.`, `-`, `_`), so the percent-decoding that the router's `Path` does would leave it
/// as it is. Any other path, `driverPackages/latest/content` included, is the router's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPath {
    /// Which base the path is under: 0 for [`super::BASE`], 1 for [`super::BASE_ALIAS`].
    pub base: usize,
    /// The segments, as offsets into the path, so the request can move with them.
    by: By,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum By {
    Id(std::ops::Range<usize>),
    Version(std::ops::Range<usize>, std::ops::Range<usize>),
}

impl DownloadPath {
    /// The routes' templates under a base, in the order of [`Self::route`].
    pub const ROUTES: [&str; 2] = [
        "/driverPackages/{id}/content",
        "/driverPackages/{platform}/{version}/content",
    ];

    /// The path's download, if it is one the app may answer before the router.
    pub fn find(path: &str) -> Option<Self> {
        let (base, rest) = [super::BASE, super::BASE_ALIAS]
            .iter()
            .enumerate()
            .find_map(|(i, base)| Some((i, path.strip_prefix(base)?)))?;
        let segments = rest
            .strip_prefix("/driverPackages/")?
            .strip_suffix("/content")?;
        let start = path.len() - rest.len() + "/driverPackages/".len();
        let plain = |segment: &str| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        };
        let by = match segments.split_once('/') {
            None if plain(segments) && segments != "latest" => {
                By::Id(start..start + segments.len())
            }
            Some((platform, version)) if plain(platform) && plain(version) => By::Version(
                start..start + platform.len(),
                start + platform.len() + 1..start + segments.len(),
            ),
            _ => return None,
        };
        Some(Self { base, by })
    }

    /// Which route of [`Self::ROUTES`] the path is.
    pub fn route(&self) -> usize {
        match self.by {
            By::Id(_) => 0,
            By::Version(..) => 1,
        }
    }

    /// The download: the same answer as [`content`]'s or [`content_by_version`]'s for the same
    /// request.
    pub async fn answer(&self, state: &AppState, request: Request) -> Response {
        let (request, _) = request.into_parts();
        let (path, method, headers) = (request.uri.path(), &request.method, &request.headers);
        let segment = |range: &std::ops::Range<usize>| path.get(range.clone());
        match &self.by {
            By::Id(id) => match segment(id) {
                Some(id) => by_id(state, id, method, headers).await,
                None => Err(not_found_at(path)),
            },
            By::Version(platform, version) => match (segment(platform), segment(version)) {
                (Some(platform), Some(version)) => {
                    by_version(state, platform, version, method, headers).await
                }
                _ => Err(not_found_at(path)),
            },
        }
        .into_response()
    }
}

/// A path that is not the one a [`DownloadPath`] was found in: cannot happen, but the answer
/// is the router's for a path it does not know.
fn not_found_at(path: &str) -> AppError {
    AppError::NotFound(format!("nothing at {}", truncate(path)))
}

async fn by_id(
    state: &AppState,
    id: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let id = parse_id(id, "driver package id")?;
    let pkg = state.db.catalog().await?.get(id)?;
    serve(state, pkg, method, headers).await
}

async fn by_version(
    state: &AppState,
    platform: &str,
    version: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let platform = parse_platform(platform)?;
    let version = parse_version(version)?;
    let pkg = state
        .db
        .catalog()
        .await?
        .find_version(platform, version)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "there is no {platform} driver package version {version}"
            ))
        })?;
    serve(state, pkg, method, headers).await
}

/// Stream a package file with the validators and range support of SPEC 4.
async fn serve(
    state: &AppState,
    pkg: std::sync::Arc<DriverPackage>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let header_str = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let conditions = Conditions {
        is_get: method == Method::GET,
        if_none_match: header_str(header::IF_NONE_MATCH),
        if_modified_since: header_str(header::IF_MODIFIED_SINCE),
        range: header_str(header::RANGE),
        if_range: header_str(header::IF_RANGE),
    };
    // No Last-Modified: the only time on record is when the package was indexed, and a file
    // can change on disk after that, even within the same second. The ETag, made from the
    // SHA-256 of what is served, is the one validator that cannot hand out a stale file.
    let plan_for = |pkg: &DriverPackage| -> Result<_> {
        let fixed = FixedHeaders::of(pkg)?;
        let plan = range::plan(
            conditions,
            Representation {
                etag: &fixed.etag,
                len: pkg.size,
                last_modified: None,
            },
        );
        Ok((fixed, plan))
    };
    // The plan as the index has it; it stands unless the file changed on disk. A small body is
    // read along with the open.
    let (fixed, plan) = plan_for(&pkg)?;
    let prefetch = match plan {
        _ if method != Method::GET => None,
        Plan::Full => Some((0, pkg.size)),
        Plan::Partial { start, end } => Some((start, end - start + 1)),
        Plan::NotModified | Plan::Unsatisfiable => None,
    };
    let opened = state.store.open(&state.db, pkg, prefetch).await?;
    let (content, pkg) = (opened.content, opened.pkg);
    let (fixed, plan) = if opened.rehashed {
        plan_for(&pkg)?
    } else {
        (fixed, plan)
    };
    let response = match plan {
        Plan::NotModified => respond(
            StatusCode::NOT_MODIFIED,
            fixed.validators.clone(),
            Body::empty(),
        ),
        Plan::Unsatisfiable => {
            let mut headers = fixed.validators.clone();
            headers.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{}", pkg.size))?,
            );
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let body = serde_json::json!({"error": {"code": "RangeNotSatisfiable", "message": format!("the requested range is outside the package's {} bytes", pkg.size)}});
            respond(
                StatusCode::RANGE_NOT_SATISFIABLE,
                headers,
                Body::from(body.to_string()),
            )
        }
        Plan::Full | Plan::Partial { .. } => {
            let mut headers = fixed.content.clone();
            let (status, start, len) = match plan {
                Plan::Partial { start, end } => {
                    headers.insert(
                        header::CONTENT_RANGE,
                        header_value(format!("bytes {start}-{end}/{}", pkg.size))?,
                    );
                    (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
                }
                _ => (StatusCode::OK, 0, pkg.size),
            };
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                state
                    .metrics
                    .download_started(status == StatusCode::PARTIAL_CONTENT);
                let sent = state.metrics.bytes_sent();
                match content {
                    // Read with the open (or kept from before) for the plan made before it,
                    // which held: the file is as indexed.
                    Content::Bytes(bytes) if bytes.len() as u64 == len => {
                        sent.inc_by(len);
                        Body::from(bytes)
                    }
                    Content::Bytes(_) => {
                        return Err(AppError::internal(
                            "the bytes read with the open do not match the range to send",
                        ));
                    }
                    Content::File(file) => {
                        let file = file.into_std().await;
                        if len <= CHUNK {
                            // A small body: read before answering, so that the headers and the
                            // body leave together.
                            let bytes = read_chunk(file, start, len).await?.1;
                            sent.inc_by(len);
                            Body::from(bytes)
                        } else {
                            // Counted as the body streams, so a download cut short counts what
                            // it sent.
                            Body::from_stream(file_stream(file, start, len).inspect_ok(
                                move |chunk| {
                                    sent.inc_by(chunk.len() as u64);
                                },
                            ))
                        }
                    }
                }
            };
            respond(status, headers, body)
        }
    };
    Ok(response)
}

fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn header_value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).map_err(AppError::internal)
}

/// How much of a package one trip to the blocking pool reads. Each trip costs thread switches,
/// which were most of the cost of a download when the server has one core to itself
/// (`bench/run downloads`): 1 MiB chunks take a quarter of the trips of 256 KiB ones, and reading
/// with std straight into the chunk skips the copy out of tokio's file buffer.
const CHUNK: u64 = crate::drivers::PREFETCH_MAX;

/// Read `len` bytes (at most [`CHUNK`]) at `start`, in one blocking call; hands the file back.
async fn read_chunk(
    file: std::fs::File,
    start: u64,
    len: u64,
) -> std::io::Result<(std::fs::File, Bytes)> {
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let bytes = crate::drivers::read_at(&mut file, start, len.min(CHUNK))?;
        Ok((file, bytes))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The bytes `start..start + len` of a file as a stream of [`CHUNK`]-sized pieces, each read
/// when the previous one was taken (no thread is held while a slow client reads).
fn file_stream(
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::try_unfold((Some(file), start, len), |(file, at, left)| async move {
        let Some(file) = file.filter(|_| left > 0) else {
            return Ok(None);
        };
        let (file, chunk) = read_chunk(file, at, left).await?;
        let n = chunk.len() as u64;
        Ok(Some((chunk, (Some(file), at + n, left - n))))
    })
}

/// The headers of a download that follow from the package's content and name alone, made once
/// per package: formatting and checking them on every download was a sixth of a small
/// download's instructions (callgrind; bench/RESULTS.md).
struct FixedHeaders {
    /// What they were made from: a file changed on disk gets a new SHA-256, and new headers.
    sha256: String,
    platform: Platform,
    version: DriverVersion,
    etag: String,
    /// The headers of every answer: `ETag`, `Accept-Ranges`, `Cache-Control` and `Repr-Digest`.
    /// Cloned per response, which costs two allocations where inserting them one by one
    /// hashed each name and grew the map twice.
    validators: HeaderMap,
    /// Those and the ones of an answer with content: `Content-Type`, `Content-Disposition`.
    content: HeaderMap,
}

impl FixedHeaders {
    fn of(pkg: &DriverPackage) -> Result<std::sync::Arc<Self>> {
        use std::collections::HashMap;
        use std::sync::{Arc, LazyLock, Mutex, PoisonError};
        /// By package id; cleared when it grows past what any repository holds.
        static MADE: LazyLock<Mutex<HashMap<uuid::Uuid, Arc<FixedHeaders>>>> =
            LazyLock::new(Mutex::default);
        const KEPT_MAX: usize = 4096;
        let lock = || MADE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(made) = lock().get(&pkg.id)
            && made.sha256 == pkg.sha256
            && (made.platform, made.version) == (pkg.platform, pkg.version)
        {
            return Ok(Arc::clone(made));
        }
        let made = Arc::new(Self::make(pkg)?);
        let mut kept = lock();
        if kept.len() >= KEPT_MAX {
            kept.clear();
        }
        kept.insert(pkg.id, Arc::clone(&made));
        Ok(made)
    }

    fn make(pkg: &DriverPackage) -> Result<Self> {
        let digest = hex::decode(&pkg.sha256).map_err(AppError::internal)?;
        let etag = format!("\"{}\"", pkg.sha256);
        // Room for what every response gets later (length, range, request id, version, date):
        // the clones never grow.
        let mut validators = HeaderMap::with_capacity(16);
        validators.insert(header::ETAG, header_value(etag.clone())?);
        validators.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        validators.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // RFC 9530: the digest of the whole representation, also on partial responses.
        validators.insert(
            header::HeaderName::from_static("repr-digest"),
            header_value(format!(
                "sha-256=:{}:",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ))?,
        );
        let mut content = validators.clone();
        content.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        content.insert(
            header::CONTENT_DISPOSITION,
            header_value(format!("attachment; filename=\"{}\"", pkg.download_name()))?,
        );
        Ok(Self {
            sha256: pkg.sha256.clone(),
            platform: pkg.platform,
            version: pkg.version,
            etag,
            validators,
            content,
        })
    }
}
