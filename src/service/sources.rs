//! Source machines: added through the API or registered by their agent, their driver-state
//! reports and emulated reboots (SPEC 3.2 on the server: what a report means).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::sources::{ReportAnswer, ReportedBy, Wanted};
use crate::db::{Db, WriteTx, replications, sources, tasks};
use crate::domain::driver::{self, DriverChange, DriverState, TaskDecision};
use crate::domain::model::{NewSource, Source, TaskKind};
use crate::domain::platform::{ControllerService, OsFamily};
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// Add a source through the API (no agent, no token).
pub async fn add(db: &Db, new: &NewSource) -> Result<Source> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let id = sources::insert(&mut tx, new, None, None, now).await?;
    let message = format!("Workload {} ({}) added", new.host_name, new.platform);
    events::insert(&mut tx, kind::SOURCE_ADDED, Some(id), &message, now).await?;
    let source = sources::find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(source)
}

/// The outcome of an agent's registration.
pub struct Registered {
    pub source: Source,
    /// True the first time this machine id registers.
    pub created: bool,
}

/// Register an agent's machine: one source per machine id, whatever the number of calls. Each
/// call stores a new token hash (the token itself is shown to the caller once and never kept).
pub async fn register(
    db: &Db,
    machine_id: &str,
    new: &NewSource,
    token_sha256: &str,
) -> Result<Registered> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let (id, created) = match sources::by_machine_id(&mut tx, machine_id).await? {
        Some((id, os)) => {
            if os != new.os_family {
                return Err(AppError::conflict(
                    "OsFamilyMismatch",
                    format!(
                        "machine {machine_id} is registered as a {os} machine, not {}; delete the source to register it anew",
                        new.os_family
                    ),
                ));
            }
            sources::update_registration(&mut tx, id, new, token_sha256, now).await?;
            let message = format!("Workload {} registered again by its agent", new.host_name);
            events::insert(&mut tx, kind::SOURCE_REREGISTERED, Some(id), &message, now).await?;
            (id, false)
        }
        None => {
            let id =
                sources::insert(&mut tx, new, Some(machine_id), Some(token_sha256), now).await?;
            let message = format!(
                "Workload {} ({}) registered by its agent",
                new.host_name, new.platform
            );
            events::insert(&mut tx, kind::SOURCE_REGISTERED, Some(id), &message, now).await?;
            (id, true)
        }
    };
    let source = sources::find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Registered { source, created })
}

/// Remove a source with its tasks, transformation and operations (the API's `DELETE`).
pub async fn delete(db: &Db, id: Uuid) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let source = sources::find(&mut tx, id).await?;
    let message = format!("Workload {} deleted", source.host_name);
    delete_in(tx, id, &message).await
}

/// The pages' Remove Workload: as [`delete`], but refused while an operation runs on the
/// workload (its runner would lose its rows under it: abort it first), and the event says who.
pub async fn remove(state: &AppState, by: &Caller, id: Uuid) -> Result<()> {
    let mut tx = state.db.begin_write().await?;
    let source = sources::find(&mut tx, id).await?;
    if let Some(t) = replications::for_source(&mut tx, id).await?
        && let Some(active) = replications::active_operation(&mut tx, t.id).await?
    {
        return Err(AppError::conflict(
            "OperationRunning",
            format!(
                "{} is running on {}; abort it (or wait for it) before removing the workload",
                active.title(),
                source.host_name
            ),
        ));
    }
    let message = format!("Workload {} removed by {}", source.host_name, by.user);
    delete_in(tx, id, &message).await
}

