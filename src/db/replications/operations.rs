//! The operations of the transformations: their rows, the queries that read them, and the
//! writes that queue and update them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::model::{Operation, Step, Warning};
use crate::domain::paging::Page;
use crate::domain::replication::{MigrationType, OperationStatus, OperationType};
use crate::error::{AppError, Result};

/// `SELECT` of an [`OperationRow`]'s columns `FROM operations`, in one place for every query that
/// reads one (a macro, so that `concat!` keeps the SQL a static string).
macro_rules! select_operations {
    () => {
        "SELECT id, transformation_id, source_id, operation_type, migration_type, performed_as, status,
                progress, steps, driver_version_used, transfer_method, warnings, clears_server_sync,
                options, error, created_at, started_at, completed_at, started_by
         FROM operations"
    };
}

#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    transformation_id: String,
    source_id: String,
    operation_type: String,
    migration_type: Option<String>,
    performed_as: Option<String>,
    status: String,
    progress: i64,
    steps: String,
    driver_version_used: Option<String>,
    transfer_method: Option<String>,
    warnings: String,
    clears_server_sync: bool,
    options: String,
    error: Option<String>,
    created_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    started_by: Option<String>,
}

pub(super) fn json_col<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| AppError::internal(format!("corrupt {what} in the database: {e}")))
}

impl OperationRow {
    fn into_model(self) -> Result<Operation> {
        Ok(Operation {
            id: parse_uuid(&self.id)?,
            transformation_id: parse_uuid(&self.transformation_id)?,
            source_id: parse_uuid(&self.source_id)?,
            operation_type: parse_col(&self.operation_type, "operation type")?,
            migration_type: self
                .migration_type
                .as_deref()
                .map(|m| parse_col(m, "migration type"))
                .transpose()?,
            performed_as: self
                .performed_as
                .as_deref()
                .map(|m| parse_col(m, "migration type"))
                .transpose()?,
            status: parse_col(&self.status, "operation status")?,
            progress: u8::try_from(self.progress.clamp(0, 100)).unwrap_or(0),
            steps: json_col(&self.steps, "operation steps")?,
            driver_version_used: self
                .driver_version_used
                .as_deref()
                .map(|v| parse_col(v, "driver version"))
                .transpose()?,
            transfer_method: self.transfer_method,
            warnings: json_col(&self.warnings, "operation warnings")?,
            clears_server_sync: self.clears_server_sync,
            options: json_col(&self.options, "operation options")?,
            error: self.error,
            created_at: parse_ts(&self.created_at)?,
            started_at: self.started_at.as_deref().map(parse_ts).transpose()?,
            completed_at: self.completed_at.as_deref().map(parse_ts).transpose()?,
            started_by: self.started_by,
        })
    }
}

/// The queued or running operation of a contract.
pub async fn active_operation(
    r: &mut impl Read,
    transformation_id: Uuid,
) -> Result<Option<Operation>> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE transformation_id = ? AND status IN ('queued', 'running')"
    ))
    .bind(transformation_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(OperationRow::into_model).transpose()
}

/// The latest replication (Migrate operation) of a contract.
pub async fn last_replication(
    r: &mut impl Read,
    transformation_id: Uuid,
) -> Result<Option<Operation>> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE transformation_id = ? AND operation_type = 'Migrate' ORDER BY seq DESC LIMIT 1"
    ))
    .bind(transformation_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(OperationRow::into_model).transpose()
}

/// The latest operation of any type.
pub async fn last_operation(
    r: &mut impl Read,
    transformation_id: Uuid,
) -> Result<Option<Operation>> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE transformation_id = ? ORDER BY seq DESC LIMIT 1"
    ))
    .bind(transformation_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(OperationRow::into_model).transpose()
}

