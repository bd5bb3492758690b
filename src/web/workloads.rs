//! One workload's page: driver status, replication status, its commands, and buttons for the
//! allowed operations (the list is `workload_list`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::dashboard::{EventItem, TaskItem, event_items};
use super::view::{Badge, Time, performed_as};
use super::workload_actions::{Action, NextStep, actions, next_steps};
use super::{Html, Layout, WebResult, WebUser, page_id};
use crate::db::replications::{self, OperationFilter};
use crate::db::{pages, sources};
use crate::domain::model::{Operation, Source, TaskState};
use crate::domain::paging::Page;
use crate::domain::platform::{ControllerService, OsFamily};
use crate::domain::replication::ContractState;
use crate::error::AppError;
use crate::service::settings;
use crate::state::AppState;

pub(super) fn version(v: Option<crate::domain::version::DriverVersion>) -> String {
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

/// The Online column: the server can reach the machine's controller now (the rule that fails
/// a Prepare or a replication of an offline machine, `Source::offline`).
pub fn online(s: &Source) -> bool {
    s.offline().is_none()
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
    pub schedule: &'static str,
    pub status: &'static str,
    pub failed: bool,
    pub badges: Vec<Badge>,
    pub next_steps: Vec<NextStep>,
    pub last: Option<OpItem>,
    pub running_op: bool,
    pub commands: Vec<OpItem>,
    pub actions: Vec<Action>,
    pub tasks: Vec<TaskItem>,
    pub events: Vec<EventItem>,
    pub live_url: String,
}

/// The contract's state in the product's words.
fn contract_words(state: ContractState) -> &'static str {
    match state {
        ContractState::Configured => "Migration configured",
        ContractState::Prepared => "Prepared",
        ContractState::UnderTest => "Test cutover running",
        ContractState::CutOver => "Cut over",
    }
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
    let schedule = match (&w.transformation, w.facts) {
        (Some(t), Some(facts)) => settings::current(&mut r, t).await?.schedule.column(facts),
        _ => "None",
    };
    drop(r);
    let events = event_items(state, Some(id), 10).await?;
    let tasks: Vec<TaskItem> = tasks.into_iter().map(TaskItem::new).collect();
    let next_steps = next_steps(&s, &w, &tasks);
    let mut actions = actions(id, &w, &tasks);
    // Pause / Resume Schedule, while the schedule runs (platespin-product.md 3.2).
    match schedule {
        "Active" => actions.insert(
            actions.len() - 1,
            Action::operation(id, "Pause Schedule", "btn-secondary", "PauseSchedule"),
        ),
        "Paused" => actions.insert(
            actions.len() - 1,
            Action::operation(id, "Resume Schedule", "btn-secondary", "ResumeSchedule"),
        ),
        _ => {}
    }
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
            .map_or("Not configured", |t| contract_words(t.state)),
        schedule,
        status: w.status(),
        failed: w.failed(),
        badges: w.to_act_on(&s).iter().map(Badge::warning).collect(),
        next_steps,
        last: w.last_replication.as_ref().map(OpItem::new),
        running_op: w.active.is_some(),
        commands: ops.iter().map(OpItem::new).collect(),
        actions,
        tasks,
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
