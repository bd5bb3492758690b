//! `POST /migrate/workloads/bulk`: one action on the workloads ticked on the Workloads page,
//! each through the same use case as a workload's own page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::confirm::{self, Confirm};
use super::workload_list::PAGE_SIZE;
use super::{Html, Layout, WebError, WebResult, WebUser, csrf};
use crate::db::{replications, sources};
use crate::domain::replication::OperationType;
use crate::domain::settings::{SchedulePatch, ScheduleState};
use crate::error::AppError;
use crate::service::{operations, settings, sources as source_cases};
use crate::state::AppState;

fn bad(message: impl Into<String>) -> WebError {
    AppError::bad_request("InvalidForm", message).into()
}

/// What the Workloads page can do to several selected workloads at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    PauseSchedule,
    ResumeSchedule,
    Prepare,
    RunIncremental,
    Remove,
}

impl Bulk {
    fn parse(s: &str) -> WebResult<Self> {
        Ok(match s {
            "PauseSchedule" => Self::PauseSchedule,
            "ResumeSchedule" => Self::ResumeSchedule,
            "Prepare" => Self::Prepare,
            "RunIncremental" => Self::RunIncremental,
            "Remove" => Self::Remove,
            other => {
                return Err(bad(format!(
                    "action {other:?}: one of PauseSchedule, ResumeSchedule, Prepare, RunIncremental, Remove"
                )));
            }
        })
    }

    fn label(self) -> &'static str {
        match self {
            Self::PauseSchedule => "Pause Schedule",
            Self::ResumeSchedule => "Resume Schedule",
            Self::Prepare => "Prepare Migration",
            Self::RunIncremental => "Run Incremental Replication",
            Self::Remove => "Remove Workload",
        }
    }
}

/// The bulk form: `ids` repeats, so it is read as pairs.
fn bulk_form(pairs: Vec<(String, String)>) -> (Vec<String>, HashMap<String, String>) {
    let mut ids = Vec::new();
    let mut fields = HashMap::new();
    for (k, v) in pairs {
        if k == "ids" {
            ids.push(v);
        } else {
            fields.insert(k, v);
        }
    }
    (ids, fields)
}

/// `POST /migrate/workloads/bulk`: one action on each selected workload, through the same use
/// cases as a workload's own page. Each workload is tried; the answer says which did it and why
/// the others did not. Removing asks first (a confirmation page that needs no JavaScript).
pub async fn bulk(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    headers: HeaderMap,
    form: Result<axum::Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> WebResult<Response> {
    let axum::Form(pairs) =
        form.map_err(|e| bad(format!("the form could not be read: {}", e.body_text())))?;
    let (ids, fields) = bulk_form(pairs);
    csrf::check(
        state.config.serves_tls(),
        &headers,
        &caller.user,
        fields.get("csrf").map(String::as_str),
    )?;
    let back = super::tasks::back_to(fields.get("back").map(String::as_str));
    let action = Bulk::parse(fields.get("action").map_or("", String::as_str))?;
    if ids.is_empty() {
        return Err(bad(
            "select at least one workload (the boxes in the first column)",
        ));
    }
    if ids.len() > PAGE_SIZE as usize {
        return Err(bad(format!("at most {PAGE_SIZE} workloads at once")));
    }
    let ids = ids
        .iter()
        .map(|id| super::page_id(id, "workload"))
        .collect::<WebResult<Vec<_>>>()?;
    if action == Bulk::Remove && !confirm::confirmed(fields.get("confirmed").map(String::as_str)) {
        let mut hosts = Vec::new();
        for id in &ids {
            hosts.push(
                sources::find(&mut state.db.reader().await?, *id)
                    .await?
                    .host_name,
            );
        }
        let mut hidden: Vec<(String, String)> = ids
            .iter()
            .map(|id| ("ids".to_owned(), id.to_string()))
            .collect();
        hidden.push(("action".to_owned(), "Remove".to_owned()));
        hidden.push(("back".to_owned(), back.clone()));
        return Ok(confirm::page(
            &caller,
            Confirm {
                title: format!("Remove {} workload(s)?", ids.len()),
                what: format!(
                    "Remove {}: their migration contracts, commands, tasks and events go with them. This cannot be undone.",
                    hosts.join(", ")
                ),
                action: "/migrate/workloads/bulk".to_owned(),
                button: "Remove Workloads".to_owned(),
                hidden,
                back,
                nav: "workloads",
            },
        ));
    }
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for id in ids {
        let host = match sources::find(&mut state.db.reader().await?, id).await {
            Ok(s) => s.host_name,
            Err(AppError::NotFound(_)) => {
                refused.push(format!("{id}: no such workload"));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match apply(&state, &caller, action, id).await {
            Ok(()) => done.push(host),
            // A fault of the server stops the batch; a refusal is this workload's alone.
            Err(e) if e.status().is_server_error() => return Err(e.into()),
            Err(e) => refused.push(format!("{host}: {}", e.public_message())),
        }
    }
    tracing::info!(action = action.label(), done = done.len(), refused = refused.len(), by = %caller.user, "bulk action from the Workloads page");
    Ok(Html(BulkDone {
        layout: Layout::new(action.label(), "workloads", &caller),
        action: action.label(),
        done,
        refused,
        back,
    })
    .into_response())
}

async fn apply(
    state: &AppState,
    caller: &crate::auth::Caller,
    action: Bulk,
    id: uuid::Uuid,
) -> Result<(), AppError> {
    let contract = async || {
        replications::for_source(&mut state.db.reader().await?, id)
            .await?
            .ok_or_else(|| AppError::conflict("NoTransformation", "no migration is configured"))
    };
    match action {
        Bulk::Remove => source_cases::remove(state, caller, id).await?,
        Bulk::PauseSchedule | Bulk::ResumeSchedule => {
            let patch = SchedulePatch {
                state: Some(if action == Bulk::PauseSchedule {
                    ScheduleState::Paused
                } else {
                    ScheduleState::Active
                }),
                ..SchedulePatch::default()
            };
            let t = contract().await?;
            settings::change(&state.db, caller, t.id, &settings::Change::Schedule(patch)).await?;
        }
        Bulk::Prepare => {
            let t = contract().await?;
            operations::run(
                state,
                caller,
                t.id,
                OperationType::Prepare,
                &operations::Options::default(),
            )
            .await?;
        }
        Bulk::RunIncremental => {
            let t = contract().await?;
            operations::run(
                state,
                caller,
                t.id,
                OperationType::Migrate,
                &operations::Options {
                    migration_type: Some(crate::domain::replication::MigrationType::Incremental),
                    ..operations::Options::default()
                },
            )
            .await?;
        }
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "pages/bulk_done.html")]
struct BulkDone {
    layout: Layout,
    action: &'static str,
    done: Vec<String>,
    refused: Vec<String>,
    back: String,
}
