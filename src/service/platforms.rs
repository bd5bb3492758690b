//! Target platforms (SPEC 9): add one, which queues its PreDiscovery operation; the discovery
//! itself, run in the background at the operations' speed; remove one; and after a restart, fail
//! the discoveries that were running, as `operations::recover` does for the contracts'.

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::operations::running;
use super::runner::step_timing;
use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::platforms;
use crate::domain::replication::OperationStatus;
use crate::domain::target_platform::{
    self as rules, NewPlatform, PlatformOperation, PlatformOperationType, PlatformState,
    TargetPlatform,
};
use crate::error::{AppError, Result};
use crate::state::{AppState, Transition};

/// Add a platform: its row and its queued PreDiscovery operation, with their event, in one
/// transaction; then start the discovery. Answers both.
pub async fn add(
    state: &AppState,
    by: &Caller,
    new: &NewPlatform,
) -> Result<(TargetPlatform, PlatformOperation)> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let platform = platforms::insert(&mut tx, new, now).await?;
    let plan = rules::pre_discovery_plan(new.platform_type);
    let operation = platforms::insert_operation(
        &mut tx,
        platform.id,
        PlatformOperationType::PreDiscovery,
        &plan,
        now,
    )
    .await?;
    let message = format!(
        "Platform {} ({}) added by {}; its discovery is queued",
        platform.display_name(),
        platform.azure_cloud_name,
        by.user
    );
    events::insert(&mut tx, kind::PLATFORM_ADDED, None, &message, now).await?;
    tx.commit().await?;
    tracing::info!(platform = %platform.id, operation = %operation.id, by = %by.user, "platform added");
    let cancel = CancellationToken::new();
    // Beside the contracts' runners: a reset and a shutdown stop it with them.
    running(state).insert(operation.id, cancel.clone());
    tokio::spawn(run(state.clone(), operation.id, cancel));
    Ok((platform, operation))
}

/// Remove a platform and its operations; refused while it is being discovered.
pub async fn remove(state: &AppState, by: &Caller, id: Uuid) -> Result<()> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let platform = platforms::find(&mut tx, id).await?;
    if let Some(op) = platforms::last_operation(&mut tx, id).await?
        && !op.status.is_final()
    {
        return Err(AppError::conflict(
            "OperationRunning",
            format!(
                "platform {} is being discovered (operation {}); remove it once the discovery has ended",
                platform.display_name(),
                op.id
            ),
        ));
    }
    if let Some(t) = crate::db::replications::using_platform(&mut tx, id).await? {
        return Err(AppError::conflict(
            "PlatformInUse",
            format!(
                "platform {} is the target of transformation {t}; remove the transformation first",
                platform.display_name()
            ),
        ));
    }
    platforms::delete(&mut tx, id).await?;
    let message = format!(
        "Platform {} removed by {}",
        platform.display_name(),
        by.user
    );
    events::insert(&mut tx, kind::PLATFORM_REMOVED, None, &message, now).await?;
    tx.commit().await?;
    tracing::info!(platform = %id, by = %by.user, "platform removed");
    Ok(())
}

/// How a discovery stopped, when not by completing.
enum Stop {
    /// A reset cancelled it (and usually removed it).
    Cancelled,
    Shutdown,
    /// An after-N-polls transition: it waits, running, for its polls.
    AwaitPolls,
}

async fn run(state: AppState, id: Uuid, cancel: CancellationToken) {
    let outcome = drive(&state, id, &cancel).await;
    running(&state).remove(&id);
    let ended = match outcome {
        Ok(None | Some(Stop::AwaitPolls)) => Ok(()),
        Ok(Some(Stop::Cancelled)) => {
            let why = "a reset of the emulator's state stopped the discovery";
            finish(&state, id, OperationStatus::Aborted, why).await
        }
        Ok(Some(Stop::Shutdown)) => {
            let why = "the server shut down while the platform was being discovered; remove the platform and add it again";
            finish(&state, id, OperationStatus::Failed, why).await
        }
        Err(e @ AppError::NotFound(_)) => Err(e),
        Err(e) => {
            tracing::error!(operation = %id, error = %e, "discovery failed inside the emulator");
            let why = format!(
                "the emulator failed to discover the platform: {}",
                e.public_message()
            );
            finish(&state, id, OperationStatus::Failed, &why).await
        }
    };
    match ended {
        Ok(()) => {}
        // A reset took the platform away: nothing left to record.
        Err(AppError::NotFound(_)) => {
            tracing::debug!(operation = %id, "platform removed while it was discovered");
        }
        // The database is gone (shutdown): the restart recovery fails what is left running.
        Err(e) => {
            tracing::warn!(operation = %id, error = %e, "could not record the end of a discovery")
        }
    }
}

async fn save(state: &AppState, op: &PlatformOperation) -> Result<()> {
    let mut tx = state.db.begin_write().await?;
    platforms::save_operation(&mut tx, op, Utc::now()).await?;
    Ok(tx.commit().await?)
}

