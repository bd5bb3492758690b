//! The event log: one line per thing that happened, newest first.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sqlx::{QueryBuilder, Sqlite};

use super::counts::{Order, push_keyset};
use super::{Read, WriteTx, conn, parse_ts, parse_uuid, ts};
use crate::domain::model::Event;
use crate::domain::paging::{Cursor, Paged};
use crate::error::Result;

/// Kinds of events, as stored and as the API shows them.
pub mod kind {
    pub const SOURCE_ADDED: &str = "SourceAdded";
    pub const SOURCE_REGISTERED: &str = "SourceRegistered";
    pub const SOURCE_REREGISTERED: &str = "SourceReregistered";
    pub const SOURCE_DELETED: &str = "SourceDeleted";
    pub const DRIVER_INSTALLED: &str = "DriverInstalled";
    pub const DRIVER_UPGRADED: &str = "DriverUpgraded";
    pub const DRIVER_REPLACED: &str = "DriverReplaced";
    pub const DRIVER_UNINSTALLED: &str = "DriverUninstalled";
    pub const REBOOT_DETECTED: &str = "RebootDetected";
    pub const CONTROLLER_SERVICE_CHANGED: &str = "ControllerServiceChanged";
    pub const SERVER_SYNC_REQUIRED: &str = "ServerSyncRequired";
    pub const TASK_CREATED: &str = "TaskCreated";
    pub const TASK_UPDATED: &str = "TaskUpdated";
    pub const TASK_RESOLVED: &str = "TaskResolved";
    pub const TASK_DISMISSED: &str = "TaskDismissed";
    pub const DRIVER_PACKAGE_ADDED: &str = "DriverPackageAdded";
    pub const DRIVER_PACKAGE_CHANGED: &str = "DriverPackageChanged";
    pub const DRIVER_PACKAGE_REMOVED: &str = "DriverPackageRemoved";
    pub const SERVER_SYNC_CLEARED: &str = "ServerSyncCleared";
    pub const TRANSFORMATION_CREATED: &str = "TransformationCreated";
    pub const TRANSFORMATION_REMOVED: &str = "TransformationRemoved";
    pub const TRANSFORMATION_SETTINGS_CHANGED: &str = "TransformationSettingsChanged";
    pub const OPERATION_QUEUED: &str = "OperationQueued";
    pub const OPERATION_STARTED: &str = "OperationStarted";
    pub const OPERATION_COMPLETED: &str = "OperationCompleted";
    pub const OPERATION_COMPLETED_WITH_WARNINGS: &str = "OperationCompletedWithWarnings";
    pub const OPERATION_FAILED: &str = "OperationFailed";
    pub const OPERATION_ABORTED: &str = "OperationAborted";
    pub const TEST_CUTOVER_MARKED: &str = "TestCutoverMarked";
    pub const PLATFORM_ADDED: &str = "PlatformAdded";
    pub const PLATFORM_REMOVED: &str = "PlatformRemoved";
}

pub async fn insert(
    tx: &mut WriteTx,
    kind: &str,
    source_id: Option<Uuid>,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (id, kind, source_id, message, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(kind)
    .bind(source_id.map(|id| id.to_string()))
    .bind(message)
    .bind(ts(now))
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub source_id: Option<Uuid>,
    pub kind: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    id: String,
    kind: String,
    source_id: Option<String>,
    message: String,
    created_at: String,
}

impl EventRow {
    fn into_event(self) -> Result<(i64, Event)> {
        Ok((
            self.seq,
            Event {
                id: parse_uuid(&self.id)?,
                kind: self.kind,
                source_id: self.source_id.as_deref().map(parse_uuid).transpose()?,
                message: self.message,
                created_at: parse_ts(&self.created_at)?,
            },
        ))
    }
}

/// A page of events, newest first, and the count of all that match. Each filter is its own
/// statement (an `AND` of equalities), so that SQLite walks `events_by_source` or
/// `events_by_kind` in `seq` order, and a page past a key seeks to it: a page costs the same
/// at any depth. The count is read from `row_counts` (see [`super::counts`]) unless the list is
/// one workload's, whose index range is short.
pub async fn list(
    r: &mut impl Read,
    filter: &EventFilter,
    cursor: Cursor,
) -> Result<(Paged<Event>, u64)> {
    let source = filter.source_id.map(|id| id.to_string());
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT seq, id, kind, source_id, message, created_at FROM events WHERE 1",
    );
    if let Some(s) = &source {
        q.push(" AND source_id = ").push_bind(s.clone());
    }
    if let Some(k) = &filter.kind {
        q.push(" AND kind = ").push_bind(k.clone());
    }
    push_keyset(&mut q, "seq", Order::NewestFirst, cursor);
    let rows: Vec<EventRow> = q.build_query_as().fetch_all(conn(r)).await?;
    let total = match &source {
        Some(s) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE source_id = ?1 AND (?2 IS NULL OR kind = ?2)",
            )
            .bind(s)
            .bind(&filter.kind)
            .fetch_one(conn(r))
            .await?;
            u64::try_from(n).unwrap_or(0)
        }
        None => super::counts::events(r, filter.kind.as_deref()).await?,
    };
    let rows = rows
        .into_iter()
        .map(EventRow::into_event)
        .collect::<Result<Vec<_>>>()?;
    Ok((cursor.cut(rows), total))
}
