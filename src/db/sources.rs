//! Source machines and what the server learns of their drivers: the statements. What a report
//! means (events, the reboot task) is decided in `crate::service::sources`.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{QueryBuilder, Sqlite};
use std::sync::Arc;
use uuid::Uuid;

use super::counts::{Order, push_keyset};
use super::steady::SteadyReport;
use super::{Db, Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::driver::DriverState;
use crate::domain::model::{AddedBy, NewSource, Source};
use crate::domain::paging::{Cursor, Page, Paged};
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

/// Delete a source, and its entry in the search index (which no trigger removes: see
/// `migrations/0007_add_sources_search.sql`).
pub async fn delete(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    sqlx::query(
        "DELETE FROM sources_search WHERE rowid = (SELECT rowid FROM sources WHERE id = ?)",
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
    Agent { token_sha256: &'a str },
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
    let version = |v: Option<DriverVersion>| v.map(|v| Arc::from(v.to_string()));
    let report = SteadyReport {
        id: Arc::from(
            id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()) as &str,
        ),
        token: match by {
            ReportedBy::Agent { token_sha256 } => Some(Arc::from(*token_sha256)),
            ReportedBy::User => None,
        },
        installed: version(reported.installed),
        running: version(reported.running),
        controller: controller.map(ControllerService::as_str),
        // As a read would give it back: stored times keep microseconds.
        now: Arc::from(ts(now.trunc_subsecs(6))),
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

/// Which workloads the Workloads page lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Show {
    #[default]
    All,
    /// The latest operation of their contract failed.
    Failed,
    /// A Windows machine whose installed driver is not the running one.
    RebootPending,
    /// Flagged for a server-sync replication after a full one has completed.
    ServerSync,
    /// An operation is queued or running.
    Running,
}

/// The order of the Workloads page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// As added (the API's order).
    #[default]
    Added,
    Name,
    /// By the latest replication's end; never replicated last.
    LastReplication,
}

/// The Workloads page's query: a host name or IP address fragment, a filter and an order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub text: Option<String>,
    pub show: Show,
    pub sort: Sort,
    pub descending: bool,
}

/// How a search's text picks its rows.
enum Matching {
    /// No text: every source.
    All,
    /// Through the trigram index (`sources_search`): a phrase of the text, which a row matches
    /// when the text is a part of its host name or IP address, in any case.
    Indexed(String),
    /// A scan with `LIKE`: for texts shorter than a trigram, and for a sort other than by
    /// addition when many rows match (the scan in the sort's order stops at the page's end).
    Scanned(String),
}

impl Matching {
    /// The text as an FTS5 phrase: quoted, its quotes doubled; everything else in it is literal.
    fn phrase(text: &str) -> Self {
        Self::Indexed(format!("\"{}\"", text.replace('"', "\"\"")))
    }

    /// The text as a `LIKE` pattern with our own escape character: `%` and `_` in it are literal.
    fn pattern(text: &str) -> Self {
        Self::Scanned(format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        ))
    }

    /// `FROM` and `WHERE` of the sources (as `s`) that match, and pass `show`.
    fn push_from_where(&self, q: &mut QueryBuilder<Sqlite>, show: Show) {
        match self {
            Self::All => q.push(" FROM sources s WHERE 1 = 1"),
            Self::Indexed(phrase) => q
                .push(
                    " FROM sources_search f JOIN sources s ON s.rowid = f.rowid
                      WHERE f.sources_search MATCH ",
                )
                .push_bind(phrase.clone()),
            Self::Scanned(pattern) => q
                .push(" FROM sources s WHERE (s.host_name LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR s.ip_address LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\')"),
        };
        q.push(match show {
            Show::All => "",
            Show::Failed => {
                " AND (SELECT o.status FROM transformations t JOIN operations o
                        ON o.transformation_id = t.id WHERE t.source_id = s.id
                        ORDER BY o.seq DESC LIMIT 1) = 'failed'"
            }
            Show::RebootPending => {
                " AND s.os_family = 'windows' AND s.installed_version IS NOT s.running_version"
            }
            Show::ServerSync => {
                " AND s.server_sync_required = 1 AND EXISTS (SELECT 1 FROM transformations t
                        WHERE t.source_id = s.id AND t.has_full_replication = 1)"
            }
            Show::Running => {
                " AND EXISTS (SELECT 1 FROM operations o WHERE o.source_id = s.id
                        AND o.status IN ('queued', 'running'))"
            }
        });
    }
}

