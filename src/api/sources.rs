//! Source machines: add, register, read, list, delete, the agent's driver-state report and the
//! Reboot operation.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query, RequestIdHeader, ReturnPreference, parse_id, truncate};
use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, SourceList, Unauthorized, Unprocessable,
    UnsupportedMediaType,
};
use super::operations::OperationSummary;
use super::{ApiBase, Link, Paging, cache, list_body};
use crate::auth::{self, Admin, Credentials, Operator};
use crate::db;
use crate::domain::driver::DriverState;
use crate::domain::model::{NewSource, Source, Warning};
use crate::domain::platform::{ControllerService, OsFamily, Platform};
use crate::domain::version::DriverVersion;
use crate::domain::workload::Workload;
use crate::error::{AppError, Result};
use crate::service::sources;
use crate::state::AppState;
use migrate_core::wire::{DriverStateBody, Registered, SourceBody};

fn invalid(field: &str, message: impl std::fmt::Display) -> AppError {
    AppError::bad_request("InvalidField", format!("{field}: {message}"))
}

/// The checks of a body the wire contract defines (so not an inherent method).
trait Validate {
    fn validate(&self) -> Result<NewSource>;
}

impl Validate for SourceBody {
    fn validate(&self) -> Result<NewSource> {
        let host = self.host_name.trim();
        if host.is_empty() || host.len() > 255 || host.chars().any(char::is_control) {
            return Err(invalid(
                "hostName",
                "must be 1 to 255 characters without control characters",
            ));
        }
        let os_family: OsFamily = self.os_family.parse().map_err(|e| invalid("osFamily", e))?;
        let platform = match self.platform.as_deref() {
            None | Some("") => Platform::default_for(os_family),
            Some(p) => p.parse().map_err(|e| invalid("platform", e))?,
        };
        if platform.os_family() != os_family {
            return Err(invalid(
                "platform",
                format!("{platform} is not a {os_family} platform"),
            ));
        }
        let ip: std::net::IpAddr = self.ip_address.trim().parse().map_err(|_| {
            invalid(
                "ipAddress",
                format!("{:?} is not an IP address", truncate(&self.ip_address)),
            )
        })?;
        Ok(NewSource {
            host_name: host.to_owned(),
            os_family,
            platform,
            ip_address: ip.to_string(),
        })
    }
}

/// The block-based transfer driver on the machine; null versions mean none.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DriverView {
    installed_version: Option<DriverVersion>,
    running_version: Option<DriverVersion>,
    /// Installed differs from running on Windows: a reboot completes the change.
    reboot_pending: bool,
    /// The server's latest package for the machine's platform.
    latest_version: Option<DriverVersion>,
    /// The latest package is newer than the installed driver.
    upgrade_available: bool,
}

/// A source machine (a workload).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    id: uuid::Uuid,
    /// The agent's id for its machine, when an agent registered it.
    machine_id: Option<String>,
    host_name: String,
    os_family: OsFamily,
    platform: Platform,
    ip_address: String,
    #[schema(value_type = crate::domain::model::AddedBy)]
    added_by: &'static str,
    controller_service: ControllerService,
    driver: DriverView,
    /// The next replication must compare every block (a driver started where none ran).
    server_sync_required: bool,
    /// The workload's status as the pages show it, e.g. `Not Configured`, `Running First Replication`.
    #[schema(examples("Not Configured"))]
    status: &'static str,
    /// Pending reboot, server-sync required, and the warnings of the last replication.
    warnings: Vec<Warning>,
    transformation_id: Option<uuid::Uuid>,
    last_replication: Option<OperationSummary>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_report_at: Option<DateTime<Utc>>,
    links: Vec<Link>,
}