/// Walk the discovery's steps. `Ok(None)` when it completed and was recorded.
async fn drive(state: &AppState, id: Uuid, cancel: &CancellationToken) -> Result<Option<Stop>> {
    let now = Utc::now();
    let mut op = {
        // The operation and its event, together; read inside the write, so that a reset just
        // before it leaves no event of a discovery that is gone.
        let mut tx = state.db.begin_write().await?;
        let mut op = platforms::find_operation(&mut tx, id).await?;
        let platform = platforms::find(&mut tx, op.platform_id).await?;
        op.status = OperationStatus::Running;
        op.started_at = Some(now);
        // Its first step starts with it: a running discovery shows what it is doing.
        rules::set_leaf(&mut op.sub_operations, 0, OperationStatus::Running, 0);
        platforms::save_operation(&mut tx, &op, now).await?;
        let message = format!("Discovery of platform {} started", platform.display_name());
        events::insert(&mut tx, kind::OPERATION_STARTED, None, &message, now).await?;
        tx.commit().await?;
        op
    };
    if matches!(state.settings().transition, Transition::AfterPolls { .. }) {
        return Ok(Some(Stop::AwaitPolls));
    }
    let count = rules::leaf_count(&op.sub_operations).max(1);
    for index in 0..count {
        if index > 0 {
            rules::set_leaf(&mut op.sub_operations, index, OperationStatus::Running, 0);
            save(state, &op).await?;
        }
        // Read the settings at every step, so that a change applies to a running discovery too.
        let (step_time, ticks) = step_timing(state, count);
        let tick = step_time / ticks;
        for t in 1..=ticks {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(Some(Stop::Cancelled)),
                () = state.shutdown.cancelled() => return Ok(Some(Stop::Shutdown)),
                () = tokio::time::sleep(tick) => {}
            }
            let progress = u8::try_from(t * 100 / ticks).unwrap_or(100);
            let status = if t == ticks {
                OperationStatus::Succeeded
            } else {
                OperationStatus::Running
            };
            rules::set_leaf(&mut op.sub_operations, index, status, progress);
            // Only a completed discovery is at 100 %.
            op.progress = rules::overall_progress(&op.sub_operations).min(99);
            save(state, &op).await?;
        }
    }
    if cancel.is_cancelled() {
        return Ok(Some(Stop::Cancelled));
    }
    complete(state, id).await?;
    Ok(None)
}

/// Record success: the operation complete and the platform discovered, in one transaction.
async fn complete(state: &AppState, id: Uuid) -> Result<()> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let mut op = platforms::find_operation(&mut tx, id).await?;
    if op.status.is_final() {
        return Ok(());
    }
    let platform = platforms::find(&mut tx, op.platform_id).await?;
    op.status = OperationStatus::Succeeded;
    rules::finish(&mut op.sub_operations, op.status);
    op.progress = 100;
    op.started_at.get_or_insert(now);
    op.completed_at = Some(now);
    platforms::save_operation(&mut tx, &op, now).await?;
    platforms::set_state(&mut tx, platform.id, PlatformState::Discovered, now).await?;
    let message = format!(
        "Discovery of platform {} completed",
        platform.display_name()
    );
    events::insert(&mut tx, kind::OPERATION_COMPLETED, None, &message, now).await?;
    tx.commit().await?;
    Ok(())
}

/// End an unfinished discovery as failed or aborted, with why; the platform's discovery failed.
async fn finish(state: &AppState, id: Uuid, status: OperationStatus, why: &str) -> Result<()> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let op = platforms::find_operation(&mut tx, id).await?;
    if op.status.is_final() {
        return Ok(());
    }
    end(&mut tx, op, status, why, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn end(
    tx: &mut crate::db::WriteTx,
    mut op: PlatformOperation,
    status: OperationStatus,
    why: &str,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let platform = platforms::find(tx, op.platform_id).await?;
    op.status = status;
    op.error = Some(why.to_owned());
    op.completed_at = Some(now);
    rules::finish(&mut op.sub_operations, status);
    platforms::save_operation(tx, &op, now).await?;
    platforms::set_state(tx, platform.id, PlatformState::after_discovery(status), now).await?;
    let (event_kind, verb) = match status {
        OperationStatus::Aborted => (kind::OPERATION_ABORTED, "aborted"),
        _ => (kind::OPERATION_FAILED, "failed"),
    };
    let message = format!(
        "Discovery of platform {} {verb}: {why}",
        platform.display_name()
    );
    events::insert(tx, event_kind, None, &message, now).await
}

/// After a restart, discoveries that were queued or running are failed: nothing survives a
/// restart, and clients must not wait for them forever. Answers how many.
pub async fn recover(state: &AppState) -> Result<usize> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let unfinished = platforms::unfinished_operations(&mut tx).await?;
    let count = unfinished.len();
    for op in unfinished {
        let why = "the server restarted while the platform was being discovered; remove the platform and add it again";
        end(&mut tx, op, OperationStatus::Failed, why, now).await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// Count a poll of a platform's operation under an after-N-polls transition: the N-th poll
/// completes it (`runner::poll` hands over the ids that are not a contract's).
pub(super) async fn count_poll(state: &AppState, id: Uuid, polls: u32) -> Result<()> {
    let op = platforms::find_operation(&mut state.db.reader().await?, id).await?;
    if op.status != OperationStatus::Running || running(state).contains_key(&id) {
        return Ok(());
    }
    let count = {
        let mut counts = state
            .polls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(id).or_insert(0);
        *count += 1;
        *count
    };
    if count < polls {
        return Ok(());
    }
    state
        .polls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&id);
    complete(state, id).await
}
