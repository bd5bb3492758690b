//! Source machines and what the server learns of their drivers: the statements. What a report
//! means (events, the reboot task) is decided in `crate::service::sources`.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::counts::{Order, push_keyset};
use super::steady::SteadyReport;
use super::{Db, Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts, ts_text};
use crate::auth::TokenSha256;
use crate::domain::driver::DriverState;
use crate::domain::model::{AddedBy, NewSource, Source};
use crate::domain::paging::{Cursor, Paged};
use crate::domain::platform::{ControllerService, OsFamily};
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

/// The columns of a [`SourceRow`], in one place for every query that reads one (a macro, so
/// that `concat!` keeps the SQL a static string), from the table `sources` or the alias given.
/// The times of a change and of a report are the later of the row's own and of its latest
/// steady report's (`migrations/0008_add_source_reports.sql`); times sort as their texts.
macro_rules! source_columns {
    () => {
        source_columns!("sources")
    };
    ($t:literal) => {
        concat!(
            "id, machine_id, host_name, os_family, platform, ip_address, added_by,
             controller_service, installed_version, running_version, server_sync_required,
             created_at, max(updated_at, ",
            steady_reported_at!($t),
            ") AS updated_at, nullif(max(coalesce(last_report_at, ''), ",
            steady_reported_at!($t),
            "), '') AS last_report_at, agent_token_sha256"
        )
    };
}

/// The time of the latest steady report of the source in the table or alias `$t`, or `''`.
macro_rules! steady_reported_at {
    ($t:literal) => {
        concat!(
            "coalesce((SELECT sr.reported_at FROM source_reports sr WHERE sr.source_rowid = ",
            $t,
            ".rowid AND sr.source_id = ",
            $t,
            ".id), '')"
        )
    };
}

mod search;
pub use search::{Search, Show, Sort, search};

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

async fn find_row(r: &mut impl Read, id: Uuid) -> Result<Option<SourceRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM sources WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(conn(r))
    .await?)
}

pub async fn find(r: &mut impl Read, id: Uuid) -> Result<Source> {
    find_row(r, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("source {id} not found")))?
        .into_source()
}

/// A source with the SHA-256 of its agent's token (none for a source added through the API).
pub async fn find_with_token(
    r: &mut impl Read,
    id: Uuid,
) -> Result<Option<(Source, Option<String>)>> {
    let Some(mut row) = find_row(r, id).await? else {
        return Ok(None);
    };
    let token = row.agent_token_sha256.take();
    Ok(Some((row.into_source()?, token)))
}

/// The source registered with `machine_id`, and the OS family it was registered with.
pub async fn by_machine_id(
    r: &mut impl Read,
    machine_id: &str,
) -> Result<Option<(Uuid, OsFamily)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, os_family FROM sources WHERE machine_id = ?")
            .bind(machine_id)
            .fetch_optional(conn(r))
            .await?;
    row.map(|(id, os)| Ok((parse_uuid(&id)?, parse_col(&os, "OS family")?)))
        .transpose()
}

