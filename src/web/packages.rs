//! `/migrate/driver-packages` (list, upload) and `/migrate/downloads` (the Migrate Agent's usage
//! and the driver packages to download).

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::view::{Time, size};
use super::{Html, Layout, WebError, WebResult, WebUser, csrf};
use crate::api::BASE;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::drivers::agent;
use crate::error::AppError;
use crate::service::packages::{self as use_case, Carrier, Upload};
use crate::state::AppState;
use migrate_core::wire;

pub struct PackageItem {
    pub platform: &'static str,
    pub platform_name: &'static str,
    pub version: String,
    pub size: String,
    pub sha256: String,
    pub origin: &'static str,
    pub latest: bool,
    pub created: Time,
    pub href: String,
    pub file_name: String,
}

async fn items(state: &AppState) -> WebResult<Vec<PackageItem>> {
    let catalog = state.db.catalog().await?;
    let (all, latest) = (catalog.list(None), catalog.latest_versions());
    Ok(all
        .into_iter()
        .map(|p| PackageItem {
            latest: latest.get(&p.platform) == Some(&p.version),
            platform: p.platform.as_str(),
            platform_name: p.platform.display_name(),
            version: p.version.to_string(),
            size: size(p.size),
            origin: match p.origin {
                crate::domain::model::PackageOrigin::Sample => "Sample repository",
                crate::domain::model::PackageOrigin::Upload => "Uploaded",
            },
            created: Time::new(p.created_at),
            href: wire::path::package_content(BASE, p.id),
            file_name: p.download_name(),
            sha256: p.sha256.clone(),
        })
        .collect())
}

#[derive(Template)]
#[template(path = "pages/driver_packages.html")]
struct PackagesPage {
    layout: Layout,
    packages: Vec<PackageItem>,
    platforms: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
    max_upload_mb: u64,
    /// The form's fields as last sent, shown again after a refusal.
    kept: Kept,
}

/// The upload form's text fields as sent: a refused upload shows them again, so that only the
/// file (which browsers never refill) is chosen again.
#[derive(Debug, Default)]
pub struct Kept {
    platform: String,
    version: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    uploaded: Option<String>,
}

async fn packages_page(
    state: &AppState,
    layout: Layout,
    notice: Option<String>,
    error: Option<String>,
    kept: Kept,
) -> WebResult<PackagesPage> {
    Ok(PackagesPage {
        layout,
        packages: items(state).await?,
        platforms: Platform::ALL
            .iter()
            .map(|p| (p.as_str(), p.display_name()))
            .collect(),
        notice,
        error,
        max_upload_mb: state.store.upload_limit().bytes() / (1024 * 1024),
        kept,
    })
}

pub async fn list(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<ListQuery>,
) -> WebResult<Html<impl Template>> {
    let notice = q.uploaded.filter(|u| !u.is_empty()).map(|u| {
        format!(
            "Driver package {} uploaded.",
            crate::api::extract::truncate(&u)
        )
    });
    let layout = Layout::new("Driver packages", "packages", &caller);
    Ok(Html(
        packages_page(&state, layout, notice, None, Kept::default()).await?,
    ))
}

