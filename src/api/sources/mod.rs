//! Source machines: add, register, read, list, delete and the Reboot operation; the agent's
//! driver-state report is in `report`, the source's view in `view`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{Json, Path, Query, parse_id, truncate};
use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, SourceList, Unauthorized, UnsupportedMediaType,
};
use super::{ApiBase, KeysetPaging, cache, keyset_list_body};
use crate::auth::{self, Admin, Operator};
use crate::db;
use crate::domain::model::NewSource;
use crate::domain::paging::Paged;
use crate::domain::platform::{OsFamily, Platform};
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};
use crate::service::sources;
use crate::state::AppState;
use migrate_core::wire::{Registered, SourceBody};

pub mod report;
mod view;

pub use report::{report_driver_state, report_without_router};

pub use view::SourceView;
use view::view;

/// The route of an agent's report, under a base. The shortcut of `http::shortcut` takes it too.
pub const DRIVER_STATE: &str = "/sources/{id}/driverState";

pub(super) fn invalid(field: &str, message: impl std::fmt::Display) -> AppError {
    AppError::bad_request("InvalidField", format!("{field}: {message}"))
}

/// The checks of a body the wire contract defines (so not an inherent method).
trait Validate {
    fn validate(&self) -> Result<NewSource>;
}

impl Validate for SourceBody {
    fn validate(&self) -> Result<NewSource> {
        let host = crate::domain::text::check_name(&self.host_name, 255)
            .map_err(|why| invalid("hostName", why))?;
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

/// The source machines, oldest first.
#[utoipa::path(
    get,
    path = "/sources",
    operation_id = "listSources",
    tag = "sources",
    security(("basicAuth" = [])),
    params(KeysetPaging),
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
    Query(paging): Query<KeysetPaging>,
) -> Result<Response> {
    let cursor = paging.cursor()?;
    // The catalog first: a request holds one read connection at a time.
    let latest: HashMap<Platform, DriverVersion> = state.db.catalog().await?.latest_versions();
    let mut r = state.db.reader().await?;
    let (page, total) = db::sources::list(&mut r, cursor).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for s in page.items {
        let workload = db::replications::workload(&mut r, s.id).await?;
        let l = latest.get(&s.platform).copied();
        items.push(SourceView::new(&base, s, l, &workload));
    }
    let page = Paged {
        items,
        next: page.next,
        prev: page.prev,
    };
    let href = format!("{}/sources", base.0);
    Ok(axum::Json(keyset_list_body("sources", page, total, cursor, &href, &[])).into_response())
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
        base: base.0.clone(),
    };
    let state = &state;
    cache::json(state, key, move || async move {
        let source = db::sources::find(&mut state.db.reader().await?, id).await?;
        view(state, &base, source).await
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
    params(("operation" = inline(Option<crate::api::openapi::RegisterOperation>), Query, description = "`Register` for an agent's registration; none to add a source")),
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
        None => {
            if body.machine_id.is_some() {
                return Err(invalid(
                    "machineId",
                    "only an agent's registration (?operation=Register) carries a machine id",
                ));
            }
            let source = sources::add(&state.db, &new).await?;
            tracing::info!(source = %source.id, host = %source.host_name, by = %caller.user, "source added");
            let view = view(&state, &base, source).await?;
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
                source: view(&state, &base, registered.source).await?,
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
        ("operation" = inline(crate::api::openapi::SourceOperation), Query, description = "`Reboot`"),
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
            Ok(axum::Json(view(&state, &base, source).await?))
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