async fn delete_in(mut tx: WriteTx, id: Uuid, message: &str) -> Result<()> {
    sources::delete(&mut tx, id).await?;
    events::insert(&mut tx, kind::SOURCE_DELETED, Some(id), message, Utc::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Record a machine's driver state as reported by its agent (or an operator). A report that
/// leaves out the controller service keeps the one stored, read in the same transaction. A
/// report of the state already stored, with no reboot pending, is stored with the others waiting
/// (see `db::sources::store_steady_report`); any other takes the full path here.
pub async fn report_driver_state(
    db: &Db,
    id: Uuid,
    by: ReportedBy<'_>,
    reported: DriverState,
    controller: Option<ControllerService>,
    wanted: Wanted,
) -> Result<ReportAnswer> {
    let now = Utc::now();
    if !reported.reboot_pending()
        && let Some(stored) =
            sources::store_steady_report(db, id, &by, reported, controller, now, wanted).await?
    {
        return Ok(stored);
    }
    // Not steady: decided here, in the group transaction shared with the other reports waiting
    // (its own savepoint: a refused or failed report rolls back alone).
    let token = match by {
        ReportedBy::Agent { token_sha256 } => Some(token_sha256.to_string()),
        ReportedBy::User => None,
    };
    // Boxed: the steady reports, most of them, do not carry this future's size along.
    let source = Box::pin(db.write_grouped(move |tx| {
        Box::pin(full_report(
            tx,
            id,
            token.clone(),
            reported,
            controller,
            now,
        ))
    }))
    .await?;
    Ok(ReportAnswer {
        source: Some(source),
        may_have_workload: true,
        steady: false,
    })
}

/// A report that is not steady, inside a write transaction: check the token, then [`record`].
async fn full_report(
    tx: &mut WriteTx,
    id: Uuid,
    token_sha256: Option<String>,
    reported: DriverState,
    controller: Option<ControllerService>,
    now: DateTime<Utc>,
) -> Result<Source> {
    let source = match (token_sha256, sources::find_with_token(tx, id).await?) {
        (None, Some((source, _))) => source,
        (None, None) => {
            return Err(AppError::NotFound(format!("source {id} not found")));
        }
        // Unknown source and wrong token answer alike: a token holder learns nothing else.
        (Some(token_sha256), Some((source, stored)))
            if stored.as_deref() == Some(token_sha256.as_str()) =>
        {
            source
        }
        (Some(_), _) => return Err(AppError::Unauthorized),
    };
    let controller = controller.unwrap_or(source.controller_service);
    record(tx, source, reported, controller, true, now).await
}

/// Emulate a reboot of the machine from outside: the installed driver becomes the running one.
pub async fn reboot(db: &Db, id: Uuid) -> Result<Source> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let source = sources::find(&mut tx, id).await?;
    let applied = driver::apply(
        source.os_family,
        source.driver,
        driver::DriverAction::Reboot,
    )
    .map_err(|e| AppError::conflict("RefusedTransition", e.to_string()))?;
    if !source.driver.reboot_pending() {
        let message = format!(
            "Workload {} rebooted; its driver state did not change",
            source.host_name
        );
        events::insert(&mut tx, kind::REBOOT_DETECTED, Some(id), &message, now).await?;
    }
    let controller = source.controller_service;
    let source = record(&mut tx, source, applied.state, controller, false, now).await?;
    tx.commit().await?;
    Ok(source)
}

/// The heart of SPEC 3.2 on the server: compare, log, keep the reboot task right, store.
/// `reported_now`: the machine's own report (which sets `lastReportAt`), not a reboot from
/// outside. Answers the source as stored.
pub(super) async fn record(
    tx: &mut WriteTx,
    source: Source,
    reported: DriverState,
    controller: ControllerService,
    reported_now: bool,
    now: DateTime<Utc>,
) -> Result<Source> {
    let id = source.id;
    let host = &source.host_name;
    let outcome = driver::reconcile(source.os_family, source.driver, reported)
        .map_err(|e| AppError::Unprocessable(e.to_string()))?;
    for change in &outcome.changes {
        // On Linux the running driver follows the installed one at once: no reboot to report.
        if source.os_family == OsFamily::Linux
            && matches!(change, DriverChange::RunningChanged { .. })
        {
            continue;
        }
        let (event_kind, message) = describe(host, *change, reported);
        events::insert(tx, event_kind, Some(id), &message, now).await?;
    }
    if controller != source.controller_service {
        let message = format!(
            "PlateSpin Controller service on {host}: {} → {}",
            source.controller_service.words(),
            controller.words()
        );
        events::insert(
            tx,
            kind::CONTROLLER_SERVICE_CHANGED,
            Some(id),
            &message,
            now,
        )
        .await?;
    }
    let sync_required = source.server_sync_required || outcome.driver_started;
    if outcome.driver_started && !source.server_sync_required {
        let message = format!(
            "The driver now runs on {host}: one full or server-sync replication is required to capture all changes"
        );
        events::insert(tx, kind::SERVER_SYNC_REQUIRED, Some(id), &message, now).await?;
    }

    let active = tasks::active_reboot_task(tx, id).await?;
    let needed = outcome.reboot_task.map(|c| c.task_message(host, reported));
    match driver::reboot_task_decision(
        needed,
        active.as_ref().map(|t| t.message.as_str()),
        !outcome.changes.is_empty(),
    ) {
        TaskDecision::Keep => {}
        TaskDecision::Create(message) => {
            tasks::create(tx, TaskKind::RebootRequired, id, &message, now).await?;
        }
        TaskDecision::Update(message) => {
            if let Some(task) = &active {
                tasks::update_message(tx, task, &message, now).await?;
            }
        }
        TaskDecision::Resolve => {
            if let Some(task) = &active {
                tasks::resolve(tx, task, now).await?;
            }
        }
    }
    sources::store_driver_state(
        tx,
        source,
        reported,
        controller,
        sync_required,
        reported_now,
        now,
    )
    .await
}

/// The event of one change of a machine's driver.
fn describe(host: &str, change: DriverChange, state: DriverState) -> (&'static str, String) {
    let pending = if state.reboot_pending() {
        "; a reboot is required to load it"
    } else {
        ""
    };
    match change {
        DriverChange::Installed(v) => (
            kind::DRIVER_INSTALLED,
            format!("Driver {v} installed on {host}{pending}"),
        ),
        DriverChange::Upgraded { from, to } => (
            kind::DRIVER_UPGRADED,
            format!("Driver upgraded from {from} to {to} on {host}{pending}"),
        ),
        DriverChange::Replaced { from, to } => (
            kind::DRIVER_REPLACED,
            format!("Driver {from} replaced by {to} on {host}{pending}"),
        ),
        DriverChange::Uninstalled(v) => (
            kind::DRIVER_UNINSTALLED,
            format!(
                "Driver {v} uninstalled from {host}{}",
                if state.running.is_some() {
                    "; it runs until the next reboot"
                } else {
                    ""
                }
            ),
        ),
        DriverChange::RunningChanged { from, to } => {
            let show =
                |v: Option<DriverVersion>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
            (
                kind::REBOOT_DETECTED,
                format!(
                    "Reboot detected on {host}: running driver {} → {}",
                    show(from),
                    show(to)
                ),
            )
        }
    }
}
