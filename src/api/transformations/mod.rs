//! Transformations (migration contracts) and their operations, as in the real REST API:
//! `POST transformations/{id}?operation=Prepare|Migrate|TestCutover|EndTestCutover|Cutover|Abort`.
//! Their setting groups are in [`settings`].

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query, RawBody, parse_id, truncate};

mod options;
pub mod settings;
use super::openapi::{
    Accepted, BadRequest, Conflict, NotFound, OperationOptions, TransformationList, Unauthorized,
    UnsupportedMediaType,
};
use super::operations::OperationSummary;
use super::{ApiBase, Link, Paging, list_body};
use crate::auth::Operator;
use crate::db::{replications, sources};
use crate::domain::model::{Transformation, Warning};
use crate::domain::replication::{self as rules, OperationType};
use crate::domain::settings::StorageLayout;
use crate::error::{AppError, Result};
use crate::service::contracts::{self, NewContract};
use crate::service::operations;
use crate::state::AppState;
pub use options::parse_options;

/// Where the workload's replications stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ReplicationStatus {
    /// The contract's latest operation of any kind.
    last_operation: Option<OperationSummary>,
    /// The latest replication (a `Migrate` operation).
    last_replication: Option<OperationSummary>,
    server_sync_required: bool,
    warnings: Vec<Warning>,
}