/// Clear `serverSyncRequired` after a full or server-sync replication (SPEC 3.3). True when it
/// was set.
pub async fn clear_server_sync(tx: &mut WriteTx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query("UPDATE sources SET server_sync_required = 0, updated_at = ? WHERE id = ? AND server_sync_required = 1")
        .bind(ts(now))
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Set `serverSyncRequired` (a seeded scenario's starting state).
pub async fn require_server_sync(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE sources SET server_sync_required = 1 WHERE id = ?")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A page of sources, oldest first (by `rowid`), and how many there are (`row_counts`).
pub async fn list(r: &mut impl Read, cursor: Cursor) -> Result<(Paged<Source>, u64)> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        key: i64,
        #[sqlx(flatten)]
        row: SourceRow,
    }
    let mut q = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT rowid AS key, ",
        source_columns!(),
        " FROM sources WHERE 1"
    ));
    push_keyset(&mut q, "rowid", Order::OldestFirst, cursor);
    let rows: Vec<Keyed> = q.build_query_as().fetch_all(conn(r)).await?;
    let total = count(r).await?;
    let sources = rows
        .into_iter()
        .map(|k| Ok((k.key, k.row.into_source()?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((cursor.cut(sources), total))
}

/// How many sources there are (kept by triggers: no scan).
pub async fn count(r: &mut impl Read) -> Result<u64> {
    super::counts::sources(r).await
}

/// A new source: added through the API, or registered by an agent (`machine_id` and the
/// token's hash).
pub async fn insert(
    tx: &mut WriteTx,
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
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// A registration again: the machine's names and address as reported, and a new token's hash.
pub async fn update_registration(
    tx: &mut WriteTx,
    id: Uuid,
    new: &NewSource,
    token_sha256: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE sources SET host_name = ?, platform = ?, ip_address = ?, agent_token_sha256 = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(&new.host_name)
    .bind(new.platform.as_str())
    .bind(&new.ip_address)
    .bind(token_sha256)
    .bind(ts(now))
    .bind(id.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Delete a source, its entry in the search index and its latest steady report's time (which
/// no trigger removes: see `migrations/0007_add_sources_search.sql` and
/// `migrations/0008_add_source_reports.sql`).
pub async fn delete(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    sqlx::query(
        "DELETE FROM sources_search WHERE rowid = (SELECT rowid FROM sources WHERE id = ?)",
    )
    .bind(id.to_string())
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "DELETE FROM source_reports WHERE source_rowid = (SELECT rowid FROM sources WHERE id = ?)",
    )
    .bind(id.to_string())
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM sources WHERE id = ?")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Store a source's driver state, controller service and server-sync flag as decided by the
/// caller. Answers the source as stored, so that the caller's transaction need not read it
/// again.
pub async fn store_driver_state(
    tx: &mut WriteTx,
    source: Source,
    state: DriverState,
    controller: ControllerService,
    server_sync_required: bool,
    reported_now: bool,
    now: DateTime<Utc>,
) -> Result<Source> {
    // As a read would give them back: stored times keep microseconds.
    let now = now.trunc_subsecs(6);
    let last_report_at = if reported_now {
        Some(now)
    } else {
        source.last_report_at
    };
    sqlx::query(
        "UPDATE sources SET installed_version = ?, running_version = ?, controller_service = ?,
                            server_sync_required = ?, updated_at = ?, last_report_at = ?
         WHERE id = ?",
    )
    .bind(state.installed.map(|v| v.to_string()))
    .bind(state.running.map(|v| v.to_string()))
    .bind(controller.as_str())
    .bind(server_sync_required)
    .bind(ts(now))
    .bind(last_report_at.map(ts))
    .bind(source.id.to_string())
    .execute(tx.conn())
    .await?;
    Ok(Source {
        driver: state,
        controller_service: controller,
        server_sync_required,
        updated_at: now,
        last_report_at,
        ..source
    })
}

/// Who sends a driver-state report, as the database checks it.
pub enum ReportedBy<'a> {
    /// The machine's agent, by the SHA-256 of its bearer token: checked against the stored hash
    /// in the report's own statement or transaction.
    Agent { token_sha256: &'a TokenSha256 },
    /// A signed-in user, already checked.
    User,
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

/// Store a report of the state already stored, with no reboot pending and no active reboot
/// task, when it is one: only the report's time changes. Most reports are this one (an agent
/// saying that nothing changed), so they are stored together with the others waiting (see
/// [`super::steady`]). `None` when it is not such a report, or the token is wrong, or there is
/// no such source: the caller then takes the full path, which answers the error.
pub async fn store_steady_report(
    db: &Db,
    id: Uuid,
    by: &ReportedBy<'_>,
    reported: DriverState,
    controller: Option<ControllerService>,
    now: DateTime<Utc>,
    wanted: Wanted,
) -> Result<Option<ReportAnswer>> {
    let token = match by {
        ReportedBy::Agent { token_sha256 } => Some(**token_sha256),
        ReportedBy::User => None,
    };
    let report = SteadyReport {
        id,
        token,
        installed: reported.installed,
        running: reported.running,
        controller: controller.map(ControllerService::as_str),
        // As a read would give it back: stored times keep microseconds.
        now: ts_text(now.trunc_subsecs(6)),
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
