//! Downloads of a package: by id (the agent's), by platform and version, and a platform's latest;
//! each with its validators, ranges and conditions (SPEC 4), the body from the bytes read with
//! the open or kept in memory, or streamed from the file.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use uuid::Uuid;

use super::{PlatformQuery, parse_platform, parse_version, platform_param};
use crate::api::extract::{Path, Query, parse_id};
use crate::api::openapi::{BadRequest, NotFound, RangeHeaders, RangeNotSatisfiable};
use crate::domain::model::DriverPackage;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::Content;
use crate::drivers::range::{self, Conditions, Plan, Representation};
use crate::error::{AppError, ErrorBody, Result};
use crate::state::AppState;

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
    let id = parse_id(&id, "driver package id")?;
    download_by_id(&state, id, request.method(), request.headers()).await
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
    let (platform, version) = (parse_platform(&platform)?, parse_version(&version)?);
    download_by_version(
        &state,
        platform,
        version,
        request.method(),
        request.headers(),
    )
    .await
}

/// `GET driverPackages/{id}/content` of a package whose id parsed: the router's route and the
/// shortcut before it (`crate::http::shortcut`) both answer with this.
pub async fn download_by_id(
    state: &AppState,
    id: Uuid,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let pkg = state.db.catalog().await?.get(id)?;
    serve(state, pkg, method, headers).await
}

/// `GET driverPackages/{platform}/{version}/content` with both parsed: the router's route and the
/// shortcut before it both answer with this.
pub async fn download_by_version(
    state: &AppState,
    platform: Platform,
    version: DriverVersion,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response> {
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
        let fixed = state.store.fixed_headers(pkg)?;
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
            let body = ErrorBody::new(
                "RangeNotSatisfiable",
                format!(
                    "the requested range is outside the package's {} bytes",
                    pkg.size
                ),
            );
            let body = serde_json::to_vec(&body).map_err(AppError::internal)?;
            respond(StatusCode::RANGE_NOT_SATISFIABLE, headers, Body::from(body))
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
/// so chunks are large (`bench/run downloads` measures it), and reading with std straight into
/// the chunk skips the copy out of tokio's file buffer.
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
