//! Transformations (migration contracts); their operations' rows are in `operations`, whose
//! functions are re-exported here.

mod operations;
pub use operations::*;
use operations::{json_col, to_json};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Read, WriteTx, conn, parse_col, parse_ts, parse_uuid, ts};
use crate::domain::model::{Operation, Transformation};
use crate::domain::paging::Page;
use crate::domain::replication::{ContractFacts, ContractState, OperationStatus};
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
