//! `/migrate/workloads` (the columns of the product's Workloads page) and one workload's page:
//! driver status, replication status, its commands, and buttons for the allowed operations.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::dashboard::{EventItem, TaskItem, event_items};
use super::view::{Badge, Pager, Time, performed_as};
use super::{Html, Layout, WebError, WebResult, WebUser, csrf, page_id};
use crate::db::replications::{self, OperationFilter};
use crate::db::{ReadConn, pages, sources};
use crate::domain::model::{Operation, Source, TaskState};
use crate::domain::paging::{Cursor, Page, Start};
use crate::domain::platform::{ControllerService, OsFamily};
use crate::domain::replication::{self as rules, MigrationType, OperationType};
use crate::domain::workload::Workload;
use crate::error::AppError;
use crate::service::{contracts, operations, settings};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

/// The agent counts as online while it has reported within this long.
const ONLINE_WINDOW: Duration = Duration::hours(1);

fn version(v: Option<crate::domain::version::DriverVersion>) -> String {
    v.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

/// An operation in brief: what ran, how it ended, when, and where its Command Details are.
pub struct OpItem {
    pub href: String,
    pub title: String,
    pub performed_as: String,
    pub status: Badge,
    pub progress: u8,
    pub started: Option<Time>,
    pub completed: Option<Time>,
    pub warnings: Vec<Badge>,
}

impl OpItem {
    pub fn new(op: &Operation) -> Self {
        Self {
            href: format!("/migrate/commands/{}", op.id),
            title: op.title(),
            performed_as: performed_as(op),
            status: Badge::operation(op.status),
            progress: op.progress,
            started: Time::opt(op.started_at.or(Some(op.created_at))),
            completed: Time::opt(op.completed_at),
            warnings: op.warnings.iter().map(Badge::warning).collect(),
        }
    }
}

/// One row of the Workloads page.
pub struct Row {
    pub id: uuid::Uuid,
    pub host: String,
    pub platform: &'static str,
    pub ip: String,
    pub active_tasks: i64,
    pub online: bool,
    pub schedule: &'static str,
    pub status: &'static str,
    pub badges: Vec<Badge>,
    pub last: Option<OpItem>,
    pub next: Option<Time>,
    pub installed: String,
    pub running: String,
}

fn online(s: &Source) -> bool {
    s.controller_service == ControllerService::Running
        || s.last_report_at
            .is_some_and(|t| Utc::now() - t < ONLINE_WINDOW)
}

/// The Schedule and Next Replication columns, from the contract's Schedule group.
async fn schedule(r: &mut ReadConn, w: &Workload) -> WebResult<(&'static str, Option<Time>)> {
    let (Some(t), Some(facts)) = (&w.transformation, w.facts) else {
        return Ok(("None", None));
    };
    let schedule = settings::current(r, t).await?.schedule;
    Ok((
        schedule.column(facts),
        Time::opt(schedule.next_replication(facts, Utc::now())),
    ))
}

async fn row(r: &mut ReadConn, s: Source) -> WebResult<Row> {
    let w = replications::workload(r, s.id).await?;
    let (schedule, next) = schedule(r, &w).await?;
    Ok(Row {
        id: s.id,
        active_tasks: pages::active_task_count(r, s.id).await?,
        online: online(&s),
        schedule,
        next,
        status: w.status(),
        badges: w.warnings(&s).iter().map(Badge::warning).collect(),
        last: w.last_replication.as_ref().map(OpItem::new),
        installed: version(s.driver.installed),
        running: version(s.driver.running),
        platform: s.platform.as_str(),
        ip: s.ip_address,
        host: s.host_name,
    })
}

pub struct ListView {
    pub rows: Vec<Row>,
    pub pager: Pager,
    pub live_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    offset: Option<String>,
}

async fn load_list(state: &AppState, q: &ListQuery) -> WebResult<ListView> {
    let offset = q
        .offset
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| {
            o.parse::<u32>()
                .map_err(|_| AppError::bad_request("InvalidParameter", "offset: not a number"))
        })
        .transpose()?
        .unwrap_or(0);
    let mut r = state.db.reader().await?;
    let cursor = Cursor {
        start: Start::Offset(offset),
        limit: PAGE_SIZE,
    };
    let (list, total) = sources::list(&mut r, cursor).await?;
    let mut rows = Vec::with_capacity(list.items.len());
    for s in list.items {
        rows.push(row(&mut r, s).await?);
    }
    Ok(ListView {
        pager: Pager::new(
            "/migrate/workloads?",
            offset,
            PAGE_SIZE,
            rows.len(),
            total,
            false,
        ),
        live_url: format!("/migrate/live/workloads?offset={offset}"),
        rows,
    })
}

