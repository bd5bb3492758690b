//! Transformations (migration contracts) and their operations.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::model::{Operation, Step, Transformation, Warning};
use crate::domain::paging::Page;
use crate::domain::replication::{
    ContractFacts, ContractState, MigrationType, OperationStatus, OperationType,
};
use crate::domain::workload::Workload;
use crate::error::{AppError, Result};

/// `SELECT` of a [`TransformationRow`]'s columns `FROM transformations` (a macro, so that
/// `concat!` keeps the SQL a static string).
macro_rules! select_transformations {
    () => {
        "SELECT id, source_id, display_name, platform_id, tags, state, has_full_replication, created_at, updated_at
         FROM transformations"
    };
}

#[derive(sqlx::FromRow)]
struct TransformationRow {
    id: String,
    source_id: String,
    display_name: String,
    platform_id: Option<String>,
    tags: Option<String>,
    state: String,
    has_full_replication: bool,
    created_at: String,
    updated_at: String,
}

impl TransformationRow {
    fn into_model(self) -> Result<Transformation> {
        Ok(Transformation {
            id: parse_uuid(&self.id)?,
            source_id: parse_uuid(&self.source_id)?,
            display_name: self.display_name,
            platform_id: self.platform_id.as_deref().map(parse_uuid).transpose()?,
            tags: self
                .tags
                .as_deref()
                .map(|t| json_col(t, "transformation tags"))
                .transpose()?,
            state: parse_col(&self.state, "contract state")?,
            has_full_replication: self.has_full_replication,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
        })
    }
}

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

fn json_col<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
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

/// A new transformation's row: its source and its documented members.
#[derive(Debug, Clone)]
pub struct NewTransformation<'a> {
    pub source_id: Uuid,
    /// The source's host name when `None`.
    pub display_name: Option<&'a str>,
    pub platform_id: Option<Uuid>,
    pub tags: Option<&'a [String]>,
}

impl NewTransformation<'_> {
    /// A source's transformation with the defaults: its host name, no platform, no tags.
    pub fn for_source(source_id: Uuid) -> Self {
        Self {
            source_id,
            display_name: None,
            platform_id: None,
            tags: None,
        }
    }
}

pub async fn create(
    tx: &mut WriteTx,
    new: &NewTransformation<'_>,
    now: DateTime<Utc>,
) -> Result<Transformation> {
    let id = Uuid::new_v4();
    let source_id = new.source_id;
    let result = sqlx::query(
        "INSERT INTO transformations (id, source_id, display_name, platform_id, tags, state, created_at, updated_at)
         VALUES (?1, ?2, COALESCE(?3, (SELECT host_name FROM sources WHERE id = ?2)), ?4, ?5, 'Configured', ?6, ?6)",
    )
    .bind(id.to_string())
    .bind(source_id.to_string())
    .bind(new.display_name)
    .bind(new.platform_id.map(|p| p.to_string()))
    .bind(new.tags.map(to_json).transpose()?)
    .bind(ts(now))
    .execute(tx.conn())
    .await;
    match result {
        Ok(_) => find(tx, id).await,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppError::conflict(
            "TransformationExists",
            format!(
                "source {source_id} already has a transformation; a workload has one migration contract"
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn find(r: &mut impl Read, id: Uuid) -> Result<Transformation> {
    let row: Option<TransformationRow> =
        sqlx::query_as(concat!(select_transformations!(), " WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(conn(r))
            .await?;
    row.ok_or_else(|| AppError::NotFound(format!("transformation {id} not found")))?
        .into_model()
}

/// A transformation that migrates to `platform_id`, if one does.
pub async fn using_platform(r: &mut impl Read, platform_id: Uuid) -> Result<Option<Uuid>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM transformations WHERE platform_id = ? LIMIT 1")
            .bind(platform_id.to_string())
            .fetch_optional(conn(r))
            .await?;
    id.map(|id| parse_uuid(&id)).transpose()
}

pub async fn for_source(r: &mut impl Read, source_id: Uuid) -> Result<Option<Transformation>> {
    let row: Option<TransformationRow> =
        sqlx::query_as(concat!(select_transformations!(), " WHERE source_id = ?"))
            .bind(source_id.to_string())
            .fetch_optional(conn(r))
            .await?;
    row.map(TransformationRow::into_model).transpose()
}

pub async fn list(
    r: &mut impl Read,
    source_id: Option<Uuid>,
    page: Page,
) -> Result<(Vec<Transformation>, u64)> {
    let source = source_id.map(|id| id.to_string());
    let rows: Vec<TransformationRow> = sqlx::query_as(concat!(
        select_transformations!(),
        " WHERE (?1 IS NULL OR source_id = ?1) ORDER BY seq LIMIT ?2 OFFSET ?3"
    ))
    .bind(&source)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(conn(r))
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM transformations WHERE (?1 IS NULL OR source_id = ?1)",
    )
    .bind(&source)
    .fetch_one(conn(r))
    .await?;
    let items = rows
        .into_iter()
        .map(TransformationRow::into_model)
        .collect::<Result<_>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub async fn set_state(
    tx: &mut WriteTx,
    id: Uuid,
    state: ContractState,
    has_full_replication: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE transformations SET state = ?, has_full_replication = ?, updated_at = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(has_full_replication)
        .bind(ts(now))
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut WriteTx, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM transformations WHERE id = ?")
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
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

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
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

/// What the status rules need to know of a contract, read in one place.
pub async fn facts(
    r: &mut impl Read,
    t: &Transformation,
) -> Result<(ContractFacts, Option<Operation>)> {
    let active = active_operation(r, t.id).await?;
    Ok((
        ContractFacts {
            state: t.state,
            running: active.as_ref().map(|o| o.operation_type),
            has_full_replication: t.has_full_replication,
        },
        active,
    ))
}

/// A workload's replication side: its contract, if any, the operation running on it and its
/// latest replication.
pub async fn workload(r: &mut impl Read, source_id: Uuid) -> Result<Workload> {
    let Some(t) = for_source(r, source_id).await? else {
        return Ok(Workload::default());
    };
    let (facts, active) = facts(r, &t).await?;
    let last_replication = last_replication(r, t.id).await?;
    let last_failure = last_operation(r, t.id)
        .await?
        .filter(|o| o.status == OperationStatus::Failed);
    Ok(Workload {
        transformation: Some(t),
        facts: Some(facts),
        active,
        last_replication,
        last_failure,
    })
}

/// How many operations have each status (statuses with none are left out), for `/metrics`.
pub async fn count_by_status(r: &mut impl Read) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM operations GROUP BY status")
            .fetch_all(conn(r))
            .await?,
    )
}
