//! `/migrate/commands/{operationId}`: Command Details, as the product's page of that name: the
//! operation, its steps with progress and times, the driver and transfer method it used, and its
//! warnings (the reboot notification, the server-sync warning).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::view::{Badge, Time, performed_as, transfer_method};
use super::{Html, Layout, WebResult, WebUser, page_id};
use crate::db::{replications, sources};
use crate::domain::model::{Operation, WarningCode};
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
        operation_type: op.operation_type.as_str(),
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
                status: Badge::operation(s.status),
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
    }
}

async fn load(state: &AppState, id: &str) -> WebResult<Command> {
    let id = page_id(id, "command")?;
    let op = replications::find_operation(&mut state.db.reader().await?, id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => AppError::NotFound(format!("there is no command {id}")),
            other => other,
        })?;
    let host = sources::find(&mut state.db.reader().await?, op.source_id)
        .await
        .map_or_else(|_| "(deleted workload)".to_owned(), |s| s.host_name);
    Ok(command(op, host))
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
    _: WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let c = load(&state, &id).await?;
    // Steps tick every 100 ms at the fast speed: ask often while it runs.
    let next = if c.is_final { "0" } else { "300" };
    let mut response = Html(CommandLive { c }).into_response();
    response
        .headers_mut()
        .insert("x-live-next", HeaderValue::from_static(next));
    Ok(response)
}
