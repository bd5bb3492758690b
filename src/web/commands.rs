//! `/migrate/commands/{operationId}`: Command Details, as the product's page of that name: the
//! operation, its steps with progress and times, the driver and transfer method it used, and its
//! warnings (the reboot notification, the server-sync warning).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use chrono::Utc;

use super::dashboard::TaskItem;
use super::view::{Badge, Time, command_name, performed_as, transfer_method};
use super::workload_actions::Action;
use super::{Html, Layout, WebResult, WebUser, page_id};
use crate::db::{pages, replications, sources};
use crate::domain::model::{Operation, Step, TaskState, WarningCode};
use crate::domain::paging::Page;
use crate::domain::replication::{self as rules, ContractFacts, OperationStatus, OperationType};
use crate::error::AppError;
use crate::state::AppState;

pub struct StepItem {
    /// The product-style identifier (the API's `name`).
    pub name: String,
    /// What the page shows.
    pub label: String,
    pub status: Badge,
    pub progress: u8,
    pub started: Option<Time>,
    pub completed: Option<Time>,
    pub duration: String,
}

pub struct WarningItem {
    pub badge: Badge,
    pub heading: &'static str,
    pub message: String,
}

pub struct Command {
    pub title: String,
    pub operation_type: &'static str,
    pub performed_as: String,
    pub status: Badge,
    pub is_final: bool,
    pub progress: u8,
    pub steps: Vec<StepItem>,
    pub driver_used: String,
    pub transfer_method: String,
    pub is_replication: bool,
    pub warnings: Vec<WarningItem>,
    pub error: Option<String>,
    pub created: Time,
    pub started: Option<Time>,
    pub completed: Option<Time>,
    pub source_id: uuid::Uuid,
    pub host: String,
    pub live_url: String,
    /// Who started it ("—" for commands stored before it was kept).
    pub started_by: String,
    /// From its start to its end, or to now while it runs.
    pub elapsed: String,
    /// The progress bar's colour, after the outcome: running, ok, warn, failed, aborted.
    pub bar: &'static str,
    /// Abort while it runs; Re-run once it has ended, when the contract allows it again.
    pub actions: Vec<Action>,
    /// The workload's active tasks raised since the command was queued.
    pub tasks: Vec<TaskItem>,
}

fn duration(
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => {
            let ms = (e - s).num_milliseconds().max(0);
            if ms < 10_000 {
                format!("{:.1} s", ms as f64 / 1000.0)
            } else {
                let secs = ms / 1000;
                format!("{}:{:02} min", secs / 60, secs % 60)
            }
        }
        _ => String::new(),
    }
}

fn bar(status: OperationStatus) -> &'static str {
    match status {
        OperationStatus::Queued | OperationStatus::Running => "running",
        OperationStatus::Succeeded => "ok",
        OperationStatus::SucceededWithWarnings => "warn",
        OperationStatus::Failed => "failed",
        OperationStatus::Aborted => "aborted",
    }
}

/// A step's badge: one that never started in an operation that has ended did not fail nor
/// abort, it did not run (issue 19, defect 10).
fn step_badge(op: &Operation, step: &Step) -> Badge {
    if op.status.is_final() && step.started_at.is_none() {
        Badge::not_run()
    } else {
        Badge::operation(step.status)
    }
}

