//! Source machines and what the server learns of their drivers.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::events::{self, kind};
use super::steady::SteadyReport;
use super::tasks;
use super::{Db, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::driver::{self, DriverChange, DriverState, TaskDecision};
use crate::domain::model::{AddedBy, NewSource, Source, TaskKind};
use crate::domain::paging::Page;
use crate::domain::platform::{ControllerService, OsFamily};
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

/// The columns of a [`SourceRow`], in one place for every query that reads one (a macro, so
/// that `concat!` keeps the SQL a static string).
macro_rules! source_columns {
    () => {
        "id, machine_id, host_name, os_family, platform, ip_address, added_by, controller_service,
         installed_version, running_version, server_sync_required, created_at, updated_at,
         last_report_at, agent_token_sha256"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct SourceRow {
    pub(super) id: String,
    machine_id: Option<String>,
    host_name: String,
    os_family: String,
    platform: String,
    ip_address: String,
    added_by: String,
    controller_service: String,
    installed_version: Option<String>,
    running_version: Option<String>,
    server_sync_required: bool,
    created_at: String,
    updated_at: String,
    last_report_at: Option<String>,
    agent_token_sha256: Option<String>,
}

impl SourceRow {
    fn into_source(self) -> Result<Source> {
        let version = |v: Option<String>| -> Result<Option<DriverVersion>> {
            v.as_deref()
                .map(|v| parse_col(v, "driver version"))
                .transpose()
        };
        Ok(Source {
            id: parse_uuid(&self.id)?,
            machine_id: self.machine_id,
            host_name: self.host_name,
            os_family: parse_col(&self.os_family, "OS family")?,
            platform: parse_col(&self.platform, "platform")?,
            ip_address: self.ip_address,
            added_by: if self.added_by == "agent" {
                AddedBy::Agent
            } else {
                AddedBy::Api
            },
            controller_service: parse_col(&self.controller_service, "controller service")?,
            driver: DriverState {
                installed: version(self.installed_version)?,
                running: version(self.running_version)?,
            },
            server_sync_required: self.server_sync_required,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            last_report_at: self.last_report_at.as_deref().map(parse_ts).transpose()?,
        })
    }
}

async fn find_row(conn: &mut SqliteConnection, id: Uuid) -> Result<Option<SourceRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM sources WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?)
}

async fn find(conn: &mut SqliteConnection, id: Uuid) -> Result<Source> {
    find_row(conn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("source {id} not found")))?
        .into_source()
}

/// A source, read inside a caller's transaction.
pub async fn find_in(conn: &mut SqliteConnection, id: Uuid) -> Result<Source> {
    find(conn, id).await
}

/// Clear `serverSyncRequired` after a full or server-sync replication (SPEC 3.3).
pub async fn clear_server_sync(
    conn: &mut SqliteConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query("UPDATE sources SET server_sync_required = 0, updated_at = ? WHERE id = ? AND server_sync_required = 1")
        .bind(ts(now))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn get(pool: &SqlitePool, id: Uuid) -> Result<Source> {
    let mut conn = pool.acquire().await?;
    find(&mut conn, id).await
}

pub async fn list(pool: &SqlitePool, page: Page) -> Result<(Vec<Source>, u64)> {
    let rows: Vec<SourceRow> = sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM sources ORDER BY rowid LIMIT ? OFFSET ?"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sources")
        .fetch_one(pool)
        .await?;
    let sources = rows
        .into_iter()
        .map(SourceRow::into_source)
        .collect::<Result<_>>()?;
    Ok((sources, u64::try_from(total).unwrap_or(0)))
}

