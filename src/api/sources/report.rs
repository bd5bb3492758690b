//! `PUT sources/{id}/driverState`: the agent's report of its machine's driver state.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::super::LazyApiBase;
use super::super::extract::{Path, RequestIdHeader, ReturnPreference, parse_id, truncate};
use super::super::openapi::{
    BadRequest, NotFound, Unauthorized, Unprocessable, UnsupportedMediaType,
};
use super::invalid;
use super::view::{SourceView, view_of};
use crate::auth::{self, Credentials};
use crate::db;
use crate::domain::driver::DriverState;
use crate::domain::platform::ControllerService;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};
use crate::service::sources;
use crate::state::AppState;
use migrate_core::wire::DriverStateBody;

fn version_field(value: Option<&str>, field: &str) -> Result<Option<DriverVersion>> {
    value
        .map(|v| {
            v.parse().map_err(|e| {
                AppError::bad_request(
                    "InvalidVersion",
                    format!("{field}: driver version {:?} {e}", truncate(v)),
                )
            })
        })
        .transpose()
}

/// A report's body: [`DriverStateBody`], read as every JSON body is (`extract::Json`), only
/// faster when it holds no member the type does not know, as an agent's report does not.
pub struct ReportBody(pub DriverStateBody);

impl axum::extract::FromRequest<AppState> for ReportBody {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self> {
        super::super::extract::read_body(req, state, read_report)
            .await
            .map(ReportBody)
    }
}

/// The body, read straight when it has only the members of [`DriverStateBody`]: the same value
/// as the general reading (`extract::from_json`), which notes every member it ignores and so
/// costs twice as much. Any other body gets the general reading, and its answer.
fn read_report(body: &[u8]) -> Result<(DriverStateBody, Vec<String>)> {
    /// [`DriverStateBody`]'s members and nothing else.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Known {
        #[serde(default)]
        installed_version: Option<String>,
        #[serde(default)]
        running_version: Option<String>,
        #[serde(default)]
        controller_service: Option<String>,
    }
    match serde_json::from_slice::<Known>(body) {
        Ok(known) => Ok((
            DriverStateBody {
                installed_version: known.installed_version,
                running_version: known.running_version,
                controller_service: known.controller_service,
            },
            Vec::new(),
        )),
        Err(_) => super::super::extract::from_json(body),
    }
}

/// Who sends a driver-state report: the machine's agent (its token) or a signed-in user.
pub enum Reporter {
    Agent(String),
    User(auth::Caller),
}

impl FromRequestParts<AppState> for Reporter {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match auth::credentials(parts)? {
            Some(Credentials::Bearer(token)) => Ok(Reporter::Agent(token)),
            _ => auth::caller(parts, &state.users).map(Reporter::User),
        }
    }
}

