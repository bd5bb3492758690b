//! Tasks (dismiss) and events.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::extract::{Path, Query, parse_id, truncate};
use super::openapi::{Accepted, BadRequest, Conflict, EventList, NotFound, TaskList, Unauthorized};
use super::{ApiBase, KeysetPaging, Link, keyset_list_body, parse_param};
use crate::auth::{Caller, Operator};
use crate::db;
use crate::db::events::EventFilter;
use crate::db::tasks::TaskFilter;
use crate::domain::model::{Event, Task, TaskKind, TaskState};
use crate::domain::paging::Paged;
use crate::error::{AppError, Result};
use crate::service::tasks;
use crate::state::AppState;

/// Something that needs an operator: a reboot notification, or marking a test cutover.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    id: uuid::Uuid,
    #[schema(value_type = TaskKind)]
    kind: &'static str,
    source_id: uuid::Uuid,
    #[schema(examples("Reboot required to complete the driver installation"))]
    message: String,
    #[schema(value_type = TaskState)]
    state: &'static str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    links: Vec<Link>,
}

impl TaskView {
    pub fn new(base: &ApiBase, t: Task) -> Self {
        let href = format!("{}/tasks/{}", base.0, t.id);
        let mut links = vec![
            Link::new(&href, "self", &["GET"]),
            Link::new(
                format!("{}/sources/{}", base.0, t.source_id),
                "source",
                &["GET"],
            ),
        ];
        if t.state == TaskState::Active {
            // A Mark Test as Success/Failure task is completed by executing it (SPEC 9, Tasks);
            // a reboot notification only by the reboot.
            if matches!(
                t.kind,
                TaskKind::MarkTestSuccess | TaskKind::MarkTestFailure
            ) {
                links.push(Link::new(
                    format!("{href}?operation=Execute"),
                    "operation-Execute",
                    &["POST"],
                ));
            }
            links.push(Link::new(
                format!("{href}?operation=Dismiss"),
                "operation-Dismiss",
                &["POST"],
            ));
        }
        Self {
            id: t.id,
            kind: t.kind.as_str(),
            source_id: t.source_id,
            message: t.message,
            state: t.state.as_str(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            links,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    #[param(value_type = Option<TaskState>)]
    state: Option<String>,
    /// Only this source's tasks.
    #[param(value_type = Option<uuid::Uuid>)]
    source_id: Option<String>,
    #[param(value_type = Option<TaskKind>)]
    kind: Option<String>,
}

fn source_param(value: Option<&str>) -> Result<Option<uuid::Uuid>> {
    super::given(value, "sourceId")?
        .map(|v| parse_id(v, "sourceId"))
        .transpose()
}

/// The tasks, newest first, filtered by state, source and kind.
#[utoipa::path(
    get,
    path = "/tasks",
    operation_id = "listTasks",
    tag = "tasks",
    security(("basicAuth" = [])),
    params(KeysetPaging, TaskQuery),
    responses(
        (status = 200, description = "A page of tasks", body = TaskList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<KeysetPaging>,
    Query(q): Query<TaskQuery>,
) -> Result<Response> {
    let cursor = paging.cursor()?;
    let filter = TaskFilter {
        state: parse_param(q.state.as_deref(), "state")?,
        source_id: source_param(q.source_id.as_deref())?,
        kind: parse_param(q.kind.as_deref(), "kind")?,
    };
    let (page, total) = db::tasks::list(&mut state.db.reader().await?, &filter, cursor).await?;
    let page = Paged {
        items: page
            .items
            .into_iter()
            .map(|t| TaskView::new(&base, t))
            .collect(),
        next: page.next,
        prev: page.prev,
    };
    let mut filters = Vec::new();
    if let Some(s) = filter.state {
        filters.push(("state", s.as_str().to_owned()));
    }
    if let Some(id) = filter.source_id {
        filters.push(("sourceId", id.to_string()));
    }
    if let Some(k) = filter.kind {
        filters.push(("kind", k.as_str().to_owned()));
    }
    let href = format!("{}/tasks", base.0);
    Ok(axum::Json(keyset_list_body(
        "tasks", page, total, cursor, &href, &filters,
    ))
    .into_response())
}

/// A task.
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    operation_id = "getTask",
    tag = "tasks",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
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
) -> Result<axum::Json<TaskView>> {
    let id = parse_id(&id, "task id")?;
    Ok(axum::Json(TaskView::new(
        &base,
        db::tasks::get(&mut state.db.reader().await?, id).await?,
    )))
}

#[derive(Debug, Deserialize)]
pub struct OperationQuery {
    operation: Option<String>,
}

/// Dismiss a task, or execute a test-cutover task
///
/// `POST tasks/{id}?operation=Dismiss` dismisses an active task. `?operation=Execute` on a "Mark
/// Test as Success" / "Mark Test as Failure" task records the test's result and ends the test
/// cutover: it answers 202 with the operation that does it.
#[utoipa::path(
    post,
    path = "/tasks/{id}",
    operation_id = "runTaskOperation",
    tag = "tasks",
    security(("basicAuth" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The task's id"),
        ("operation" = inline(crate::api::openapi::TaskOperation), Query, description = "`Dismiss` or `Execute`"),
    ),
    responses(
        (status = 200, description = "Dismissed: the task", body = TaskView),
        (status = 202, description = "Executed: the operation ending the test cutover", body = Accepted),
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
) -> Result<Response> {
    let id = parse_id(&id, "task id")?;
    match q.operation.as_deref() {
        Some(op) if op.eq_ignore_ascii_case("Dismiss") => {
            let task = tasks::dismiss(&state.db, &caller, id).await?;
            Ok(axum::Json(TaskView::new(&base, task)).into_response())
        }
        Some(op) if op.eq_ignore_ascii_case("Execute") => execute(&state, &base, id, &caller).await,
        Some(other) => Err(AppError::bad_request(
            "UnknownOperation",
            format!(
                "unknown operation {:?} on a task; expected Dismiss or Execute",
                truncate(other)
            ),
        )),
        None => Err(AppError::bad_request(
            "MissingOperation",
            "say which operation to run: ?operation=Dismiss",
        )),
    }
}

async fn execute(
    state: &AppState,
    base: &ApiBase,
    id: uuid::Uuid,
    by: &Caller,
) -> Result<Response> {
    let op = tasks::execute(state, by, id).await?;
    Ok(super::transformations::accepted(
        base,
        op.transformation_id,
        op.id,
    ))
}

/// A line of the event log: what happened, when, to which source.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    id: uuid::Uuid,
    /// e.g. `SourceRegistered`, `DriverInstalled`, `RebootDetected`, `TaskCreated`.
    kind: String,
    source_id: Option<uuid::Uuid>,
    message: String,
    created_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            source_id: e.source_id,
            message: e.message,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this source's events.
    #[param(value_type = Option<uuid::Uuid>)]
    source_id: Option<String>,
    /// Only events of this kind.
    #[param(min_length = 1)]
    kind: Option<String>,
}

/// The event log, newest first.
#[utoipa::path(
    get,
    path = "/events",
    operation_id = "listEvents",
    tag = "tasks",
    security(("basicAuth" = [])),
    params(KeysetPaging, EventQuery),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<KeysetPaging>,
    Query(q): Query<EventQuery>,
) -> Result<Response> {
    let cursor = paging.cursor()?;
    let filter = EventFilter {
        source_id: source_param(q.source_id.as_deref())?,
        kind: super::given(q.kind.as_deref(), "kind")?.map(str::to_owned),
    };
    let (page, total) = db::events::list(&mut state.db.reader().await?, &filter, cursor).await?;
    let page = Paged {
        items: page
            .items
            .into_iter()
            .map(EventView::from)
            .collect::<Vec<_>>(),
        next: page.next,
        prev: page.prev,
    };
    let mut filters = Vec::new();
    if let Some(id) = filter.source_id {
        filters.push(("sourceId", id.to_string()));
    }
    if let Some(k) = &filter.kind {
        filters.push(("kind", k.clone()));
    }
    let href = format!("{}/events", base.0);
    Ok(axum::Json(keyset_list_body(
        "events", page, total, cursor, &href, &filters,
    ))
    .into_response())
}