/// A migration contract for one workload: the members the product documents ("Get
/// Transformation"), then the emulator's own.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationView {
    id: uuid::Uuid,
    /// The workload's name unless the create body named it.
    #[schema(examples("SB-W2012-R2-STD"))]
    display_name: String,
    source_id: uuid::Uuid,
    /// The target platform (a `platforms` id), null when none was given.
    platform_id: Option<uuid::Uuid>,
    /// Where the contract has settled; an operation running on it is in `runningOperation`.
    #[schema(value_type = rules::ContractState)]
    current_state: &'static str,
    tags: Option<Vec<String>>,
    /// In the documented order: `self`; `lastOperation` once an operation has run; one
    /// `operation-<Name>` for each operation allowed now (`operation-Abort` while one runs,
    /// `operation-Remove`, methods `["DEL"]` as the product spells them: `DELETE` on the
    /// transformation, while none runs); the setting groups `Storage`, `Networking`, `Schedule`,
    /// `TargetSettings`, `ReplicationSettings` and `ValidationResults`; then the emulator's
    /// `source` and `operations`.
    links: Vec<Link>,
    /// The workload's status as the pages show it.
    #[schema(examples("Migration Configured"))]
    status: &'static str,
    running_operation: Option<OperationSummary>,
    replication_status: ReplicationStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn view(state: &AppState, base: &ApiBase, t: Transformation) -> Result<TransformationView> {
    let mut r = state.db.reader().await?;
    let source = sources::find(&mut r, t.source_id).await?;
    let workload = replications::workload(&mut r, t.source_id).await?;
    let last_operation = replications::last_operation(&mut r, t.id).await?;
    drop(r);
    let facts = workload.facts.unwrap_or(rules::ContractFacts {
        state: t.state,
        running: None,
        has_full_replication: t.has_full_replication,
    });
    let href = format!("{}/transformations/{}", base.0, t.id);
    let mut links = vec![Link::new(&href, "self", &["GET"])];
    if let Some(last) = &last_operation {
        links.push(Link::new(
            format!("{}/operations/{}", base.0, last.id),
            "lastOperation",
            &["GET"],
        ));
    }
    for op in rules::allowed_operations(facts) {
        links.push(Link::new(
            format!("{href}?operation={op}"),
            format!("operation-{op}"),
            &["POST"],
        ));
    }
    if facts.running.is_some() {
        links.push(Link::new(
            format!("{href}?operation=Abort"),
            "operation-Abort",
            &["POST"],
        ));
    } else {
        // "DEL", as the product's documented answer spells the method (SPEC 9).
        links.push(Link::new(&href, "operation-Remove", &["DEL"]));
    }
    links.extend(settings::links(&href));
    links.push(Link::new(
        format!("{}/sources/{}", base.0, t.source_id),
        "source",
        &["GET"],
    ));
    links.push(Link::new(
        format!("{}/operations?transformationId={}", base.0, t.id),
        "operations",
        &["GET"],
    ));
    Ok(TransformationView {
        id: t.id,
        display_name: t.display_name,
        source_id: t.source_id,
        platform_id: t.platform_id,
        current_state: t.state.as_str(),
        tags: t.tags,
        links,
        status: workload.status(),
        running_operation: workload
            .active
            .clone()
            .map(|o| OperationSummary::new(base, o)),
        replication_status: ReplicationStatus {
            last_operation: last_operation.map(|o| OperationSummary::new(base, o)),
            last_replication: workload
                .last_replication
                .clone()
                .map(|o| OperationSummary::new(base, o)),
            server_sync_required: source.server_sync_required,
            warnings: workload.warnings(&source),
        },
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

/// A new contract for a source, as the product's "Create a Transformation" example sends it:
/// `{"platformId", "sourceId", "storageLayout": "sameAsSource"}`; only `sourceId` is needed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    #[schema(value_type = uuid::Uuid)]
    source_id: String,
    /// The target platform (a `platforms` id); null or left out for none.
    #[schema(value_type = Option<uuid::Uuid>)]
    platform_id: Option<String>,
    /// The Storage group's layout (default `sameAsSource`).
    storage_layout: Option<StorageLayout>,
    /// Default: the workload's host name.
    #[schema(schema_with = crate::domain::text::schema::name_255_or_null)]
    display_name: Option<String>,
    #[schema(schema_with = crate::domain::text::schema::tags_or_null)]
    tags: Option<Vec<String>>,
}

/// Configure a migration contract for a source (`currentState` `Configured`).
#[utoipa::path(
    post,
    path = "/transformations",
    operation_id = "createTransformation",
    tag = "transformations",
    security(("basicAuth" = [])),
    request_body(content = CreateBody, example = json!({"platformId": "50023e0d-91e3-4aef-b847-aa6400e4ffa2", "sourceId": "6f1c0c1e-0000-4000-8000-000000000000", "storageLayout": "sameAsSource"})),
    responses(
        (status = 201, description = "Configured; `Location` names it", body = TransformationView,
            headers(("Location" = String, description = "The new transformation's URL"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 415, response = UnsupportedMediaType),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Operator(caller): Operator,
    base: ApiBase,
    Json(body): Json<CreateBody>,
) -> Result<Response> {
    let new = NewContract {
        source_id: parse_id(&body.source_id, "sourceId")?,
        platform_id: body
            .platform_id
            .as_deref()
            .map(|p| parse_id(p, "platformId"))
            .transpose()?,
        display_name: body.display_name,
        tags: body.tags,
        storage_layout: body.storage_layout.unwrap_or_default(),
    };
    let t = contracts::configure(&state.db, &caller, new).await?;
    let location = format!("{}/transformations/{}", base.0, t.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(view(&state, &base, t).await?),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this source's contract.
    #[param(value_type = Option<uuid::Uuid>)]
    source_id: Option<String>,
}

/// The migration contracts.
#[utoipa::path(
    get,
    path = "/transformations",
    operation_id = "listTransformations",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(Paging, ListQuery),
    responses(
        (status = 200, description = "A page of transformations", body = TransformationList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<Paging>,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let page = paging.page()?;
    let source_id = crate::api::given(q.source_id.as_deref(), "sourceId")?
        .map(|s| parse_id(s, "sourceId"))
        .transpose()?;
    let (items, total) = replications::list(&mut state.db.reader().await?, source_id, page).await?;
    let mut views = Vec::with_capacity(items.len());
    for t in items {
        views.push(view(&state, &base, t).await?);
    }
    let filters: Vec<(&str, String)> = source_id
        .map(|s| ("sourceId", s.to_string()))
        .into_iter()
        .collect();
    let href = format!("{}/transformations", base.0);
    Ok(axum::Json(list_body(
        "transformations",
        views,
        total,
        page,
        &href,
        &filters,
    ))
    .into_response())
}

/// A migration contract: its state, replication status and the operations allowed now.
#[utoipa::path(
    get,
    path = "/transformations/{id}",
    operation_id = "getTransformation",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
    responses(
        (status = 200, description = "The transformation", body = TransformationView),
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
) -> Result<axum::Json<TransformationView>> {
    let id = parse_id(&id, "transformation id")?;
    let t = replications::find(&mut state.db.reader().await?, id).await?;
    Ok(axum::Json(view(&state, &base, t).await?))
}

/// Remove a migration contract and its settings (refused while an operation runs on it)
///
/// The transformation's `operation-Remove` link, offered while no operation runs.
#[utoipa::path(
    delete,
    path = "/transformations/{id}",
    operation_id = "deleteTransformation",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "transformation id")?;
    contracts::remove(&state.db, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct OperationParam {
    operation: Option<String>,
}

/// The real API's answer to a long action: not done yet, here is where to look.
pub fn accepted(
    base: &ApiBase,
    transformation_id: uuid::Uuid,
    operation_id: uuid::Uuid,
) -> Response {
    let op_href = format!("{}/operations/{operation_id}", base.0);
    let body = Accepted {
        completed_synchronously: false,
        // The rels the product's documented answers show (SPEC 9): the operation is `self`.
        operation: Link::new(&op_href, "self", &["GET"]),
        resource: Link::new(
            format!("{}/transformations/{transformation_id}", base.0),
            "resource",
            &["GET"],
        ),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&op_href) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Run an operation on a migration contract
///
/// `POST transformations/{id}?operation=Prepare|Migrate|TestCutover|EndTestCutover|Cutover|Abort`
/// starts the operation and answers 202 at once with a link to it; poll `operations/{id}`. The
/// body holds the operation's options as the real API sends them (booleans also as the strings
/// `"true"`/`"false"`); an empty body takes the defaults (Migrate: incremental after the first
/// full replication). The contract's `operation-<Name>` links say which operations it allows now.
#[utoipa::path(
    post,
    path = "/transformations/{id}",
    operation_id = "runTransformationOperation",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The transformation's id"),
        ("operation" = inline(crate::api::openapi::TransformationOperation), Query, description = "`Prepare`, `Migrate`, `TestCutover`, `EndTestCutover`, `Cutover` or `Abort`"),
    ),
    request_body(content = Option<OperationOptions>, description = "The operation's options, or nothing for the defaults", examples(
        ("Prepare" = (value = json!({"type": "MigrateOptions", "migrationType": "full"}))),
        ("Migrate" = (value = json!({"type": "MigrateOptions", "migrationType": "full"}))),
        ("TestCutover" = (value = json!({"type": "TestCutoverOptions", "shutdownTarget": "false", "performIncremental": "false"}))),
        ("Cutover" = (value = json!({"type": "CutoverOptions", "shutdownTarget": "false", "shutdownSource": "false", "performIncremental": "true"}))),
    )),
    responses(
        (status = 202, description = "Started: the operation to poll (also in `Location`)", body = Accepted,
            headers(("Location" = String, description = "The operation's URL"))),
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
    Query(q): Query<OperationParam>,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let id = parse_id(&id, "transformation id")?;
    let name = q
        .operation
        .as_deref()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| AppError::bad_request("MissingOperation", "say which operation to run: ?operation=Prepare|Migrate|TestCutover|EndTestCutover|Cutover|Abort"))?;
    if name.eq_ignore_ascii_case("Abort") {
        let op = operations::abort(&state, &caller, id).await?;
        return Ok(accepted(&base, id, op.id));
    }
    let op: OperationType = name.parse().map_err(|e: String| {
        AppError::bad_request("UnknownOperation", format!("{}: {e}", truncate(name)))
    })?;
    let (options, ignored) = parse_options(op, &body)?;
    if !ignored.is_empty() {
        super::extract::unknown_members(&state, headers.get(crate::server::REQUEST_ID), ignored)?;
    }
    let started = operations::run(&state, &caller, id, op, &options).await?;
    Ok(accepted(&base, id, started.id))
}