/// The most matches that a search through the index sorts by name or replication; past it, the
/// scan in the sort's order is faster (it stops once the page is full, and so many matches fill
/// it soon).
const SORTED_MAX: i64 = 2_000;

/// How many sources match, counted up to `COUNT_CAP` and one.
async fn count_matching(r: &mut impl Read, matching: &Matching, show: Show) -> Result<i64> {
    let mut c = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1");
    matching.push_from_where(&mut c, show);
    c.push(" LIMIT ")
        .push_bind(i64::try_from(super::pages::COUNT_CAP).unwrap_or(i64::MAX) + 1)
        .push(")");
    Ok(c.build_query_scalar().fetch_one(conn(r)).await?)
}

/// A page of the workloads that match `search`, and how many match (capped as the pages' counts
/// are: `pages::COUNT_CAP`). A text of three characters or more is looked up in the trigram
/// index, so that finding one machine among a million takes milliseconds.
pub async fn search(
    r: &mut impl Read,
    search: &Search,
    page: Page,
) -> Result<(Vec<Source>, super::pages::Capped)> {
    let mut matching = match search.text.as_deref().filter(|t| !t.is_empty()) {
        None => Matching::All,
        Some(text) if text.chars().count() >= 3 => Matching::phrase(text),
        Some(text) => Matching::pattern(text),
    };
    let count = count_matching(r, &matching, search.show).await?;
    if let (Some(text), Matching::Indexed(_)) = (search.text.as_deref(), &matching)
        && search.sort != Sort::Added
        && count > SORTED_MAX
    {
        matching = Matching::pattern(text);
    }
    let direction = if search.descending { "DESC" } else { "ASC" };
    let order = match search.sort {
        Sort::Added => format!("s.rowid {direction}"),
        Sort::Name => format!("s.host_name COLLATE NOCASE {direction}, s.rowid"),
        Sort::LastReplication => format!(
            "(SELECT o.completed_at FROM operations o WHERE o.source_id = s.id
                AND o.operation_type = 'Migrate' ORDER BY o.seq DESC LIMIT 1) IS NULL,
              (SELECT o.completed_at FROM operations o WHERE o.source_id = s.id
                AND o.operation_type = 'Migrate' ORDER BY o.seq DESC LIMIT 1) {direction}, s.rowid"
        ),
    };
    let mut q =
        QueryBuilder::<Sqlite>::new(concat!("SELECT ", source_columns!(), " FROM sources s"));
    if let Matching::Indexed(_) = matching {
        // The page's rowids through the index (in the index's own rowid order when sorted by
        // addition, so that the walk stops at the page's end), then their rows: the index's
        // columns would be ambiguous beside the table's.
        let inner_order = match search.sort {
            Sort::Added => format!("f.rowid {direction}"),
            _ => order.clone(),
        };
        q.push(" WHERE s.rowid IN (SELECT f.rowid");
        matching.push_from_where(&mut q, search.show);
        q.push(format_args!(" ORDER BY {inner_order} LIMIT "))
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset)
            .push(")");
        q.push(format_args!(" ORDER BY {order}"));
    } else {
        q = QueryBuilder::<Sqlite>::new(concat!("SELECT ", source_columns!()));
        matching.push_from_where(&mut q, search.show);
        q.push(format_args!(" ORDER BY {order} LIMIT "))
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset);
    }
    let rows: Vec<SourceRow> = q.build_query_as().fetch_all(conn(r)).await?;
    let sources = rows
        .into_iter()
        .map(SourceRow::into_source)
        .collect::<Result<_>>()?;
    Ok((sources, super::pages::Capped::new(count)))
}