fn command(op: Operation, host: String) -> Command {
    let warnings = op
        .warnings
        .iter()
        .map(|w| WarningItem {
            badge: Badge::warning(w),
            heading: match w.code {
                WarningCode::RebootRequired => "Reboot notification",
                WarningCode::ServerSyncRequired => "Server-sync",
                WarningCode::NoDriverPackage => "No driver package",
            },
            message: w.message.clone(),
        })
        .collect();
    // A replication, or a (test) cutover that carried out its incremental replication.
    let is_replication = op.migration_type.is_some();
    Command {
        title: op.title(),
        operation_type: command_name(op.operation_type),
        performed_as: performed_as(&op),
        status: Badge::operation(op.status),
        is_final: op.status.is_final(),
        progress: op.progress,
        steps: op
            .steps
            .iter()
            .map(|s| StepItem {
                name: s.name.clone(),
                label: s.label().to_owned(),
                status: step_badge(&op, s),
                progress: s.progress,
                started: Time::opt(s.started_at),
                completed: Time::opt(s.completed_at),
                duration: duration(s.started_at, s.completed_at),
            })
            .collect(),
        driver_used: match (is_replication, op.driver_version_used) {
            (false, _) => "—".to_owned(),
            (true, Some(v)) => format!("PlateSpin block-based transfer driver {v}"),
            (true, None) => "None: no driver was running on the source".to_owned(),
        },
        transfer_method: transfer_method(op.transfer_method.as_deref()),
        is_replication,
        warnings,
        error: op.error.clone(),
        created: Time::new(op.created_at),
        started: Time::opt(op.started_at),
        completed: Time::opt(op.completed_at),
        source_id: op.source_id,
        host,
        live_url: format!("/migrate/live/commands/{}", op.id),
        started_by: op.started_by.clone().unwrap_or_else(|| "—".to_owned()),
        elapsed: match op.started_at {
            Some(start) => duration(Some(start), Some(op.completed_at.unwrap_or_else(Utc::now))),
            None => "—".to_owned(),
        },
        bar: bar(op.status),
        actions: Vec::new(),
        tasks: Vec::new(),
    }
}

/// Abort while the command runs; once it has ended, Re-run when the contract allows it again.
fn actions(op: &Operation, facts: Option<ContractFacts>) -> Vec<Action> {
    let Some(facts) = facts else {
        return Vec::new();
    };
    let id = op.source_id;
    if !op.status.is_final() {
        return vec![Action::operation(id, "Abort", "btn-danger", "Abort")];
    }
    if op.operation_type == OperationType::EndTestCutover
        || rules::check_allowed(facts, op.operation_type, op.migration_type).is_err()
    {
        return Vec::new();
    }
    let mut again = Action::operation(
        id,
        "Re-run",
        if op.operation_type == OperationType::Cutover {
            "btn-danger"
        } else {
            "btn-primary"
        },
        op.operation_type.as_str(),
    );
    if let Some(m) = op
        .migration_type
        .filter(|_| op.operation_type == OperationType::Migrate)
    {
        again = again.with("migrationType", m.as_str());
    }
    vec![again]
}

async fn load(state: &AppState, id: &str) -> WebResult<Command> {
    let id = page_id(id, "command")?;
    let op = replications::find_operation(&mut state.db.reader().await?, id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound(format!("there is no command {id}")),
            other => other,
        })?;
    let mut r = state.db.reader().await?;
    let host = sources::find(&mut r, op.source_id)
        .await
        .map_or_else(|_| "(deleted workload)".to_owned(), |s| s.host_name);
    let facts = match replications::find(&mut r, op.transformation_id).await {
        Ok(t) => Some(replications::facts(&mut r, &t).await?.0),
        Err(AppError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let (tasks, _) = pages::tasks(
        &mut r,
        Some(TaskState::Active),
        Some(op.source_id),
        Page {
            offset: 0,
            limit: 10,
        },
    )
    .await?;
    let since = op.created_at;
    let actions = actions(&op, facts);
    let mut c = command(op, host);
    c.actions = actions;
    c.tasks = tasks
        .into_iter()
        .filter(|t| t.task.created_at >= since)
        .map(TaskItem::new)
        .collect();
    Ok(c)
}

#[derive(Template)]
#[template(path = "pages/command.html")]
struct CommandPage {
    layout: Layout,
    c: Command,
}

#[derive(Template)]
#[template(path = "partials/command_detail.html")]
struct CommandLive {
    layout: Layout,
    c: Command,
}

pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
) -> WebResult<Html<impl Template>> {
    let c = load(&state, &id).await?;
    Ok(Html(CommandPage {
        layout: Layout::new(
            format!("Command Details: {}", c.title),
            "workloads",
            &caller,
        ),
        c,
    }))
}

/// The live fragment; `x-live-next` tells the page's script when to ask again (0: it is over).
pub async fn live(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let c = load(&state, &id).await?;
    // Steps tick every 100 ms at the fast speed: ask often while it runs.
    let next = if c.is_final { "0" } else { "300" };
    let layout = Layout::new(
        format!("Command Details: {}", c.title),
        "workloads",
        &caller,
    );
    let mut response = Html(CommandLive { layout, c }).into_response();
    response
        .headers_mut()
        .insert("x-live-next", HeaderValue::from_static(next));
    Ok(response)
}