async fn insert(
    conn: &mut SqliteConnection,
    new: &NewSource,
    machine_id: Option<&str>,
    token_sha256: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let added_by = if machine_id.is_some() {
        AddedBy::Agent
    } else {
        AddedBy::Api
    };
    sqlx::query(
        "INSERT INTO sources (id, machine_id, host_name, os_family, platform, ip_address, added_by,
                              agent_token_sha256, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(machine_id)
    .bind(&new.host_name)
    .bind(new.os_family.as_str())
    .bind(new.platform.as_str())
    .bind(&new.ip_address)
    .bind(added_by.as_str())
    .bind(token_sha256)
    .bind(ts(now))
    .bind(ts(now))
    .execute(conn)
    .await?;
    Ok(id)
}

/// Add a source through the API (no agent, no token).
pub async fn add(db: &Db, new: &NewSource, now: DateTime<Utc>) -> Result<Source> {
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, new, None, None, now).await?;
    let message = format!("Workload {} ({}) added", new.host_name, new.platform);
    events::insert(&mut tx, kind::SOURCE_ADDED, Some(id), &message, now).await?;
    let source = find(&mut tx, id).await?;
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
    now: DateTime<Utc>,
) -> Result<Registered> {
    let mut tx = db.begin_write().await?;
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT id, os_family FROM sources WHERE machine_id = ?")
            .bind(machine_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, created) = match existing {
        Some((id, os)) => {
            if os != new.os_family.as_str() {
                return Err(AppError::conflict(
                    "OsFamilyMismatch",
                    format!(
                        "machine {machine_id} is registered as a {os} machine, not {}; delete the source to register it anew",
                        new.os_family
                    ),
                ));
            }
            sqlx::query(
                "UPDATE sources SET host_name = ?, platform = ?, ip_address = ?, agent_token_sha256 = ?, updated_at = ?
                 WHERE id = ?",
            )
            .bind(&new.host_name)
            .bind(new.platform.as_str())
            .bind(&new.ip_address)
            .bind(token_sha256)
            .bind(ts(now))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            let id = parse_uuid(&id)?;
            let message = format!("Workload {} registered again by its agent", new.host_name);
            events::insert(&mut tx, kind::SOURCE_REREGISTERED, Some(id), &message, now).await?;
            (id, false)
        }
        None => {
            let id = insert(&mut tx, new, Some(machine_id), Some(token_sha256), now).await?;
            let message = format!(
                "Workload {} ({}) registered by its agent",
                new.host_name, new.platform
            );
            events::insert(&mut tx, kind::SOURCE_REGISTERED, Some(id), &message, now).await?;
            (id, true)
        }
    };
    let source = find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Registered { source, created })
}

