//! Read-only queries for the operator pages (`crate::web`).
//!
//! The API's list queries keep one statement for every filter combination (`?1 IS NULL OR ...`)
//! and count every matching row; SQLite cannot use an index for such a statement. The pages are
//! polled while work runs, so here each filter combination has its own static statement that
//! walks an index in `seq` order, and counts stop at [`COUNT_CAP`] ("10,000+").

use std::collections::HashMap;

use uuid::Uuid;

use super::{Read, conn, parse_col, parse_ts, parse_uuid};
use crate::domain::model::{Event, Task, TaskState};
use crate::domain::paging::Page;
use crate::error::Result;

/// Counts stop here: the pages show "10,000+" rather than scan every row.
pub const COUNT_CAP: u64 = 10_000;

/// A count, exact below [`COUNT_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capped {
    pub count: u64,
    pub more: bool,
}

impl Capped {
    pub(super) fn new(count: i64) -> Self {
        let count = u64::try_from(count).unwrap_or(0);
        Self {
            count: count.min(COUNT_CAP),
            more: count > COUNT_CAP,
        }
    }
}

/// The dashboard's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub workloads: i64,
    pub active_tasks: i64,
    pub running_replications: i64,
    pub reboot_pending: i64,
    /// Workloads that need a server-sync replication: the flag counts only once a full
    /// replication has completed, as the pages show it (`Workload::to_act_on`).
    pub server_sync_required: i64,
    /// Workloads whose latest operation failed (their Status says "... Failed").
    pub failed: i64,
}

pub async fn counts(r: &mut impl Read) -> Result<Counts> {
    // The workloads, active tasks and pending reboots are kept by triggers (`super::counts`):
    // no scan of the sources at any size. The rest start from the operations still queued or
    // running (the partial index `operations_one_active`) or from the transformations (one per
    // configured workload; `CROSS JOIN` keeps SQLite from starting at the sources).
    let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let workloads = super::counts::sources(r).await?;
    let (reboot_pending, _) = super::counts::sources_pending(r).await?;
    let active_tasks = super::counts::tasks(r, Some("active"), None).await?;
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT COUNT(*) FROM operations WHERE status IN ('queued', 'running') AND operation_type = 'Migrate'),
            (SELECT COUNT(*) FROM transformations t CROSS JOIN sources s ON s.id = t.source_id
              WHERE s.server_sync_required = 1 AND t.has_full_replication = 1),
            (SELECT COUNT(*) FROM transformations t
              WHERE (SELECT o.status FROM operations o WHERE o.transformation_id = t.id
                     ORDER BY o.seq DESC LIMIT 1) = 'failed')",
    )
    .fetch_one(conn(r))
    .await?;
    Ok(Counts {
        workloads: signed(workloads),
        active_tasks: signed(active_tasks),
        running_replications: row.0,
        reboot_pending: signed(reboot_pending),
        server_sync_required: row.1,
        failed: row.2,
    })
}

/// A task with its workload's host name (None once the workload is deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub task: Task,
    pub host_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    kind: String,
    source_id: String,
    host_name: Option<String>,
    message: String,
    state: String,
    created_at: String,
    updated_at: String,
    resolved_at: Option<String>,
}

impl Row {
    fn into_row(self) -> Result<TaskRow> {
        Ok(TaskRow {
            task: Task {
                id: parse_uuid(&self.id)?,
                kind: parse_col(&self.kind, "task kind")?,
                source_id: parse_uuid(&self.source_id)?,
                message: self.message,
                state: parse_col(&self.state, "task state")?,
                created_at: parse_ts(&self.created_at)?,
                updated_at: parse_ts(&self.updated_at)?,
                resolved_at: self.resolved_at.as_deref().map(parse_ts).transpose()?,
            },
            host_name: self.host_name,
        })
    }
}

/// The page is cut from `tasks` alone, then joined to its workloads: rows skipped by OFFSET are
/// never joined.
macro_rules! task_query {
    ($where:literal) => {
        concat!(
            "SELECT t.id, t.kind, t.source_id, s.host_name, t.message, t.state, t.created_at, t.updated_at, t.resolved_at
             FROM (SELECT * FROM tasks ",
            $where,
            " ORDER BY seq DESC LIMIT ? OFFSET ?) t
             LEFT JOIN sources s ON s.id = t.source_id
             ORDER BY t.seq DESC"
        )
    };
}

/// A page of tasks, newest first, and their (capped) count.
pub async fn tasks(
    r: &mut impl Read,
    state: Option<TaskState>,
    source_id: Option<Uuid>,
    page: Page,
) -> Result<(Vec<TaskRow>, Capped)> {
    let state = state.map(TaskState::as_str);
    let source = source_id.map(|id| id.to_string());
    // One static statement per filter, so each walks its own index.
    let (list, count): (&'static str, &'static str) = match (state, &source) {
        (None, None) => (
            task_query!(""),
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks LIMIT 10001)",
        ),
        (Some(_), None) => (
            task_query!("WHERE state = ?"),
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE state = ? LIMIT 10001)",
        ),
        (None, Some(_)) => (
            task_query!("WHERE source_id = ?"),
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE source_id = ? LIMIT 10001)",
        ),
        (Some(_), Some(_)) => (
            task_query!("WHERE state = ? AND source_id = ?"),
            "SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE state = ? AND source_id = ? LIMIT 10001)",
        ),
    };
    let mut list = sqlx::query_as::<_, Row>(list);
    let mut count = sqlx::query_scalar::<_, i64>(count);
    if let Some(s) = state {
        list = list.bind(s);
        count = count.bind(s);
    }
    if let Some(s) = &source {
        list = list.bind(s.clone());
        count = count.bind(s.clone());
    }
    let rows = list
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(conn(r))
        .await?;
    // Without a workload, the count kept by the triggers is exact and costs one row; a
    // workload's own tasks are few, counted on its index.
    let total = match source {
        None => {
            let n = super::counts::tasks(r, state, None).await?;
            Capped {
                count: n,
                more: false,
            }
        }
        Some(_) => Capped::new(count.fetch_one(conn(r)).await?),
    };
    let rows = rows.into_iter().map(Row::into_row).collect::<Result<_>>()?;
    Ok((rows, total))
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    kind: String,
    source_id: Option<String>,
    message: String,
    created_at: String,
}

