//! Tasks that need an operator: reboot notifications and the test-cutover pair.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sqlx::{QueryBuilder, Sqlite};

use super::counts::{Order, push_keyset};
use super::events::{self, kind};
use super::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::model::{Task, TaskKind, TaskState};
use crate::domain::paging::{Cursor, Paged};
use crate::error::{AppError, Result};

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: String,
    kind: String,
    source_id: String,
    message: String,
    state: String,
    created_at: String,
    updated_at: String,
    resolved_at: Option<String>,
}

impl TaskRow {
    fn into_task(self) -> Result<Task> {
        Ok(Task {
            id: parse_uuid(&self.id)?,
            kind: parse_col(&self.kind, "task kind")?,
            source_id: parse_uuid(&self.source_id)?,
            message: self.message,
            state: parse_col(&self.state, "task state")?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            resolved_at: self.resolved_at.as_deref().map(parse_ts).transpose()?,
        })
    }
}

#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub source_id: Option<Uuid>,
    pub kind: Option<TaskKind>,
}

/// A page of tasks, newest first, and the count of all that match. Each filter is its own
/// statement (an `AND` of equalities), so that SQLite walks `tasks_by_source` or
/// `tasks_by_state` in `seq` order; the count comes from `row_counts` unless the list is one
/// workload's, whose index range is short.
pub async fn list(
    r: &mut impl Read,
    filter: &TaskFilter,
    cursor: Cursor,
) -> Result<(Paged<Task>, u64)> {
    #[derive(sqlx::FromRow)]
    struct Keyed {
        seq: i64,
        #[sqlx(flatten)]
        row: TaskRow,
    }
    let state = filter.state.map(TaskState::as_str);
    let source = filter.source_id.map(|id| id.to_string());
    let kind = filter.kind.map(TaskKind::as_str);
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT seq, id, kind, source_id, message, state, created_at, updated_at, resolved_at
         FROM tasks WHERE 1",
    );
    if let Some(s) = state {
        q.push(" AND state = ").push_bind(s);
    }
    if let Some(s) = &source {
        q.push(" AND source_id = ").push_bind(s.clone());
    }
    if let Some(k) = kind {
        q.push(" AND kind = ").push_bind(k);
    }
    push_keyset(&mut q, "seq", Order::NewestFirst, cursor);
    let rows: Vec<Keyed> = q.build_query_as().fetch_all(conn(r)).await?;
    let total = match &source {
        Some(s) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tasks
                 WHERE source_id = ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR kind = ?3)",
            )
            .bind(s)
            .bind(state)
            .bind(kind)
            .fetch_one(conn(r))
            .await?;
            u64::try_from(n).unwrap_or(0)
        }
        None => super::counts::tasks(r, state, kind).await?,
    };
    let tasks = rows
        .into_iter()
        .map(|k| Ok((k.seq, k.row.into_task()?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((cursor.cut(tasks), total))
}

pub async fn get(r: &mut impl Read, id: Uuid) -> Result<Task> {
    let row: Option<TaskRow> = sqlx::query_as(
        "SELECT id, kind, source_id, message, state, created_at, updated_at, resolved_at FROM tasks WHERE id = ?",
    )
    .bind(id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.ok_or_else(|| AppError::NotFound(format!("task {id} not found")))?
        .into_task()
}

/// The machine's active reboot-notification task, if any.
pub async fn active_reboot_task(r: &mut impl Read, source_id: Uuid) -> Result<Option<Task>> {
    let row: Option<TaskRow> = sqlx::query_as(
        "SELECT id, kind, source_id, message, state, created_at, updated_at, resolved_at FROM tasks
         WHERE source_id = ? AND kind = 'RebootRequired' AND state = 'active'",
    )
    .bind(source_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(TaskRow::into_task).transpose()
}

/// Every task of a source, oldest first (inside a caller's transaction).
pub async fn for_source(r: &mut impl Read, source_id: Uuid) -> Result<Vec<Task>> {
    let rows: Vec<TaskRow> = sqlx::query_as(
        "SELECT id, kind, source_id, message, state, created_at, updated_at, resolved_at FROM tasks
         WHERE source_id = ? ORDER BY seq",
    )
    .bind(source_id.to_string())
    .fetch_all(conn(r))
    .await?;
    rows.into_iter().map(TaskRow::into_task).collect()
}

pub async fn create(
    tx: &mut WriteTx,
    kind: TaskKind,
    source_id: Uuid,
    message: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO tasks (id, kind, source_id, message, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'active', ?, ?)",
    )
    .bind(id.to_string())
    .bind(kind.as_str())
    .bind(source_id.to_string())
    .bind(message)
    .bind(ts(now))
    .bind(ts(now))
    .execute(tx.conn())
    .await?;
    events::insert(tx, kind::TASK_CREATED, Some(source_id), message, now).await?;
    Ok(id)
}

pub async fn update_message(
    tx: &mut WriteTx,
    task: &Task,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE tasks SET message = ?, updated_at = ? WHERE id = ?")
        .bind(message)
        .bind(ts(now))
        .bind(task.id.to_string())
        .execute(tx.conn())
        .await?;
    events::insert(tx, kind::TASK_UPDATED, Some(task.source_id), message, now).await
}

pub async fn resolve(tx: &mut WriteTx, task: &Task, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE tasks SET state = 'resolved', updated_at = ?, resolved_at = ? WHERE id = ?",
    )
    .bind(ts(now))
    .bind(ts(now))
    .bind(task.id.to_string())
    .execute(tx.conn())
    .await?;
    let message = format!("Task resolved: {}", task.message);
    events::insert(tx, kind::TASK_RESOLVED, Some(task.source_id), &message, now).await
}

/// Mark an active task dismissed by `by`, with its event. The caller checked it is active.
pub async fn dismiss(tx: &mut WriteTx, task: Task, by: &str, now: DateTime<Utc>) -> Result<Task> {
    sqlx::query(
        "UPDATE tasks SET state = 'dismissed', updated_at = ?, resolved_at = ? WHERE id = ?",
    )
    .bind(ts(now))
    .bind(ts(now))
    .bind(task.id.to_string())
    .execute(tx.conn())
    .await?;
    let message = format!("Task dismissed by {by}: {}", task.message);
    events::insert(
        tx,
        kind::TASK_DISMISSED,
        Some(task.source_id),
        &message,
        now,
    )
    .await?;
    Ok(Task {
        state: TaskState::Dismissed,
        updated_at: now,
        resolved_at: Some(now),
        ..task
    })
}

/// How many tasks are in each state (states with none are left out), for `/metrics`.
pub async fn count_by_state(r: &mut impl Read) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT state, COUNT(*) FROM tasks GROUP BY state")
            .fetch_all(conn(r))
            .await?,
    )
}