impl SourceView {
    pub fn new(
        base: ApiBase,
        s: Source,
        latest: Option<DriverVersion>,
        workload: &Workload,
    ) -> Self {
        let href = format!("{}/sources/{}", base.0, s.id);
        let mut links = vec![
            Link::new(&href, "self", &["GET", "DELETE"]),
            Link::new(format!("{href}/driverState"), "driverState", &["PUT"]),
            Link::new(
                format!("{href}?operation=Reboot"),
                "operation-Reboot",
                &["POST"],
            ),
            Link::new(
                format!("{}/tasks?sourceId={}", base.0, s.id),
                "tasks",
                &["GET"],
            ),
            Link::new(
                format!("{}/events?sourceId={}", base.0, s.id),
                "events",
                &["GET"],
            ),
            Link::new(
                format!("{}/driverPackages/latest?platform={}", base.0, s.platform),
                "latestDriverPackage",
                &["GET"],
            ),
        ];
        if let Some(t) = &workload.transformation {
            links.push(Link::new(
                format!("{}/transformations/{}", base.0, t.id),
                "transformation",
                &["GET"],
            ));
        }
        Self {
            id: s.id,
            driver: DriverView {
                installed_version: s.driver.installed,
                running_version: s.driver.running,
                reboot_pending: s.reboot_pending(),
                latest_version: latest,
                upgrade_available: matches!((latest, s.driver.installed), (Some(l), Some(i)) if l > i),
            },
            server_sync_required: s.server_sync_required,
            status: workload.status(),
            warnings: workload.warnings(&s),
            transformation_id: workload.transformation.as_ref().map(|t| t.id),
            last_replication: workload
                .last_replication
                .clone()
                .map(|o| OperationSummary::new(base, o)),
            machine_id: s.machine_id,
            host_name: s.host_name,
            os_family: s.os_family,
            platform: s.platform,
            ip_address: s.ip_address,
            added_by: s.added_by.as_str(),
            controller_service: s.controller_service,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_report_at: s.last_report_at,
            links,
        }
    }
}

async fn view(state: &AppState, base: ApiBase, source: Source) -> Result<SourceView> {
    view_of(state, base, source, true).await
}

/// The source's view; `may_have_workload` false when the caller knows there is no
/// transformation, which saves the workload's read.
async fn view_of(
    state: &AppState,
    base: ApiBase,
    source: Source,
    may_have_workload: bool,
) -> Result<SourceView> {
    let latest = state
        .db
        .catalog()
        .await?
        .latest(source.platform)
        .map(|p| p.version);
    let workload = if may_have_workload {
        db::replications::workload(&mut state.db.reader().await?, source.id).await?
    } else {
        Workload::default()
    };
    Ok(SourceView::new(base, source, latest, &workload))
}