#[derive(sqlx::FromRow)]
struct PagedEventRow {
    seq: i64,
    id: String,
    kind: String,
    source_id: Option<String>,
    message: String,
    created_at: String,
}

/// A page of events older than `before` (a `seq`; None: the newest), of one workload and one
/// kind if given, newest first, each with its `seq` for the next page's `before`. Keyset paging:
/// each filter has its own static statement that walks an index (`events_by_source`,
/// `events_by_kind`, or the table's `seq`) from `before`, so a page deep in ten million events
/// costs what the first does.
pub async fn events_page(
    r: &mut impl Read,
    source_id: Option<Uuid>,
    kind: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<(i64, Event)>> {
    let before = before.unwrap_or(i64::MAX);
    let source = source_id.map(|id| id.to_string());
    let rows: Vec<PagedEventRow> = match (&source, kind) {
        (None, None) => {
            sqlx::query_as(
                "SELECT seq, id, kind, source_id, message, created_at FROM events
                 WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(conn(r))
            .await?
        }
        (Some(s), None) => {
            sqlx::query_as(
                "SELECT seq, id, kind, source_id, message, created_at FROM events
                 WHERE source_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            )
            .bind(s)
            .bind(before)
            .bind(limit)
            .fetch_all(conn(r))
            .await?
        }
        (None, Some(k)) => {
            sqlx::query_as(
                "SELECT seq, id, kind, source_id, message, created_at FROM events
                 WHERE kind = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            )
            .bind(k)
            .bind(before)
            .bind(limit)
            .fetch_all(conn(r))
            .await?
        }
        (Some(s), Some(k)) => {
            sqlx::query_as(
                "SELECT seq, id, kind, source_id, message, created_at FROM events
                 WHERE source_id = ? AND kind = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            )
            .bind(s)
            .bind(k)
            .bind(before)
            .bind(limit)
            .fetch_all(conn(r))
            .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok((
                r.seq,
                Event {
                    id: parse_uuid(&r.id)?,
                    kind: r.kind,
                    source_id: r.source_id.as_deref().map(parse_uuid).transpose()?,
                    message: r.message,
                    created_at: parse_ts(&r.created_at)?,
                },
            ))
        })
        .collect()
}

/// The latest events (of one workload, if given), newest first.
/// One task with its workload's host name.
pub async fn task(r: &mut impl Read, id: Uuid) -> Result<TaskRow> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.id, t.kind, t.source_id, s.host_name, t.message, t.state, t.created_at, t.updated_at, t.resolved_at
         FROM tasks t LEFT JOIN sources s ON s.id = t.source_id WHERE t.id = ?",
    )
    .bind(id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.ok_or_else(|| crate::error::AppError::NotFound(format!("there is no task {id}")))?
        .into_row()
}

pub async fn latest_events(
    r: &mut impl Read,
    source_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Event>> {
    let rows: Vec<EventRow> = match source_id {
        None => sqlx::query_as(
            "SELECT id, kind, source_id, message, created_at FROM events ORDER BY seq DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(conn(r))
        .await?,
        Some(id) => {
            sqlx::query_as(
                "SELECT id, kind, source_id, message, created_at FROM events WHERE source_id = ?
                 ORDER BY seq DESC LIMIT ?",
            )
            .bind(id.to_string())
            .bind(limit)
            .fetch_all(conn(r))
            .await?
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(Event {
                id: parse_uuid(&r.id)?,
                kind: r.kind,
                source_id: r.source_id.as_deref().map(parse_uuid).transpose()?,
                message: r.message,
                created_at: parse_ts(&r.created_at)?,
            })
        })
        .collect()
}

/// The host names of some workloads (for event lines and the filter menu).
pub async fn host_names(r: &mut impl Read, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
        .map_err(crate::error::AppError::internal)?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, host_name FROM sources WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(list)
    .fetch_all(conn(r))
    .await?;
    rows.into_iter()
        .map(|(id, host)| Ok((parse_uuid(&id)?, host)))
        .collect()
}

/// Every workload's id and host name, by host name, for the Tasks page's filter (at most 500).
pub async fn workload_names(r: &mut impl Read) -> Result<Vec<(Uuid, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, host_name FROM sources ORDER BY host_name COLLATE NOCASE, rowid LIMIT 500",
    )
    .fetch_all(conn(r))
    .await?;
    rows.into_iter()
        .map(|(id, host)| Ok((parse_uuid(&id)?, host)))
        .collect()
}

/// The number of active tasks of a workload (the Workloads page's Tasks icon).
pub async fn active_task_count(r: &mut impl Read, source_id: Uuid) -> Result<i64> {
    Ok(
        // By the workload's own tasks (a few): left to itself SQLite walks every active task
        // of every workload through `tasks_by_state`, once per row of the Workloads page.
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks INDEXED BY tasks_by_source
             WHERE source_id = ? AND state = 'active'",
        )
        .bind(source_id.to_string())
        .fetch_one(conn(r))
        .await?,
    )
}
