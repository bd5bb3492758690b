//! A migration contract's setting groups (issue 17): read them, change one.

use chrono::Utc;
use uuid::Uuid;

use super::contracts::invalid;
use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::{Db, Read, replications, settings, sources};
use crate::domain::model::Transformation;
use crate::domain::replication::{ContractFacts, ContractState};
use crate::domain::settings::{
    self as groups, NetworkingPatch, ReplicationSettingsPatch, SchedulePatch, ScheduleState,
    Settings, StorageLayout, StoragePatch, TargetSettingsPatch,
};
use crate::error::{AppError, Result};

/// A change to one group, as the client sent it.
#[derive(Debug)]
pub enum Change {
    Storage(StoragePatch),
    Networking(NetworkingPatch),
    Schedule(SchedulePatch),
    TargetSettings(TargetSettingsPatch),
    ReplicationSettings(ReplicationSettingsPatch),
}

impl Change {
    fn group(&self) -> &'static str {
        match self {
            Self::Storage(_) => "Storage",
            Self::Networking(_) => "Networking",
            Self::Schedule(_) => "Schedule",
            Self::TargetSettings(_) => "Target",
            Self::ReplicationSettings(_) => "Replication",
        }
    }
}

/// A contract's settings: those stored, or, for a contract made without them (before they
/// existed, or by the seed file), the defaults from its workload.
pub async fn current(r: &mut impl Read, t: &Transformation) -> Result<Settings> {
    if let Some(stored) = settings::find(r, t.id).await? {
        return Ok(stored);
    }
    let source = sources::find(r, t.source_id).await?;
    Ok(groups::defaults(&source, StorageLayout::default()))
}

/// What a change leaves: the settings as stored, and the contract's facts they were changed in.
#[derive(Debug)]
pub struct Changed {
    pub settings: Settings,
    pub facts: ContractFacts,
}

/// Change one group of a contract's settings: the members given replace the stored ones. Refused
/// while an operation runs on the contract and after its cutover.
pub async fn change(db: &Db, by: &Caller, id: Uuid, change: &Change) -> Result<Changed> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let t = replications::find(&mut tx, id).await?;
    if let Some(active) = replications::active_operation(&mut tx, id).await? {
        return Err(AppError::conflict(
            "OperationRunning",
            format!(
                "a {} operation is running on this transformation; change its settings once it has ended (or abort it)",
                active.operation_type
            ),
        ));
    }
    if t.state == ContractState::CutOver {
        return Err(AppError::conflict(
            "TransformationCutOver",
            "the workload has been cut over: its transformation's settings no longer change",
        ));
    }
    let mut s = current(&mut tx, &t).await?;
    let paused_before = s.schedule.state;
    match change {
        Change::Storage(p) => s.storage = p.apply(&s.storage).map_err(invalid)?,
        Change::Networking(p) => s.networking = p.apply(&s.networking).map_err(invalid)?,
        Change::Schedule(p) => s.schedule = p.apply(&s.schedule).map_err(invalid)?,
        Change::TargetSettings(p) => {
            s.target_settings = p.apply(&s.target_settings).map_err(invalid)?;
        }
        Change::ReplicationSettings(p) => {
            s.replication_settings = p.apply(&s.replication_settings).map_err(invalid)?;
        }
    }
    settings::save(&mut tx, id, &s, now).await?;
    let source = sources::find(&mut tx, t.source_id).await?;
    let host = &source.host_name;
    let message = match (paused_before, s.schedule.state) {
        (ScheduleState::Active, ScheduleState::Paused) => {
            format!("Schedule of {host} paused by {}", by.user)
        }
        (ScheduleState::Paused, ScheduleState::Active) => {
            format!("Schedule of {host} resumed by {}", by.user)
        }
        _ => format!(
            "{} settings of {host} changed by {}",
            change.group(),
            by.user
        ),
    };
    events::insert(
        &mut tx,
        kind::TRANSFORMATION_SETTINGS_CHANGED,
        Some(t.source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Changed {
        settings: s,
        facts: ContractFacts {
            state: t.state,
            running: None,
            has_full_replication: t.has_full_replication,
        },
    })
}
