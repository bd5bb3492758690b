//! Driver packages: the list, the latest per platform, a package, the platforms, uploads and
//! rescans (through `service::packages`); the downloads are in `download`, the views in `views`.
//!
//! Reading packages needs no credentials, as the agent's `/psserver=` carries none; changing
//! them needs an administrator.

mod download;
mod views;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::extract::{Path, Query, parse_id, truncate};
use super::openapi::{
    BadRequest, Conflict, DriverPlatformList, Forbidden, InsufficientStorage, LatestPackages,
    NotFound, PackageList, PayloadTooLarge, Unauthorized,
};
use super::{ApiBase, Link, Paging, list_body};
use crate::auth::Admin;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::RescanReport;
use crate::error::{AppError, Result};
use crate::service::packages::{self as use_case, Carrier, Upload};
use crate::state::AppState;
pub use download::{
    __path_content, __path_content_by_version, __path_latest_content, content, content_by_version,
    download_by_id, download_by_version, latest_content,
};
pub use views::{DriverPlatformView, PackageView};

/// The route of a package's download, under a base: the `content` link, what the agent fetches.
/// The router's route table and the shortcut before the router (`crate::http::shortcut`) both
/// read it.
pub const CONTENT_BY_ID: &str = "/driverPackages/{id}/content";
/// The route of a download by platform and version, under a base (as [`CONTENT_BY_ID`]).
pub const CONTENT_BY_VERSION: &str = "/driverPackages/{platform}/{version}/content";

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

/// `?platform=`: absent is none; empty is refused (`crate::api::given`).
fn platform_param(value: Option<&str>) -> Result<Option<Platform>> {
    crate::api::given(value, "platform")?
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
            PackageView::new(&base.0, &p, is_latest)
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
            Ok(axum::Json(PackageView::new(&base.0, &pkg, true)).into_response())
        }
        None => {
            let mut views = Vec::new();
            let catalog = state.db.catalog().await?;
            for platform in Platform::ALL {
                if let Some(pkg) = catalog.latest(platform) {
                    views.push(PackageView::new(&base.0, &pkg, true));
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
    Ok(axum::Json(PackageView::new(&base.0, &pkg, is_latest)))
}

/// The OS platforms driver packages are built for, with their latest driver version (not the
/// target platforms of `/platforms`).
#[utoipa::path(
    get,
    path = "/driverPackages/platforms",
    operation_id = "listDriverPackagePlatforms",
    tag = "driverPackages",
    responses((status = 200, description = "Every OS platform", body = DriverPlatformList)),
)]
pub async fn platforms(State(state): State<AppState>, base: ApiBase) -> Result<Response> {
    let latest = state.db.catalog().await?.latest_versions();
    let views: Vec<DriverPlatformView> = Platform::ALL
        .into_iter()
        .map(|p| DriverPlatformView {
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
    let href = format!("{}/driverPackages/platforms", base.0);
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
    #[param(example = "Rescan", value_type = Option<crate::api::openapi::PackagesOperation>, inline)]
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
    request_body(content = Option<crate::api::openapi::PackageFile>, content_type = "application/zip", description = "The package file (for an upload; none for a rescan)"),
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
        // A rescan reads no body: one sent is a client that meant an upload, so say so.
        use axum::body::HttpBody;
        if !body.is_end_stream() && body.size_hint().exact() != Some(0) {
            return Err(AppError::bad_request(
                "UnexpectedBody",
                "a rescan (?operation=Rescan) takes no body; to upload a package, leave out \
                 operation and give platform and version",
            ));
        }
        // A rescan reads neither; given, they are still checked as the document gives them.
        platform_param(q.platform.as_deref())?;
        if let Some(version) = crate::api::given(q.version.as_deref(), "version")? {
            parse_version(version)?;
        }
        let report = use_case::rescan(&state, Some(&caller)).await?;
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
    let upload = Upload {
        platform: Some(platform),
        version: Some(version),
        declared: declared_length(&headers),
        carrier: Carrier::Body,
        body: body
            .into_data_stream()
            .map_err(|e| crate::error::upload_cut_short(&e)),
    };
    let pkg = use_case::upload(&state, &caller, upload).await?;
    let latest = state.db.catalog().await?.latest(platform);
    let is_latest = latest.is_some_and(|l| l.id == pkg.id);
    let location = format!("{}/driverPackages/{}", base.0, pkg.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(PackageView::new(&base.0, &pkg, is_latest)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A request's `Content-Length`, if it has a readable one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