/// When the contract's latest test cutover completed (the Workloads page's Last Test Cutover).
pub async fn last_test_cutover(
    r: &mut impl Read,
    transformation_id: Uuid,
) -> Result<Option<DateTime<Utc>>> {
    let at: Option<Option<String>> = sqlx::query_scalar(
        "SELECT completed_at FROM operations
         WHERE transformation_id = ? AND operation_type = 'TestCutover'
           AND status IN ('succeeded', 'succeededWithWarnings')
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(transformation_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    at.flatten().as_deref().map(parse_ts).transpose()
}

pub async fn find_operation(r: &mut impl Read, id: Uuid) -> Result<Operation> {
    let row: Option<OperationRow> = sqlx::query_as(concat!(select_operations!(), " WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(conn(r))
        .await?;
    row.ok_or_else(|| AppError::NotFound(format!("operation {id} not found")))?
        .into_model()
}

#[derive(Debug, Default, Clone)]
pub struct OperationFilter {
    pub transformation_id: Option<Uuid>,
    pub source_id: Option<Uuid>,
    pub status: Option<OperationStatus>,
}

pub async fn list_operations(
    r: &mut impl Read,
    filter: &OperationFilter,
    page: Page,
) -> Result<(Vec<Operation>, u64)> {
    let t = filter.transformation_id.map(|id| id.to_string());
    let s = filter.source_id.map(|id| id.to_string());
    let st = filter.status.map(OperationStatus::as_str);
    let rows: Vec<OperationRow> = sqlx::query_as(
        concat!(
            select_operations!(),
            " WHERE (?1 IS NULL OR transformation_id = ?1) AND (?2 IS NULL OR source_id = ?2) AND (?3 IS NULL OR status = ?3)
             ORDER BY seq DESC LIMIT ?4 OFFSET ?5"
        ),
    )
    .bind(&t)
    .bind(&s)
    .bind(st)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(conn(r))
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM operations
         WHERE (?1 IS NULL OR transformation_id = ?1) AND (?2 IS NULL OR source_id = ?2) AND (?3 IS NULL OR status = ?3)",
    )
    .bind(&t)
    .bind(&s)
    .bind(st)
    .fetch_one(conn(r))
    .await?;
    let items = rows
        .into_iter()
        .map(OperationRow::into_model)
        .collect::<Result<_>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

/// A new operation row, queued.
pub struct NewOperation<'a> {
    pub transformation_id: Uuid,
    pub source_id: Uuid,
    pub operation_type: OperationType,
    pub migration_type: Option<MigrationType>,
    pub performed_as: Option<MigrationType>,
    pub steps: &'a [Step],
    pub driver_version_used: Option<String>,
    pub transfer_method: Option<&'a str>,
    pub warnings: &'a [Warning],
    pub clears_server_sync: bool,
    pub options: &'a serde_json::Value,
    pub started_by: &'a str,
}

pub(super) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

pub async fn insert_operation(
    tx: &mut WriteTx,
    new: &NewOperation<'_>,
    now: DateTime<Utc>,
) -> Result<Operation> {
    let id = Uuid::new_v4();
    let result = sqlx::query(
        "INSERT INTO operations (id, transformation_id, source_id, operation_type, migration_type, performed_as, status,
                                 progress, steps, driver_version_used, transfer_method, warnings, clears_server_sync,
                                 options, created_at, updated_at, started_by)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(new.transformation_id.to_string())
    .bind(new.source_id.to_string())
    .bind(new.operation_type.as_str())
    .bind(new.migration_type.map(MigrationType::as_str))
    .bind(new.performed_as.map(MigrationType::as_str))
    .bind(to_json(&new.steps)?)
    .bind(&new.driver_version_used)
    .bind(new.transfer_method)
    .bind(to_json(&new.warnings)?)
    .bind(new.clears_server_sync)
    .bind(to_json(new.options)?)
    .bind(ts(now))
    .bind(ts(now))
    .bind(new.started_by)
    .execute(tx.conn())
    .await;
    match result {
        Ok(_) => find_operation(tx, id).await,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppError::conflict(
            "OperationRunning",
            "an operation is already running on this transformation; wait for it or abort it",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Store an operation's progress, steps, warnings and status (one row, one statement).
pub async fn save_operation(tx: &mut WriteTx, op: &Operation, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE operations SET status = ?, progress = ?, steps = ?, warnings = ?, error = ?, started_at = ?,
                               completed_at = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(op.status.as_str())
    .bind(i64::from(op.progress))
    .bind(to_json(&op.steps)?)
    .bind(to_json(&op.warnings)?)
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
pub async fn unfinished(r: &mut impl Read) -> Result<Vec<Operation>> {
    let rows: Vec<OperationRow> = sqlx::query_as(concat!(
        select_operations!(),
        " WHERE status IN ('queued', 'running')"
    ))
    .fetch_all(conn(r))
    .await?;
    rows.into_iter().map(OperationRow::into_model).collect()
}

/// How many operations have each status (statuses with none are left out), for `/metrics`.
pub async fn count_by_status(r: &mut impl Read) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM operations GROUP BY status")
            .fetch_all(conn(r))
            .await?,
    )
}