/// `POST /migrate/driver-packages`, multipart: `csrf`, `platform`, `version`, then `file`; the
/// platform and version may be left empty, to be read from the package's manifest.
/// Administrators only. A refused package shows the page again with the reason and the fields.
pub async fn upload(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> WebResult<Response> {
    let layout = Layout::new("Driver packages", "packages", &caller);
    let mut kept = Kept::default();
    let result = receive(&state, &caller, &headers, multipart, &mut kept).await;
    match result {
        Ok(label) => Ok(Redirect::to(&format!(
            "/migrate/driver-packages?uploaded={}",
            super::view::query_value(&label)
        ))
        .into_response()),
        // Refusals of the request itself keep the error page; a refused package shows the form
        // again with the reason beside it.
        Err(WebError(
            e @ (AppError::Forbidden(_)
            | AppError::Unauthorized
            | AppError::NtlmChallenge(_)
            | AppError::SignInRefused(_)
            | AppError::Internal(_)),
        )) => Err(WebError(e)),
        Err(WebError(e)) => {
            let status = e.status();
            let page = packages_page(&state, layout, None, Some(e.public_message()), kept).await?;
            Ok((status, Html(page)).into_response())
        }
    }
}

async fn receive(
    state: &AppState,
    caller: &crate::auth::Caller,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    kept: &mut Kept,
) -> WebResult<String> {
    let bad = |m: String| WebError(AppError::bad_request("InvalidUpload", m));
    // A form that stopped arriving, or came too slowly, is a 408 (the HTML error page), as on
    // the API; other read failures are the form's fault.
    let unread = |e: axum::extract::multipart::MultipartError| match crate::error::body_stalled(&e)
    {
        Some(why) => WebError(crate::error::body_timeout(why)),
        None => bad(format!("the upload could not be read: {e}")),
    };
    let mut multipart = multipart.map_err(|e| {
        bad(format!(
            "send the form as multipart/form-data: {}",
            e.body_text()
        ))
    })?;
    let mut token = None;
    let mut platform = None;
    let mut version = None;
    while let Some(field) = multipart.next_field().await.map_err(unread)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "csrf" | "platform" | "version" => {
                let text = field.text().await.map_err(unread)?;
                match name.as_str() {
                    "csrf" => token = Some(text),
                    "platform" => {
                        kept.platform = crate::api::extract::truncate(&text);
                        platform = Some(text);
                    }
                    _ => {
                        kept.version = crate::api::extract::truncate(&text);
                        version = Some(text);
                    }
                }
            }
            "file" => {
                // The form puts the token and the fields first; check them before reading a byte
                // of the file.
                csrf::check(
                    state.config.serves_tls(),
                    headers,
                    &caller.user,
                    token.as_deref(),
                )?;
                use_case::may_change(caller)?;
                // Empty: the package's manifest says.
                let platform: Option<Platform> = match platform.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(text) => Some(
                        text.parse()
                            .map_err(|e: String| bad(format!("platform: {e}")))?,
                    ),
                };
                let version_text = version.as_deref().unwrap_or("").trim().to_owned();
                let version: Option<DriverVersion> = if version_text.is_empty() {
                    None
                } else {
                    Some(version_text.parse().map_err(|e| {
                        bad(format!(
                            "version: driver version {:?} {e}",
                            crate::api::extract::truncate(&version_text)
                        ))
                    })?)
                };
                let upload = Upload {
                    platform,
                    version,
                    declared: crate::api::packages::declared_length(headers),
                    carrier: Carrier::Form,
                    body: Box::pin(field.map_err(|e| crate::error::upload_cut_short(&e))),
                };
                let package = use_case::upload(state, caller, upload).await?;
                return Ok(format!("{} {}", package.platform, package.version));
            }
            _ => {}
        }
    }
    csrf::check(
        state.config.serves_tls(),
        headers,
        &caller.user,
        token.as_deref(),
    )?;
    Err(bad("choose a package file to upload".to_owned()))
}

#[derive(Template)]
#[template(path = "pages/downloads.html")]
struct DownloadsPage {
    layout: Layout,
    /// This build's agent, if it is where the server looks.
    agent: Option<AgentItem>,
    /// Where the server looked, when it found none.
    agent_missing: String,
    server: String,
    latest: Vec<PackageItem>,
    api: &'static str,
}

pub async fn downloads(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    headers: HeaderMap,
) -> WebResult<impl IntoResponse> {
    // The address the operator reached us on is the one the agent's /psserver= needs.
    let server = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() < 256)
        .unwrap_or("SERVER:8080")
        .to_owned();
    let latest = items(&state)
        .await?
        .into_iter()
        .filter(|p| p.latest)
        .collect();
    let location = agent::location(state.config.agent_binary.as_deref());
    let found = match &location {
        Some(path) => agent::find(path).await?,
        None => None,
    };
    let agent = found.map(|a| AgentItem {
        size: size(a.size),
        sha256: a.sha256,
    });
    let agent_missing = location.map_or_else(String::new, |p| p.display().to_string());
    Ok((
        StatusCode::OK,
        Html(DownloadsPage {
            layout: Layout::new("Downloads", "downloads", &caller),
            agent,
            agent_missing,
            server,
            latest,
            api: BASE,
        }),
    ))
}

pub struct AgentItem {
    size: String,
    sha256: String,
}

/// `GET /migrate/downloads/migrate-agent`: this build's agent binary (Linux x86-64), for signed-in
/// users, as the product's Downloads tab serves its agent. Its SHA-256 rides along in
/// `Repr-Digest` (RFC 9530) as on the driver packages, and on the page.
pub async fn agent_download(
    State(state): State<AppState>,
    WebUser(_caller): WebUser,
) -> WebResult<Response> {
    let missing = || {
        WebError(AppError::NotFound(
            "this server has no migrate-agent binary to offer: build it (cargo build --release -p migrate-agent) beside psserver, or give --agent-binary"
                .into(),
        ))
    };
    let path = agent::location(state.config.agent_binary.as_deref()).ok_or_else(missing)?;
    let binary = agent::find(&path).await?.ok_or_else(missing)?;
    let file = tokio::fs::File::open(&binary.path)
        .await
        .map_err(|e| WebError(e.into()))?;
    let digest = {
        use base64::Engine;
        let raw = hex::decode(&binary.sha256).unwrap_or_default();
        format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"migrate-agent\"".to_owned(),
        ),
        (header::CONTENT_LENGTH, binary.size.to_string()),
        (header::HeaderName::from_static("repr-digest"), digest),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}
