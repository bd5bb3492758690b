//! Operations: what REST clients poll while replications run, and while platforms are
//! discovered.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{Path, Query, parse_id};
use super::openapi::{BadRequest, NotFound, OperationList, Unauthorized};
use super::platforms::PlatformOperationView;
use super::{ApiBase, Link, Paging, cache, list_body, parse_param};
use crate::auth::Operator;
use crate::db::replications::{self, OperationFilter};
use crate::domain::model::{Operation, Step, Warning};
use crate::domain::replication::{MigrationType, OperationStatus, OperationType};
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// An operation on a contract (Prepare, a replication, a test cutover, a cutover) and its
/// progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationView {
    id: uuid::Uuid,
    transformation_id: uuid::Uuid,
    source_id: uuid::Uuid,
    operation_type: OperationType,
    #[schema(examples("Incremental replication (performed as server-sync)"))]
    title: String,
    /// The replication asked for (Migrate only).
    migration_type: Option<MigrationType>,
    /// The replication carried out: an incremental one is performed as a server-sync while
    /// `serverSyncRequired` is set.
    performed_as: Option<MigrationType>,
    status: OperationStatus,
    /// Percent.
    #[schema(maximum = 100)]
    progress: u8,
    /// The simulated steps.
    sub_operations: Vec<Step>,
    /// The **running** driver the replication used (none: without a driver).
    driver_version_used: Option<DriverVersion>,
    #[schema(examples("BlockBasedWithDriver"))]
    transfer_method: Option<String>,
    /// e.g. the reboot notification when a reboot was pending.
    warnings: Vec<Warning>,
    /// Why it failed.
    error: Option<String>,
    /// The options it was started with.
    #[schema(value_type = Object)]
    options: serde_json::Value,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    links: Vec<Link>,
}

impl OperationView {
    pub fn new(base: &ApiBase, o: Operation) -> Self {
        Self {
            links: vec![
                Link::new(format!("{}/operations/{}", base.0, o.id), "self", &["GET"]),
                Link::new(
                    format!("{}/transformations/{}", base.0, o.transformation_id),
                    "transformation",
                    &["GET"],
                ),
                Link::new(
                    format!("{}/sources/{}", base.0, o.source_id),
                    "source",
                    &["GET"],
                ),
                Link::new(
                    format!("{}/migrate/commands/{}", base.origin(), o.id),
                    "commandDetails",
                    &["GET"],
                ),
            ],
            title: o.title(),
            id: o.id,
            transformation_id: o.transformation_id,
            source_id: o.source_id,
            operation_type: o.operation_type,
            migration_type: o.migration_type,
            performed_as: o.performed_as,
            status: o.status,
            progress: o.progress,
            sub_operations: o.steps,
            driver_version_used: o.driver_version_used,
            transfer_method: o.transfer_method,
            warnings: o.warnings,
            error: o.error,
            options: o.options,
            created_at: o.created_at,
            started_at: o.started_at,
            completed_at: o.completed_at,
        }
    }
}

/// An operation in brief, inside a source or a transformation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationSummary {
    id: uuid::Uuid,
    operation_type: OperationType,
    migration_type: Option<MigrationType>,
    performed_as: Option<MigrationType>,
    status: OperationStatus,
    progress: u8,
    driver_version_used: Option<DriverVersion>,
    warnings: Vec<Warning>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    /// The operation's URL.
    href: String,
}

impl OperationSummary {
    pub fn new(base: &ApiBase, o: Operation) -> Self {
        Self {
            href: format!("{}/operations/{}", base.0, o.id),
            id: o.id,
            operation_type: o.operation_type,
            migration_type: o.migration_type,
            performed_as: o.performed_as,
            status: o.status,
            progress: o.progress,
            driver_version_used: o.driver_version_used,
            warnings: o.warnings,
            started_at: o.started_at,
            completed_at: o.completed_at,
        }
    }
}

/// An operation: what REST clients poll while it runs (a contract's, or a platform's).
#[utoipa::path(
    get,
    path = "/operations/{id}",
    operation_id = "getOperation",
    tag = "operations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The operation's id")),
    responses(
        (status = 200, description = "The operation: a contract's, or a platform's PreDiscovery", body = AnyOperationView),
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
    let id = parse_id(&id, "operation id")?;
    // Counts the poll for an after-N-polls transition (a write when it completes the operation).
    crate::service::poll(&state, id).await?;
    let key = cache::Key {
        kind: cache::Kind::Operation,
        id,
        base: base.0.clone(),
    };
    let state = &state;
    cache::json(state, key, move || async move {
        // A contract's operation first, as before: the poll of a replication pays for no more.
        match replications::find_operation(&mut state.db.reader().await?, id).await {
            Ok(op) => Ok(AnyOperationView::Contract(OperationView::new(&base, op))),
            // A platform's (its PreDiscovery), boxed: rare, and kept out of the common future.
            Err(AppError::NotFound(_)) => {
                let view = Box::pin(super::platforms::operation_view(state, &base, id)).await?;
                Ok(AnyOperationView::Platform(view))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

/// What `GET operations/{id}` answers: a contract's operation, or a platform's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AnyOperationView {
    Contract(OperationView),
    Platform(PlatformOperationView),
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OperationQuery {
    #[param(value_type = Option<uuid::Uuid>)]
    transformation_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    source_id: Option<String>,
    #[param(value_type = Option<OperationStatus>)]
    status: Option<String>,
}

/// The operations, newest first, filtered by transformation, source and status.
#[utoipa::path(
    get,
    path = "/operations",
    operation_id = "listOperations",
    tag = "operations",
    security(("basicAuth" = [])),
    params(Paging, OperationQuery),
    responses(
        (status = 200, description = "A page of operations", body = OperationList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<Paging>,
    Query(q): Query<OperationQuery>,
) -> Result<Response> {
    let page = paging.page()?;
    let id = |v: Option<&str>, what| {
        super::given(v, what)?
            .map(|v| parse_id(v, what))
            .transpose()
    };
    let filter = OperationFilter {
        transformation_id: id(q.transformation_id.as_deref(), "transformationId")?,
        source_id: id(q.source_id.as_deref(), "sourceId")?,
        status: parse_param(q.status.as_deref(), "status")?,
    };
    let (ops, total) =
        replications::list_operations(&mut state.db.reader().await?, &filter, page).await?;
    let views: Vec<OperationView> = ops
        .into_iter()
        .map(|o| OperationView::new(&base, o))
        .collect();
    let mut filters = Vec::new();
    if let Some(t) = filter.transformation_id {
        filters.push(("transformationId", t.to_string()));
    }
    if let Some(s) = filter.source_id {
        filters.push(("sourceId", s.to_string()));
    }
    if let Some(s) = filter.status {
        filters.push(("status", s.as_str().to_owned()));
    }
    let href = format!("{}/operations", base.0);
    Ok(axum::Json(list_body("operations", views, total, page, &href, &filters)).into_response())
}