#[derive(Template)]
#[template(path = "pages/workloads.html")]
struct ListPage {
    layout: Layout,
    v: ListView,
}

#[derive(Template)]
#[template(path = "partials/workload_rows.html")]
struct ListLive {
    v: ListView,
}

pub async fn list(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<ListQuery>,
) -> WebResult<Html<impl Template>> {
    Ok(Html(ListPage {
        layout: Layout::new("Workloads", "workloads", &caller),
        v: load_list(&state, &q).await?,
    }))
}

pub async fn live_list(
    State(state): State<AppState>,
    _: WebUser,
    Query(q): Query<ListQuery>,
) -> WebResult<Html<impl Template>> {
    Ok(Html(ListLive {
        v: load_list(&state, &q).await?,
    }))
}

/// A button for an operation the contract allows now.
pub struct Action {
    pub operation: &'static str,
    pub migration_type: &'static str,
    pub label: &'static str,
    /// Abort is drawn apart from the others.
    pub danger: bool,
}

fn actions(w: &Workload) -> Vec<Action> {
    let action = |operation, migration_type, label| Action {
        operation,
        migration_type,
        label,
        danger: false,
    };
    let Some(facts) = w.facts else {
        return vec![action("Configure", "", "Configure migration")];
    };
    let mut out = Vec::new();
    for op in rules::allowed_operations(facts) {
        match op {
            OperationType::Prepare => out.push(action("Prepare", "", "Prepare workload")),
            OperationType::Migrate => {
                for (m, label) in [
                    (MigrationType::Full, "Run full replication"),
                    (MigrationType::Incremental, "Run incremental replication"),
                    (MigrationType::ServerSync, "Run server-sync replication"),
                ] {
                    if rules::check_allowed(facts, op, Some(m)).is_ok() {
                        out.push(action("Migrate", m.as_str(), label));
                    }
                }
            }
            OperationType::TestCutover => out.push(action("TestCutover", "", "Test cutover")),
            OperationType::EndTestCutover => {
                out.push(action("EndTestCutover", "", "End test cutover"))
            }
            OperationType::Cutover => out.push(action("Cutover", "", "Run cutover")),
        }
    }
    if facts.running.is_some() {
        out.push(Action {
            danger: true,
            ..action("Abort", "", "Abort")
        });
    }
    out
}

pub struct Detail {
    pub id: uuid::Uuid,
    pub host: String,
    pub os: &'static str,
    pub platform: &'static str,
    pub ip: String,
    pub added_by: &'static str,
    pub online: bool,
    pub controller: &'static str,
    pub installed: String,
    pub running: String,
    pub latest: String,
    pub upgrade_available: bool,
    pub reboot_pending: bool,
    pub last_report: Option<Time>,
    pub contract: &'static str,
    pub status: &'static str,
    pub badges: Vec<Badge>,
    pub warnings: Vec<crate::domain::model::Warning>,
    pub last: Option<OpItem>,
    pub running_op: bool,
    pub commands: Vec<OpItem>,
    pub actions: Vec<Action>,
    pub tasks: Vec<TaskItem>,
    pub events: Vec<EventItem>,
    pub live_url: String,
}

async fn load(state: &AppState, id: uuid::Uuid) -> WebResult<Detail> {
    // Before the read handle: the catalog may read too, and a request holds one read connection
    // at a time, so that busy pages cannot take the whole pool and wait on each other.
    let catalog = state.db.catalog().await?;
    let mut r = state.db.reader().await?;
    let s = sources::find(&mut r, id).await.map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound(format!("there is no workload {id}")),
        other => other,
    })?;
    let w = replications::workload(&mut r, id).await?;
    let latest = catalog.latest(s.platform).map(|p| p.version);
    let filter = OperationFilter {
        source_id: Some(id),
        ..OperationFilter::default()
    };
    let (ops, _) = replications::list_operations(
        &mut r,
        &filter,
        Page {
            offset: 0,
            limit: 20,
        },
    )
    .await?;
    let (tasks, _) = pages::tasks(
        &mut r,
        Some(TaskState::Active),
        Some(id),
        Page {
            offset: 0,
            limit: 10,
        },
    )
    .await?;
    drop(r);
    let events = event_items(state, Some(id), 10).await?;
    Ok(Detail {
        id,
        os: match s.os_family {
            OsFamily::Windows => "Windows",
            OsFamily::Linux => "Linux",
        },
        platform: s.platform.display_name(),
        added_by: match s.added_by {
            crate::domain::model::AddedBy::Agent => "Registered by its Migrate Agent",
            crate::domain::model::AddedBy::Api => "Added through the API",
        },
        online: online(&s),
        controller: match s.controller_service {
            ControllerService::NotInstalled => "Not installed",
            ControllerService::Installed => "Installed, not running",
            ControllerService::Running => "Running",
        },
        installed: version(s.driver.installed),
        running: version(s.driver.running),
        latest: version(latest),
        upgrade_available: matches!((latest, s.driver.installed), (Some(l), Some(i)) if l > i),
        reboot_pending: s.reboot_pending(),
        last_report: Time::opt(s.last_report_at),
        contract: w
            .transformation
            .as_ref()
            .map_or("Not configured", |t| t.state.as_str()),
        status: w.status(),
        badges: w.warnings(&s).iter().map(Badge::warning).collect(),
        warnings: w.warnings(&s),
        last: w.last_replication.as_ref().map(OpItem::new),
        running_op: w.active.is_some(),
        commands: ops.iter().map(OpItem::new).collect(),
        actions: actions(&w),
        tasks: tasks.into_iter().map(TaskItem::new).collect(),
        events,
        live_url: format!("/migrate/live/workloads/{id}"),
        ip: s.ip_address,
        host: s.host_name,
    })
}

