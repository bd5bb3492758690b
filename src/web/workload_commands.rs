//! The product's Workload Commands (platespin-product.md 3.3): a command's options page (Run
//! Migration, Test Cutover, Run Cutover, each ending in Execute), and the one form handler that
//! carries out every command of a workload's page, through the same use cases as the API.
//! Irreversible commands (Run Cutover, Abort, Remove Workload) ask first (`confirm`).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::confirm::{self, Confirm};
use super::{Html, Layout, WebError, WebResult, WebUser, csrf, page_id};
use crate::db::{replications, sources};
use crate::domain::model::Transformation;
use crate::domain::replication::{self as rules, ContractFacts, MigrationType, OperationType};
use crate::domain::settings::{SchedulePatch, ScheduleState};
use crate::error::AppError;
use crate::service::operations::{self, CutoverAfter, Options};
use crate::service::{contracts, settings, sources as source_cases};
use crate::state::AppState;

fn bad(message: impl Into<String>) -> WebError {
    AppError::bad_request("InvalidForm", message).into()
}

/// A radio button of a command's options page.
pub struct Radio {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
    /// Why it cannot be chosen now; empty when it can.
    pub unavailable: String,
}

/// A check box of a command's options page.
pub struct Check {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
    pub hint: &'static str,
}

/// A command's options page.
pub struct CommandForm {
    pub id: uuid::Uuid,
    pub host: String,
    pub title: &'static str,
    pub intro: String,
    pub operation: &'static str,
    pub radios: Vec<Radio>,
    /// The legend of the check boxes.
    pub group: &'static str,
    pub checks: Vec<Check>,
    /// Irreversible: the Execute button is red and the page says so (it is the confirmation).
    pub danger: bool,
}

#[derive(Template)]
#[template(path = "pages/workload_command.html")]
struct CommandPage {
    layout: Layout,
    f: CommandForm,
}

async fn contract(
    state: &AppState,
    id: uuid::Uuid,
) -> WebResult<(String, Transformation, ContractFacts)> {
    let mut r = state.db.reader().await?;
    let source = sources::find(&mut r, id).await?;
    let Some(t) = replications::for_source(&mut r, id).await? else {
        return Err(AppError::conflict(
            "NoTransformation",
            format!("configure the migration of {} first", source.host_name),
        )
        .into());
    };
    let (facts, _) = replications::facts(&mut r, &t).await?;
    Ok((source.host_name, t, facts))
}