/// Report the machine's driver state
///
/// `PUT sources/{id}/driverState`: the agent's report after each change, with the `agentToken`
/// its registration answered (an operator may send one too). The server works out what changed:
/// a pending reboot raises a reboot-notification task on Windows, a driver that starts running
/// where none ran sets `serverSyncRequired`. With `Prefer: return=minimal` (RFC 7240), as the
/// agent sends it, the answer is `204 No Content`: the agent acts on the status alone.
#[utoipa::path(
    put,
    path = "/sources/{id}/driverState",
    operation_id = "reportDriverState",
    tag = "sources",
    security(("agentToken" = []), ("basicAuth" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The source's id"),
        ("Prefer" = Option<String>, Header, description = "`return=minimal`: answer `204 No Content` instead of the source (RFC 7240)"),
    ),
    request_body(content = DriverStateBody, example = json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.11", "controllerService": "running"})),
    responses(
        (status = 200, description = "The source with its new state", body = SourceView),
        (status = 204, description = "Stored (`Prefer: return=minimal`); `Preference-Applied: return=minimal`"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
    ),
)]
pub async fn report_driver_state(
    State(state): State<AppState>,
    reporter: Reporter,
    base: LazyApiBase,
    prefer: ReturnPreference,
    request_id: RequestIdHeader,
    Path(id): Path<String>,
    body: ReportBody,
) -> Result<Response> {
    let id = parse_id(&id, "source id")?;
    report(state, reporter, base, prefer, request_id, id, body).await
}

/// [`report_driver_state`] once its source's id is read (the shortcut reads it from the path).
async fn report(
    state: AppState,
    reporter: Reporter,
    base: LazyApiBase,
    prefer: ReturnPreference,
    request_id: RequestIdHeader,
    id: uuid::Uuid,
    ReportBody(body): ReportBody,
) -> Result<Response> {
    let reported = DriverState {
        installed: version_field(body.installed_version.as_deref(), "installedVersion")?,
        running: version_field(body.running_version.as_deref(), "runningVersion")?,
    };
    let controller: Option<ControllerService> = body
        .controller_service
        .as_deref()
        .map(|s| s.parse().map_err(|e| invalid("controllerService", e)))
        .transpose()?;
    let token_sha256 = match &reporter {
        Reporter::Agent(token) => Some(auth::token_sha256(token)),
        Reporter::User(_) => None,
    };
    let by = match &token_sha256 {
        Some(token_sha256) => db::sources::ReportedBy::Agent { token_sha256 },
        None => db::sources::ReportedBy::User,
    };
    let wanted = match prefer {
        ReturnPreference::Minimal => db::sources::Wanted::Nothing,
        ReturnPreference::Representation => db::sources::Wanted::Source,
    };
    let answer =
        sources::report_driver_state(&state.db, id, by, reported, controller, wanted).await?;
    let by = match &reporter {
        Reporter::Agent(_) => "agent",
        Reporter::User(caller) => caller.user.as_str(),
    };
    state.metrics.report_stored(answer.steady);
    let show = |v: Option<DriverVersion>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    if answer.steady {
        // Every agent says "nothing changed" every few minutes: a line each at info would bury
        // the changes.
        tracing::debug!(source = %id, by, "driver state reported, unchanged");
    } else {
        // The request's span is off at info for reports (see `server::request_span`).
        tracing::info!(
            source = %id,
            by,
            installed = %show(reported.installed),
            running = %show(reported.running),
            request_id = %request_id.as_str(),
            "driver state reported"
        );
    }
    match (prefer.applied(), answer.source) {
        (Some(applied), _) => {
            Ok((StatusCode::NO_CONTENT, [(PREFERENCE_APPLIED, applied)]).into_response())
        }
        (None, Some(source)) => {
            // Boxed, as the rarer answer: see `service::sources::report_driver_state`.
            let view = Box::pin(view_of(
                &state,
                &base.get(),
                source,
                answer.may_have_workload,
            ))
            .await?;
            Ok(axum::Json(view).into_response())
        }
        (None, None) => Err(AppError::internal("the stored report read back no source")),
    }
}

/// RFC 7240 §3: which of the client's preferences shaped the answer.
const PREFERENCE_APPLIED: axum::http::HeaderName =
    axum::http::HeaderName::from_static("preference-applied");

/// The route's answer to a request that did not come through the router (the shortcut of
/// `http::shortcut`, which read the source's `id` from the path as [`parse_id`] reads it): the
/// handler's own extractors, in the order axum runs them for it, so that every refusal is the
/// router's.
pub async fn report_without_router(
    state: AppState,
    id: uuid::Uuid,
    request: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    let (mut parts, body) = request.into_parts();
    let reporter = match Reporter::from_request_parts(&mut parts, &state).await {
        Ok(reporter) => reporter,
        Err(refused) => return refused.into_response(),
    };
    let Ok(base) = LazyApiBase::from_request_parts(&mut parts, &state).await;
    let Ok(prefer) = ReturnPreference::from_request_parts(&mut parts, &state).await;
    let Ok(request_id) = RequestIdHeader::from_request_parts(&mut parts, &state).await;
    let request = axum::extract::Request::from_parts(parts, body);
    let body = match ReportBody::from_request(request, &state).await {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    report(state, reporter, base, prefer, request_id, id, body)
        .await
        .into_response()
}