pub async fn delete(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let source = find(&mut tx, id).await?;
    sqlx::query("DELETE FROM sources WHERE id = ?")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    let message = format!("Workload {} deleted", source.host_name);
    events::insert(&mut tx, kind::SOURCE_DELETED, Some(id), &message, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Who sends a driver-state report, as the database checks it.
pub enum ReportedBy<'a> {
    /// The machine's agent, by the SHA-256 of its bearer token: checked against the stored hash
    /// in the report's own transaction (one read fewer than a check before it).
    Agent { token_sha256: &'a str },
    /// A signed-in user, already checked.
    User,
}

/// Record a machine's driver state as reported by its agent (or an operator). A report that
/// leaves out the controller service keeps the one stored, read in the same transaction.
pub async fn report_driver_state(
    db: &Db,
    id: Uuid,
    by: ReportedBy<'_>,
    reported: DriverState,
    controller: Option<ControllerService>,
    now: DateTime<Utc>,
    wanted: Wanted,
) -> Result<ReportAnswer> {
    if !reported.reboot_pending()
        && let Some(stored) = steady_report(db, id, &by, reported, controller, now, wanted).await?
    {
        return Ok(stored);
    }
    let mut tx = db.begin_write().await?;
    let row = find_row(&mut tx, id).await?;
    let source = match (by, row) {
        (ReportedBy::User, Some(row)) => row.into_source()?,
        (ReportedBy::User, None) => {
            return Err(AppError::NotFound(format!("source {id} not found")));
        }
        // Unknown source and wrong token answer alike: a token holder learns nothing else.
        (ReportedBy::Agent { token_sha256 }, Some(row))
            if row.agent_token_sha256.as_deref() == Some(token_sha256) =>
        {
            row.into_source()?
        }
        (ReportedBy::Agent { .. }, _) => return Err(AppError::Unauthorized),
    };
    let controller = controller.unwrap_or(source.controller_service);
    let source = record(&mut tx, source, reported, controller, Reported::Now, now).await?;
    tx.commit().await?;
    Ok(ReportAnswer {
        source: Some(source),
        may_have_workload: true,
        steady: false,
    })
}

/// What the reporter wants back from a stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The source as stored (the answer's body).
    Source,
    /// Nothing but success (an agent's `Prefer: return=minimal`): a steady report then reads
    /// nothing back from the row it updates.
    Nothing,
}

/// A source after its driver-state report.
pub struct ReportAnswer {
    /// The source as stored; `None` only when [`Wanted::Nothing`] and nothing had to be read.
    pub source: Option<Source>,
    /// False when the source is known to have no transformation, so its answer needs no
    /// workload read.
    pub may_have_workload: bool,
    /// Stored as a steady report: nothing but the report's time changed.
    pub steady: bool,
}

/// A report of the state already stored, with no reboot pending and no active reboot task: the
/// full path (`record`) would find no change to log and no task to touch, and store only the
/// report's time. Most reports are this one (an agent saying that nothing changed), so they are
/// stored together with the others waiting (see [`super::steady`]). `None` when it is not such a
/// report, or the token is wrong, or there is no such source: the full path then decides, and
/// answers the error.
async fn steady_report(
    db: &Db,
    id: Uuid,
    by: &ReportedBy<'_>,
    reported: DriverState,
    controller: Option<ControllerService>,
    now: DateTime<Utc>,
    wanted: Wanted,
) -> Result<Option<ReportAnswer>> {
    let version = |v: Option<DriverVersion>| v.map(|v| v.to_string());
    let report = SteadyReport {
        id: id.to_string(),
        token: match by {
            ReportedBy::Agent { token_sha256 } => Some((*token_sha256).to_owned()),
            ReportedBy::User => None,
        },
        installed: version(reported.installed),
        running: version(reported.running),
        controller: controller.map(ControllerService::as_str),
        // As a read would give it back: stored times keep microseconds.
        now: ts(now.trunc_subsecs(6)),
        wants_row: wanted == Wanted::Source,
    };
    let Some(stored) = db.steady.store(report).await else {
        return Ok(None);
    };
    Ok(Some(ReportAnswer {
        source: stored.row.map(SourceRow::into_source).transpose()?,
        may_have_workload: stored.has_transformation,
        steady: true,
    }))
}

/// Emulate a reboot of the machine from outside: the installed driver becomes the running one.
pub async fn reboot(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<Source> {
    let mut tx = db.begin_write().await?;
    let source = find(&mut tx, id).await?;
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
    let source = record(
        &mut tx,
        source,
        applied.state,
        controller,
        Reported::Before,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(source)
}

/// Whether a state change is the machine's own report (which sets `lastReportAt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reported {
    Now,
    Before,
}

/// The heart of SPEC 3.2 on the server: compare, log, keep the reboot task right, store.
///
/// Answers the source as stored: the caller's transaction need not read it again (each read is
/// a round trip to SQLite's thread, and the writer is the one thread every write waits for).
async fn record(
    conn: &mut SqliteConnection,
    source: Source,
    reported: DriverState,
    controller: ControllerService,
    by_agent: Reported,
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
        events::insert(conn, event_kind, Some(id), &message, now).await?;
    }
    if controller != source.controller_service {
        let message = format!(
            "PlateSpin Controller service on {host}: {} → {}",
            source.controller_service.as_str(),
            controller.as_str()
        );
        events::insert(
            conn,
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
        events::insert(conn, kind::SERVER_SYNC_REQUIRED, Some(id), &message, now).await?;
    }

    let active = tasks::active_reboot_task(conn, id).await?;
    let needed = outcome.reboot_task.map(|c| c.task_message(host, reported));
    match driver::reboot_task_decision(
        needed,
        active.as_ref().map(|t| t.message.as_str()),
        !outcome.changes.is_empty(),
    ) {
        TaskDecision::Keep => {}
        TaskDecision::Create(message) => {
            tasks::create(conn, TaskKind::RebootRequired, id, &message, now).await?;
        }
        TaskDecision::Update(message) => {
            if let Some(task) = &active {
                tasks::update_message(conn, task, &message, now).await?;
            }
        }
        TaskDecision::Resolve => {
            if let Some(task) = &active {
                tasks::resolve(conn, task, now).await?;
            }
        }
    }

    // As a read would give them back: stored times keep microseconds.
    let now = now.trunc_subsecs(6);
    let last_report_at = match by_agent {
        Reported::Now => Some(now),
        Reported::Before => source.last_report_at,
    };
    sqlx::query(
        "UPDATE sources SET installed_version = ?, running_version = ?, controller_service = ?,
                            server_sync_required = ?, updated_at = ?, last_report_at = ?
         WHERE id = ?",
    )
    .bind(reported.installed.map(|v| v.to_string()))
    .bind(reported.running.map(|v| v.to_string()))
    .bind(controller.as_str())
    .bind(sync_required)
    .bind(ts(now))
    .bind(last_report_at.map(ts))
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(Source {
        driver: reported,
        controller_service: controller,
        server_sync_required: sync_required,
        updated_at: now,
        last_report_at,
        ..source
    })
}

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
