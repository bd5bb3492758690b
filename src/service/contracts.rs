//! A workload's migration contract (a transformation): configured, then removed.

use chrono::Utc;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::replications::NewTransformation;
use crate::db::{Db, platforms, replications, settings, sources};
use crate::domain::model::Transformation;
use crate::domain::settings::{self as groups, StorageLayout};
use crate::error::{AppError, Result};

/// What a client gives to configure a contract: the documented create body,
/// `{"platformId", "sourceId", "storageLayout"}`, with `displayName` and `tags`.
#[derive(Debug, Clone)]
pub struct NewContract {
    pub source_id: Uuid,
    /// The workload's host name when `None`.
    pub display_name: Option<String>,
    /// Stored as given: whether such a platform exists is not checked here.
    pub platform_id: Option<Uuid>,
    pub tags: Option<Vec<String>>,
    pub storage_layout: StorageLayout,
}

impl NewContract {
    /// A source's contract with every default (the pages' Configure).
    pub fn for_source(source_id: Uuid) -> Self {
        Self {
            source_id,
            display_name: None,
            platform_id: None,
            tags: None,
            storage_layout: StorageLayout::default(),
        }
    }
}

/// A setting a client got wrong: 400 naming the member.
pub(super) fn invalid(e: groups::Invalid) -> AppError {
    AppError::bad_request("InvalidField", e.to_string())
}

/// Configure a migration contract for a source (`currentState` `Configured`), with its setting
/// groups' defaults derived from the workload.
pub async fn configure(db: &Db, by: &Caller, new: NewContract) -> Result<Transformation> {
    let display_name = new
        .display_name
        .as_deref()
        .map(|n| groups::check_name("displayName", n))
        .transpose()
        .map_err(invalid)?;
    let tags = new
        .tags
        .as_deref()
        .map(groups::check_tags)
        .transpose()
        .map_err(invalid)?;
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let source = sources::find(&mut tx, new.source_id).await?;
    // The target platform must be one the server knows (`POST platforms`).
    if let Some(platform) = new.platform_id
        && !platforms::exists(&mut tx, platform).await?
    {
        return Err(AppError::NotFound(format!(
            "platform {platform} not found: add it with POST platforms, or leave platformId out"
        )));
    }
    let row = NewTransformation {
        source_id: new.source_id,
        display_name: display_name.as_deref(),
        platform_id: new.platform_id,
        tags: tags.as_deref(),
    };
    let t = replications::create(&mut tx, &row, now).await?;
    settings::save(
        &mut tx,
        t.id,
        &groups::defaults(&source, new.storage_layout),
        now,
    )
    .await?;
    let message = format!(
        "Migration contract for {} configured by {}",
        source.host_name, by.user
    );
    events::insert(
        &mut tx,
        kind::TRANSFORMATION_CREATED,
        Some(new.source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

/// Remove a migration contract, its settings and its operations; refused while an operation
/// runs on it.
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
    // The settings and the operations go with it (their foreign keys cascade).
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
