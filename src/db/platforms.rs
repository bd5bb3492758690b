//! Target platforms and their operations (the PreDiscovery that follows an add).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::paging::Page;
use crate::domain::target_platform::{
    NewPlatform, PlatformOperation, PlatformOperationType, PlatformState, SubOperation,
    TargetPlatform,
};
use crate::error::{AppError, Result};

/// `SELECT` of a [`PlatformRow`]'s columns (a macro, so that `concat!` keeps the SQL static).
macro_rules! select_platforms {
    () => {
        "SELECT id, platform_type, username, azure_cloud_name, location_name, subscription_id,
                application_id, state, created_at, updated_at
         FROM platforms"
    };
}

#[derive(sqlx::FromRow)]
struct PlatformRow {
    id: String,
    platform_type: String,
    username: String,
    azure_cloud_name: String,
    location_name: String,
    subscription_id: String,
    application_id: String,
    state: String,
    created_at: String,
    updated_at: String,
}

impl PlatformRow {
    fn into_model(self) -> Result<TargetPlatform> {
        Ok(TargetPlatform {
            id: parse_uuid(&self.id)?,
            platform_type: parse_col(&self.platform_type, "platform type")?,
            username: self.username,
            azure_cloud_name: parse_col(&self.azure_cloud_name, "Azure cloud name")?,
            location_name: self.location_name,
            subscription_id: self.subscription_id,
            application_id: self.application_id,
            state: parse_col(&self.state, "platform state")?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
        })
    }
}

macro_rules! select_operations {
    () => {
        "SELECT id, platform_id, operation_type, status, progress, sub_operations, error,
                created_at, started_at, completed_at
         FROM platform_operations"
    };
}

#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    platform_id: String,
    operation_type: String,
    status: String,
    progress: i64,
    sub_operations: String,
    error: Option<String>,
    created_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
}

