//! A transformation's setting groups (issue 17): one row per transformation, each group stored as
//! the JSON the API answers (without links). Removing the transformation removes its row (the
//! foreign key cascades), in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{Read, WriteTx, conn, ts};
use crate::domain::settings::Settings;
use crate::error::{AppError, Result};

#[derive(sqlx::FromRow)]
struct SettingsRow {
    storage: String,
    networking: String,
    schedule: String,
    target_settings: String,
    replication_settings: String,
}

fn group<T: DeserializeOwned>(text: &str, name: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| AppError::internal(format!("corrupt {name} settings in the database: {e}")))
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(AppError::internal)
}

/// A transformation's stored settings; `None` when it has none stored (it then has its
/// defaults).
pub async fn find(r: &mut impl Read, transformation_id: Uuid) -> Result<Option<Settings>> {
    let row: Option<SettingsRow> = sqlx::query_as(
        "SELECT storage, networking, schedule, target_settings, replication_settings
         FROM transformation_settings WHERE transformation_id = ?",
    )
    .bind(transformation_id.to_string())
    .fetch_optional(conn(r))
    .await?;
    row.map(|row| {
        Ok(Settings {
            storage: group(&row.storage, "storage")?,
            networking: group(&row.networking, "networking")?,
            schedule: group(&row.schedule, "schedule")?,
            target_settings: group(&row.target_settings, "target")?,
            replication_settings: group(&row.replication_settings, "replication")?,
        })
    })
    .transpose()
}

/// Store all of a transformation's settings (a whole row: a change to one group is small).
pub async fn save(
    tx: &mut WriteTx,
    transformation_id: Uuid,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO transformation_settings
             (transformation_id, storage, networking, schedule, target_settings, replication_settings, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (transformation_id) DO UPDATE SET
             storage = excluded.storage, networking = excluded.networking, schedule = excluded.schedule,
             target_settings = excluded.target_settings,
             replication_settings = excluded.replication_settings, updated_at = excluded.updated_at",
    )
    .bind(transformation_id.to_string())
    .bind(json(&s.storage)?)
    .bind(json(&s.networking)?)
    .bind(json(&s.schedule)?)
    .bind(json(&s.target_settings)?)
    .bind(json(&s.replication_settings)?)
    .bind(ts(now))
    .execute(tx.conn())
    .await?;
    Ok(())
}