/// `GET /migrate/workloads/{id}/commands/{command}`: run-migration, test-cutover or cutover.
pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path((id, command)): Path<(String, String)>,
) -> WebResult<Html<impl Template>> {
    let id = page_id(&id, "workload")?;
    let (host, _, facts) = contract(&state, id).await?;
    let check = |name, label, checked, hint| Check {
        name,
        label,
        checked,
        hint,
    };
    let f = match command.as_str() {
        "run-migration" => {
            rules::check_allowed(facts, OperationType::Migrate, None)
                .map_err(operations::not_allowed)?;
            let default = rules::default_migration_type(facts);
            let radio = |m: MigrationType, label| Radio {
                value: m.as_str(),
                label,
                checked: m == default,
                unavailable: rules::check_allowed(facts, OperationType::Migrate, Some(m))
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            };
            CommandForm {
                id,
                title: "Run Migration",
                intro: format!("Replicate {host} to its target now."),
                operation: "Migrate",
                radios: vec![
                    radio(MigrationType::Full, "Full Replication: copy every block"),
                    radio(
                        MigrationType::Incremental,
                        "Incremental Replication: copy the blocks changed since the last replication",
                    ),
                    radio(
                        MigrationType::ServerSync,
                        "Server-sync: compare every block by checksum, copy those that differ",
                    ),
                ],
                group: "Post-Replication Cutover",
                checks: vec![
                    check(
                        "runCutover",
                        "Run cutover after successful replication",
                        false,
                        "The cutover cannot be undone.",
                    ),
                    check(
                        "shutdownSource",
                        "Shut down source after cutover",
                        false,
                        "",
                    ),
                    check(
                        "shutdownTarget",
                        "Shut down target after cutover",
                        false,
                        "",
                    ),
                ],
                danger: false,
                host,
            }
        }
        "test-cutover" => {
            rules::check_allowed(facts, OperationType::TestCutover, None)
                .map_err(operations::not_allowed)?;
            CommandForm {
                id,
                title: "Test Cutover",
                intro: format!(
                    "Boot a test copy of {host} on its target, the source going on as it is. When it has run, mark the test as a success or a failure."
                ),
                operation: "TestCutover",
                radios: Vec::new(),
                group: "Options",
                checks: vec![
                    check("shutdownTarget", "Shutdown Target Workload", false, ""),
                    check(
                        "performIncremental",
                        "Perform Incremental Replication",
                        false,
                        "Copy the latest changes first.",
                    ),
                ],
                danger: false,
                host,
            }
        }
        "cutover" => {
            rules::check_allowed(facts, OperationType::Cutover, None)
                .map_err(operations::not_allowed)?;
            CommandForm {
                id,
                title: "Run Cutover",
                intro: format!(
                    "Cut {host} over to its target: the migration ends there, and its contract takes no more replications. This cannot be undone."
                ),
                operation: "Cutover",
                radios: Vec::new(),
                group: "Options",
                checks: vec![
                    check("shutdownSource", "Shutdown Source", true, ""),
                    check("shutdownTarget", "Shutdown Target Workload", false, ""),
                    check(
                        "performIncremental",
                        "Perform Incremental Replication",
                        true,
                        "Copy the latest changes first.",
                    ),
                ],
                danger: true,
                host,
            }
        }
        other => {
            return Err(AppError::NotFound(format!(
                "there is no workload command {:?} (run-migration, test-cutover, cutover)",
                crate::api::extract::truncate(other)
            ))
            .into());
        }
    };
    Ok(Html(CommandPage {
        layout: Layout::new(format!("{} · {}", f.title, f.host), "workloads", &caller),
        f,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunForm {
    csrf: Option<String>,
    operation: Option<String>,
    migration_type: Option<String>,
    /// Set by an options page: its check boxes are all there, an absent one is off.
    options: Option<String>,
    run_cutover: Option<String>,
    shutdown_source: Option<String>,
    shutdown_target: Option<String>,
    perform_incremental: Option<String>,
    confirmed: Option<String>,
}

impl RunForm {
    /// A check box: on when sent; off when left out of an options page; else not given.
    fn flag(&self, value: &Option<String>) -> Option<bool> {
        match value.as_deref() {
            Some("on" | "true" | "yes") => Some(true),
            Some(_) => Some(false),
            None if self.options.is_some() => Some(false),
            None => None,
        }
    }

    /// The fields to post again once confirmed.
    fn hidden(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in [
            ("operation", &self.operation),
            ("migrationType", &self.migration_type),
            ("options", &self.options),
            ("runCutover", &self.run_cutover),
            ("shutdownSource", &self.shutdown_source),
            ("shutdownTarget", &self.shutdown_target),
            ("performIncremental", &self.perform_incremental),
        ] {
            if let Some(v) = value {
                out.push((name.to_owned(), v.clone()));
            }
        }
        out
    }
}

fn yes_no(flag: Option<bool>, default: bool) -> &'static str {
    if flag.unwrap_or(default) { "yes" } else { "no" }
}

/// `POST /migrate/workloads/{id}/operations`: Configure, an operation the contract allows, Abort,
/// Pause / Resume Schedule, or Remove. Answers with the Command Details of what started, or the
/// workload's page.
pub async fn run(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<axum::Form<RunForm>, FormRejection>,
) -> WebResult<Response> {
    let form = csrf::accept(state.config.serves_tls(), &headers, &caller.user, form)?;
    let id = page_id(&id, "workload")?;
    let name = form.operation.clone().unwrap_or_default();
    let workload_page = format!("/migrate/workloads/{id}");
    let transformation = replications::for_source(&mut state.db.reader().await?, id).await?;
    let source = sources::find(&mut state.db.reader().await?, id).await?;
    let host = source.host_name;
    let confirmed = confirm::confirmed(form.confirmed.as_deref());
    // The irreversible ones ask first.
    let ask = |title: String, what: String, button: &str| {
        Ok(confirm::page(
            &caller,
            Confirm {
                title,
                what,
                action: format!("/migrate/workloads/{id}/operations"),
                button: button.to_owned(),
                hidden: form.hidden(),
                back: workload_page.clone(),
                nav: "workloads",
            },
        ))
    };
    match name.as_str() {
        "Configure" => {
            if transformation.is_none() {
                contracts::configure(&state.db, &caller, contracts::NewContract::for_source(id))
                    .await?;
            }
            return Ok(Redirect::to(&workload_page).into_response());
        }
        "Remove" => {
            if !confirmed {
                return ask(
                    format!("Remove {host}?"),
                    format!(
                        "Remove the workload {host} with its migration contract, commands, tasks and events. This cannot be undone; its agent can register it again."
                    ),
                    "Remove Workload",
                );
            }
            source_cases::remove(&state, &caller, id).await?;
            tracing::info!(workload = %id, by = %caller.user, "workload removed from the pages");
            return Ok(Redirect::to("/migrate/workloads").into_response());
        }
        _ => {}
    }
    let Some(t) = transformation else {
        return Err(AppError::conflict(
            "NoTransformation",
            format!("configure the migration of {host} first"),
        )
        .into());
    };
    let op = match name.as_str() {
        "PauseSchedule" | "ResumeSchedule" => {
            let patch = SchedulePatch {
                state: Some(if name == "PauseSchedule" {
                    ScheduleState::Paused
                } else {
                    ScheduleState::Active
                }),
                ..SchedulePatch::default()
            };
            settings::change(&state.db, &caller, t.id, &settings::Change::Schedule(patch)).await?;
            return Ok(Redirect::to(&workload_page).into_response());
        }
        "Abort" => {
            if !confirmed {
                let running = replications::active_operation(&mut state.db.reader().await?, t.id)
                    .await?
                    .map_or_else(
                        || "the running command".to_owned(),
                        |o| o.title().to_lowercase(),
                    );
                return ask(
                    format!("Abort the {running} of {host}?"),
                    format!(
                        "Stop the {running} of {host} where it is. What it has done stays done; run it again to finish."
                    ),
                    "Abort",
                );
            }
            operations::abort(&state, &caller, t.id).await?
        }
        _ => {
            let op: OperationType = name.parse().map_err(|e: String| bad(e))?;
            if op == OperationType::Cutover && !confirmed {
                return ask(
                    format!("Run the cutover of {host}?"),
                    format!(
                        "Cut {host} over to its target (shut down the source: {}; shut down the target: {}; incremental replication first: {}). The migration ends there; this cannot be undone.",
                        yes_no(form.flag(&form.shutdown_source), true),
                        yes_no(form.flag(&form.shutdown_target), false),
                        yes_no(form.flag(&form.perform_incremental), true),
                    ),
                    "Run Cutover",
                );
            }
            let migration = match form.migration_type.as_deref().filter(|m| !m.is_empty()) {
                Some(m) if op == OperationType::Migrate => {
                    Some(m.parse::<MigrationType>().map_err(bad)?)
                }
                Some(_) => return Err(bad("only Migrate takes a migration type")),
                None => None,
            };
            let mut options = Options {
                migration_type: migration,
                ..Options::default()
            };
            match op {
                OperationType::Migrate if form.flag(&form.run_cutover) == Some(true) => {
                    options.cutover_after = Some(CutoverAfter {
                        shutdown_source: form.flag(&form.shutdown_source) == Some(true),
                        shutdown_target: form.flag(&form.shutdown_target) == Some(true),
                    });
                }
                OperationType::TestCutover | OperationType::Cutover => {
                    options.shutdown_source = form.flag(&form.shutdown_source);
                    options.shutdown_target = form.flag(&form.shutdown_target);
                    options.perform_incremental = form.flag(&form.perform_incremental);
                }
                _ => {}
            }
            operations::run(&state, &caller, t.id, op, &options).await?
        }
    };
    tracing::info!(workload = %id, operation = %op.id, kind = %name, by = %caller.user, "operation requested from the pages");
    Ok(Redirect::to(&format!("/migrate/commands/{}", op.id)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /migrate/workloads/{id}/reboot`: an emulated reboot of the machine (what
/// `migrate-agent reboot` reports), the next step of a reboot warning.
pub async fn reboot(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<axum::Form<CsrfForm>, FormRejection>,
) -> WebResult<Redirect> {
    csrf::accept(state.config.serves_tls(), &headers, &caller.user, form)?;
    let id = page_id(&id, "workload")?;
    let source = source_cases::reboot(&state.db, id).await?;
    tracing::info!(workload = %id, host = %source.host_name, by = %caller.user, "reboot emulated from the pages");
    Ok(Redirect::to(&format!("/migrate/workloads/{id}")))
}

impl csrf::Posted for RunForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

impl csrf::Posted for CsrfForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}