impl OperationRow {
    fn into_model(self) -> Result<PlatformOperation> {
        let sub_operations: Vec<SubOperation> = serde_json::from_str(&self.sub_operations)
            .map_err(|e| {
                AppError::internal(format!("corrupt sub-operations in the database: {e}"))
            })?;
        Ok(PlatformOperation {
            id: parse_uuid(&self.id)?,
            platform_id: parse_uuid(&self.platform_id)?,
            operation_type: parse_col(&self.operation_type, "platform operation type")?,
            status: parse_col(&self.status, "operation status")?,
            progress: u8::try_from(self.progress.clamp(0, 100)).unwrap_or(0),
            sub_operations,
            error: self.error,
            created_at: parse_ts(&self.created_at)?,
            started_at: self.started_at.as_deref().map(parse_ts).transpose()?,
            completed_at: self.completed_at.as_deref().map(parse_ts).transpose()?,
        })
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound(format!("platform {id} not found"))
}

/// A new platform, `Discovering` until its PreDiscovery operation ends.
pub async fn insert(
    tx: &mut WriteTx,
    new: &NewPlatform,
    now: DateTime<Utc>,
) -> Result<TargetPlatform> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO platforms (id, platform_type, username, azure_cloud_name, location_name, subscription_id,
                                application_id, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(new.platform_type.as_str())
    .bind(&new.username)
    .bind(new.azure_cloud_name.as_str())
    .bind(&new.location_name)
    .bind(&new.subscription_id)
    .bind(&new.application_id)
    .bind(PlatformState::Discovering.as_str())
    .bind(ts(now))
    .bind(ts(now))
    .execute(tx.conn())
    .await?;
    find(tx, id).await
}

pub async fn find(r: &mut impl Read, id: Uuid) -> Result<TargetPlatform> {
    let row: Option<PlatformRow> = sqlx::query_as(concat!(select_platforms!(), " WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(conn(r))
        .await?;
    row.ok_or_else(|| not_found(id))?.into_model()
}

/// Whether a platform exists (for instance, the one a transformation names).
pub async fn exists(r: &mut impl Read, id: Uuid) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM platforms WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(conn(r))
        .await?;
    Ok(found.is_some())
}

/// A page of the platforms, oldest first, and how many there are.
pub async fn list(r: &mut impl Read, page: Page) -> Result<(Vec<TargetPlatform>, u64)> {
    let rows: Vec<PlatformRow> = sqlx::query_as(concat!(
        select_platforms!(),
        " ORDER BY seq LIMIT ? OFFSET ?"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(conn(r))
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM platforms")
        .fetch_one(conn(r))
        .await?;
    let items = rows
        .into_iter()
        .map(PlatformRow::into_model)
        .collect::<Result<_>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub async fn set_state(
    tx: &mut WriteTx,
    id: Uuid,
    state: PlatformState,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE platforms SET state = ?, updated_at = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(ts(now))
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Remove a platform with its operations.
pub async fn delete(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM platforms WHERE id = ?")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn to_json(tree: &[SubOperation]) -> Result<String> {
    serde_json::to_string(tree).map_err(AppError::internal)
}

/// A new operation on a platform, queued.
pub async fn insert_operation(
    tx: &mut WriteTx,
    platform_id: Uuid,
    operation_type: PlatformOperationType,
    sub_operations: &[SubOperation],
    now: DateTime<Utc>,
) -> Result<PlatformOperation> {
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO platform_operations (id, platform_id, operation_type, status, progress, sub_operations,
                                          created_at, updated_at)
         VALUES (?, ?, ?, 'queued', 0, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(platform_id.to_string())
    .bind(operation_type.as_str())
    .bind(to_json(sub_operations)?)
    .bind(ts(now))
    .bind(ts(now))
    .execute(tx.conn())
    .await;
    match result {
        Ok(_) => find_operation(tx, id).await,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppError::conflict(
            "OperationRunning",
            "an operation is already running on this platform; wait for it to end",
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn find_operation(r: &mut impl Read, id: Uuid) -> Result<PlatformOperation> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(select_operations!(), " WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(conn(r))
        .await?;
    row.ok_or_else(|| AppError::NotFound(format!("operation {id} not found")))?
        .into_model()
}

/// The latest operation on a platform, if any.
pub async fn last_operation(
    r: &mut impl Read,
    platform_id: Uuid,
) -> Result<Option<PlatformOperation>> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE platform_id = ? ORDER BY seq DESC LIMIT 1"
    ))
    .bind(platform_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(OperationRow::into_model).transpose()
}

/// Store an operation's status, progress, sub-operations and times (one row, one statement).
pub async fn save_operation(
    tx: &mut WriteTx,
    op: &PlatformOperation,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE platform_operations SET status = ?, progress = ?, sub_operations = ?, error = ?, started_at = ?,
                                        completed_at = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(op.status.as_str())
    .bind(i64::from(op.progress))
    .bind(to_json(&op.sub_operations)?)
    .bind(&op.error)
    .bind(op.started_at.map(ts))
    .bind(op.completed_at.map(ts))
    .bind(ts(now))
    .bind(op.id.to_string())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Operations left queued or running by a previous run of the server.
pub async fn unfinished_operations(r: &mut impl Read) -> Result<Vec<PlatformOperation>> {
    let rows: Vec<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE status IN ('queued', 'running')"
    ))
    .fetch_all(conn(r))
    .await?;
    rows.into_iter().map(OperationRow::into_model).collect()
}

/// For a reset: remove every platform operation; a platform whose discovery is cut short by it
/// is left `DiscoveryFailed`, not discovering forever. With `platforms`, the platforms go too.
pub(super) async fn clear(tx: &mut WriteTx, platforms: bool) -> Result<()> {
    sqlx::query("DELETE FROM platform_operations")
        .execute(tx.conn())
        .await?;
    if platforms {
        sqlx::query("DELETE FROM platforms")
            .execute(tx.conn())
            .await?;
    } else {
        sqlx::query("UPDATE platforms SET state = ?, updated_at = ? WHERE state = ?")
            .bind(PlatformState::DiscoveryFailed.as_str())
            .bind(ts(Utc::now()))
            .bind(PlatformState::Discovering.as_str())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}