/// The source machines, oldest first.
#[utoipa::path(
    get,
    path = "/sources",
    operation_id = "listSources",
    tag = "sources",
    security(("basicAuth" = [])),
    params(Paging),
    responses(
        (status = 200, description = "A page of sources", body = SourceList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<Paging>,
) -> Result<Response> {
    let page = paging.page()?;
    // The catalog first: a request holds one read connection at a time.
    let latest: HashMap<Platform, DriverVersion> = state.db.catalog().await?.latest_versions();
    let mut r = state.db.reader().await?;
    let (sources, total) = db::sources::list(&mut r, page).await?;
    let mut views = Vec::with_capacity(sources.len());
    for s in sources {
        let workload = db::replications::workload(&mut r, s.id).await?;
        let l = latest.get(&s.platform).copied();
        views.push(SourceView::new(base, s, l, &workload));
    }
    let href = format!("{}/sources", base.0);
    Ok(axum::Json(list_body("sources", views, total, page, &href, &[])).into_response())
}

/// A source machine: its driver state, status and warnings.
#[utoipa::path(
    get,
    path = "/sources/{id}",
    operation_id = "getSource",
    tag = "sources",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The source's id")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = parse_id(&id, "source id")?;
    let key = cache::Key {
        kind: cache::Kind::Source,
        id,
        base: base.0,
    };
    cache::json(&state, key, async {
        let source = db::sources::find(&mut state.db.reader().await?, id).await?;
        view(&state, base, source).await
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct OperationQuery {
    operation: Option<String>,
}

/// A source, with the agent's token when it was a registration (the wire contract's answer).
type RegisteredView = Registered<SourceView>;

/// Add a source, or register an agent's machine
///
/// `POST sources` adds a source (answered 201). `POST sources?operation=Register` is the agent's
/// registration, with its own `machineId`: idempotent per machine id (201 the first time, 200
/// after), and it answers the source with an `agentToken` for the driver-state reports. The
/// server keeps only the token's hash; each registration makes a new one.
#[utoipa::path(
    post,
    path = "/sources",
    operation_id = "createSource",
    tag = "sources",
    security(("basicAuth" = [])),
    params(("operation" = Option<String>, Query, description = "`Register` for an agent's registration; none to add a source")),
    request_body(content = SourceBody, example = json!({"hostName": "web01", "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.21"})),
    responses(
        (status = 201, description = "Added (or registered for the first time)", body = RegisteredView),
        (status = 200, description = "Registered again: the same source, a new token", body = RegisteredView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 415, response = UnsupportedMediaType),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Operator(caller): Operator,
    base: ApiBase,
    Query(q): Query<OperationQuery>,
    Json(body): Json<SourceBody>,
) -> Result<Response> {
    let new = body.validate()?;
    match q.operation.as_deref() {
        None | Some("") => {
            if body.machine_id.is_some() {
                return Err(invalid(
                    "machineId",
                    "only an agent's registration (?operation=Register) carries a machine id",
                ));
            }
            let source = sources::add(&state.db, &new).await?;
            tracing::info!(source = %source.id, host = %source.host_name, by = %caller.user, "source added");
            let view = view(&state, base, source).await?;
            Ok((StatusCode::CREATED, axum::Json(view)).into_response())
        }
        Some(op) if op.eq_ignore_ascii_case("Register") => {
            let machine_id = body
                .machine_id
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .ok_or_else(|| invalid("machineId", "is required to register"))?;
            if machine_id.len() > 128 || machine_id.chars().any(char::is_control) {
                return Err(invalid(
                    "machineId",
                    "must be at most 128 characters without control characters",
                ));
            }
            let token = auth::new_agent_token();
            let registered =
                sources::register(&state.db, machine_id, &new, &auth::token_sha256(&token)).await?;
            tracing::info!(source = %registered.source.id, host = %registered.source.host_name, first = registered.created, "agent registered");
            let status = if registered.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = RegisteredView {
                source: view(&state, base, registered.source).await?,
                agent_token: token,
            };
            Ok((status, axum::Json(body)).into_response())
        }
        Some(other) => Err(AppError::bad_request(
            "UnknownOperation",
            format!(
                "unknown operation {:?} on sources; expected Register",
                truncate(other)
            ),
        )),
    }
}

/// Emulate a reboot of the source machine
///
/// `POST sources/{id}?operation=Reboot`: the installed driver becomes the running one, as a
/// reboot of the real machine would make it; a pending reboot notification is resolved.
#[utoipa::path(
    post,
    path = "/sources/{id}",
    operation_id = "runSourceOperation",
    tag = "sources",
    security(("basicAuth" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The source's id"),
        ("operation" = String, Query, description = "`Reboot`"),
    ),
    responses(
        (status = 200, description = "The source after the reboot", body = SourceView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn operation(
    State(state): State<AppState>,
    Operator(caller): Operator,
    base: ApiBase,
    Path(id): Path<String>,
    Query(q): Query<OperationQuery>,
) -> Result<axum::Json<SourceView>> {
    let id = parse_id(&id, "source id")?;
    match q.operation.as_deref() {
        Some(op) if op.eq_ignore_ascii_case("Reboot") => {
            let source = sources::reboot(&state.db, id).await?;
            tracing::info!(source = %id, by = %caller.user, "reboot emulated");
            Ok(axum::Json(view(&state, base, source).await?))
        }
        Some(other) => Err(AppError::bad_request(
            "UnknownOperation",
            format!(
                "unknown operation {:?} on a source; expected Reboot",
                truncate(other)
            ),
        )),
        None => Err(AppError::bad_request(
            "MissingOperation",
            "say which operation to run: ?operation=Reboot",
        )),
    }
}

/// Remove a source with its tasks, transformation and operations (administrators only).
#[utoipa::path(
    delete,
    path = "/sources/{id}",
    operation_id = "deleteSource",
    tag = "sources",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The source's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "source id")?;
    sources::delete(&state.db, id).await?;
    tracing::info!(source = %id, by = %caller.user, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}

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
    base: ApiBase,
    prefer: ReturnPreference,
    request_id: RequestIdHeader,
    Path(id): Path<String>,
    Json(body): Json<DriverStateBody>,
) -> Result<Response> {
    let id = parse_id(&id, "source id")?;
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
            let view = view_of(&state, base, source, answer.may_have_workload).await?;
            Ok(axum::Json(view).into_response())
        }
        (None, None) => Err(AppError::internal("the stored report read back no source")),
    }
}

/// RFC 7240 §3: which of the client's preferences shaped the answer.
const PREFERENCE_APPLIED: axum::http::HeaderName =
    axum::http::HeaderName::from_static("preference-applied");
