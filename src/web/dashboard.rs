//! `/migrate/`: the counts an operator checks first, the latest active tasks and events.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;

use super::view::{Time, thousands};
use super::{Html, Layout, WebResult, WebUser};
use crate::db::pages;
use crate::domain::model::TaskState;
use crate::domain::paging::Page;
use crate::state::AppState;

/// A task line, as the dashboard and the Tasks page show it.
#[derive(Debug, Clone)]
pub struct TaskItem {
    pub id: uuid::Uuid,
    pub kind: &'static str,
    pub kind_code: &'static str,
    pub source_id: uuid::Uuid,
    pub host: String,
    pub message: String,
    pub created: Time,
    pub state: super::view::Badge,
    pub active: bool,
}

impl TaskItem {
    pub fn new(row: pages::TaskRow) -> Self {
        let t = row.task;
        Self {
            id: t.id,
            kind: super::view::task_kind(t.kind),
            kind_code: t.kind.as_str(),
            source_id: t.source_id,
            host: row
                .host_name
                .unwrap_or_else(|| "(deleted workload)".to_owned()),
            message: t.message,
            created: Time::new(t.created_at),
            state: super::view::Badge::task_state(t.state),
            active: t.state == TaskState::Active,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EventItem {
    pub created: Time,
    pub kind: String,
    /// failed, warn, ok or "": the line's colour, with its icon (`tone_icon`).
    pub tone: &'static str,
    pub source_id: Option<uuid::Uuid>,
    pub host: Option<String>,
    pub message: String,
}

/// The latest events with their workloads' host names.
pub async fn event_items(
    state: &AppState,
    source_id: Option<uuid::Uuid>,
    limit: u32,
) -> WebResult<Vec<EventItem>> {
    let mut r = state.db.reader().await?;
    let events = pages::latest_events(&mut r, source_id, limit).await?;
    let mut ids: Vec<uuid::Uuid> = events.iter().filter_map(|e| e.source_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let hosts = pages::host_names(&mut r, &ids).await?;
    Ok(events
        .into_iter()
        .map(|e| EventItem::new(e, &hosts))
        .collect())
}

impl EventItem {
    pub fn new(e: crate::domain::model::Event, hosts: &HashMap<uuid::Uuid, String>) -> Self {
        Self {
            created: Time::new(e.created_at),
            host: e.source_id.and_then(|id| hosts.get(&id).cloned()),
            source_id: e.source_id,
            tone: tone(&e.kind),
            kind: e.kind,
            message: e.message,
        }
    }

    /// The icon that says the tone without colour.
    pub fn icon(&self) -> &'static str {
        match self.tone {
            "failed" => "✗",
            "warn" => "⚠",
            "ok" => "✓",
            _ => "",
        }
    }
}

/// How an event reads at a glance: failures red, warnings amber, completions green.
fn tone(kind: &str) -> &'static str {
    use crate::db::events::kind as k;
    match kind {
        k::OPERATION_FAILED => "failed",
        k::OPERATION_COMPLETED_WITH_WARNINGS | k::SERVER_SYNC_REQUIRED | k::TASK_CREATED => "warn",
        k::OPERATION_COMPLETED | k::SERVER_SYNC_CLEARED => "ok",
        _ => "",
    }
}

pub struct Count {
    pub label: &'static str,
    pub value: String,
    pub href: &'static str,
    /// Draw attention (a count of things that need an operator).
    pub alert: bool,
}

pub struct Dashboard {
    pub counts: Vec<Count>,
    pub tasks: Vec<TaskItem>,
    pub events: Vec<EventItem>,
}

async fn load(state: &AppState) -> WebResult<Dashboard> {
    let mut r = state.db.reader().await?;
    let c = pages::counts(&mut r).await?;
    let count = |label, value: i64, href, alert: bool| Count {
        label,
        value: thousands(u64::try_from(value).unwrap_or(0)),
        href,
        alert: alert && value > 0,
    };
    let page = Page {
        offset: 0,
        limit: 5,
    };
    let (tasks, _) = pages::tasks(&mut r, Some(TaskState::Active), None, page).await?;
    Ok(Dashboard {
        counts: vec![
            count("Workloads", c.workloads, "/migrate/workloads", false),
            count("Active tasks", c.active_tasks, "/migrate/tasks", true),
            count(
                "Running replications",
                c.running_replications,
                "/migrate/workloads?show=running",
                false,
            ),
            count("Failed", c.failed, "/migrate/workloads?show=failed", true),
            count(
                "Reboot pending",
                c.reboot_pending,
                "/migrate/workloads?show=reboot-pending",
                true,
            ),
            count(
                "Server-sync required",
                c.server_sync_required,
                "/migrate/workloads?show=server-sync",
                true,
            ),
        ],
        tasks: tasks.into_iter().map(TaskItem::new).collect(),
        events: event_items(state, None, 10).await?,
    })
}

#[derive(Template)]
#[template(path = "pages/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    d: Dashboard,
}

#[derive(Template)]
#[template(path = "partials/dashboard.html")]
struct DashboardLive {
    d: Dashboard,
}

pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
) -> WebResult<Html<impl Template>> {
    Ok(Html(DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", &caller),
        d: load(&state).await?,
    }))
}

pub async fn live(State(state): State<AppState>, _: WebUser) -> WebResult<Html<impl Template>> {
    Ok(Html(DashboardLive {
        d: load(&state).await?,
    }))
}
