//! A workload's migration contract (a transformation): configured, then removed.

use chrono::Utc;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::{Db, replications, sources};
use crate::domain::model::Transformation;
use crate::error::{AppError, Result};

/// Configure a migration contract for a source (`currentState` `Configured`).
pub async fn configure(db: &Db, by: &Caller, source_id: Uuid) -> Result<Transformation> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let source = sources::find(&mut tx, source_id).await?;
    let t = replications::create(&mut tx, source_id, now).await?;
    let message = format!(
        "Migration contract for {} configured by {}",
        source.host_name, by.user
    );
    events::insert(
        &mut tx,
        kind::TRANSFORMATION_CREATED,
        Some(source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// Remove a migration contract; refused while an operation runs on it.
pub async fn remove(db: &Db, by: &Caller, id: Uuid) -> Result<()> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let t = replications::find(&mut tx, id).await?;
    if let Some(active) = replications::active_operation(&mut tx, id).await? {
        return Err(AppError::conflict(
            "OperationRunning",
            format!(
                "a {} operation is running on this transformation; abort it before removing the transformation",
                active.operation_type
            ),
        ));
    }
    let source = sources::find(&mut tx, t.source_id).await?;
    replications::delete(&mut tx, id).await?;
    let message = format!(
        "Migration contract for {} removed by {}",
        source.host_name, by.user
    );
    events::insert(
        &mut tx,
        kind::TRANSFORMATION_REMOVED,
        Some(t.source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