#[derive(Template)]
#[template(path = "pages/workload.html")]
struct DetailPage {
    layout: Layout,
    w: Detail,
}

#[derive(Template)]
#[template(path = "partials/workload_detail.html")]
struct DetailLive {
    layout: Layout,
    w: Detail,
}

pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
) -> WebResult<Html<impl Template>> {
    let id = page_id(&id, "workload")?;
    let w = load(&state, id).await?;
    Ok(Html(DetailPage {
        layout: Layout::new(format!("Workload {}", w.host), "workloads", &caller),
        w,
    }))
}

/// The live fragment: asked for again soon while a command runs, less often otherwise.
pub async fn live(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = page_id(&id, "workload")?;
    let w = load(&state, id).await?;
    let next = if w.running_op { "1000" } else { "3000" };
    let mut response = Html(DetailLive {
        layout: Layout::new(format!("Workload {}", w.host), "workloads", &caller),
        w,
    })
    .into_response();
    response
        .headers_mut()
        .insert("x-live-next", HeaderValue::from_static(next));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunForm {
    csrf: Option<String>,
    operation: Option<String>,
    migration_type: Option<String>,
}

fn bad(message: impl Into<String>) -> WebError {
    AppError::bad_request("InvalidForm", message).into()
}

/// `POST /migrate/workloads/{id}/operations`: Configure (create the contract), an operation the
/// contract allows, or Abort. Answers with the Command Details of what started.
pub async fn run(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<axum::Form<RunForm>, FormRejection>,
) -> WebResult<Redirect> {
    let axum::Form(form) =
        form.map_err(|e| bad(format!("the form could not be read: {}", e.body_text())))?;
    csrf::check(
        state.config.serves_tls(),
        &headers,
        &caller.user,
        form.csrf.as_deref(),
    )?;
    let id = page_id(&id, "workload")?;
    let name = form.operation.as_deref().unwrap_or("");
    let transformation = replications::for_source(&mut state.db.reader().await?, id).await?;
    if name == "Configure" {
        if transformation.is_none() {
            contracts::configure(&state.db, &caller, contracts::NewContract::for_source(id))
                .await?;
        }
        return Ok(Redirect::to(&format!("/migrate/workloads/{id}")));
    }
    let t = match transformation {
        Some(t) => t,
        None => {
            // Tell an unknown workload from a known one without a contract.
            sources::find(&mut state.db.reader().await?, id).await?;
            return Err(AppError::conflict(
                "NoTransformation",
                "configure the workload's migration first",
            )
            .into());
        }
    };
    let op = if name == "Abort" {
        operations::abort(&state, &caller, t.id).await?
    } else {
        let op: OperationType = name.parse().map_err(|e: String| bad(e))?;
        let migration = match form.migration_type.as_deref().filter(|m| !m.is_empty()) {
            Some(m) if op == OperationType::Migrate => {
                Some(m.parse::<MigrationType>().map_err(bad)?)
            }
            Some(_) => return Err(bad("only Migrate takes a migration type")),
            None => None,
        };
        let options = operations::Options {
            migration_type: migration,
            ..operations::Options::default()
        };
        operations::run(&state, &caller, t.id, op, &options).await?
    };
    tracing::info!(workload = %id, operation = %op.id, kind = %name, by = %caller.user, "operation requested from the pages");
    Ok(Redirect::to(&format!("/migrate/commands/{}", op.id)))
}
