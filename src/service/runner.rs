//! The background task that runs one operation's simulated steps, and records how it ends.

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::operations::{CutoverAfter, Options};
use crate::db::events::{self, kind};
use crate::db::{WriteTx, replications, sources, tasks};
use crate::domain::model::{Operation, TaskKind, TaskState, WarningCode};
use crate::domain::replication::{
    self as rules, MigrationType, OperationStatus, OperationType, StepKind,
};
use crate::error::Result;
use crate::state::{AppState, Transition};

mod prepare;

/// How a run ended, when not by completing.
enum Stop {
    Aborted,
    Shutdown,
    /// An after-N-polls transition: the operation waits, running, for its polls.
    AwaitPolls,
    /// A step cannot be carried out (Prepare on an offline source): the operation fails so.
    Failed(String),
}

pub async fn run(state: AppState, id: Uuid, cancel: CancellationToken) {
    let mut outcome = drive(&state, id, &cancel).await;
    {
        // Under the lock an abort cancels with: an abort either cancelled before the runner
        // left (seen here) or finds no runner and ends the operation itself.
        let mut running = super::operations::running(&state);
        running.remove(&id);
        if matches!(outcome, Ok(Some(Stop::AwaitPolls))) && cancel.is_cancelled() {
            outcome = Ok(Some(Stop::Aborted));
        }
    }
    let ended = match outcome {
        Ok(None | Some(Stop::AwaitPolls)) => Ok(()),
        Ok(Some(Stop::Aborted)) => finish_aborted(&state, id).await,
        Ok(Some(Stop::Failed(why))) => finish_failed(&state, id, &why).await,
        Ok(Some(Stop::Shutdown)) => {
            finish_failed(
                &state,
                id,
                "the server shut down while the operation ran; run it again",
            )
            .await
        }
        Err(crate::error::AppError::NotFound(_)) => {
            Err(crate::error::AppError::NotFound(String::new()))
        }
        Err(e) => {
            tracing::error!(operation = %id, error = %e, "operation failed inside the emulator");
            finish_failed(
                &state,
                id,
                &format!(
                    "the emulator failed to run the operation: {}",
                    e.public_message()
                ),
            )
            .await
        }
    };
    match ended {
        Ok(()) => {}
        // A reset or a removal took the operation away: nothing left to record.
        Err(crate::error::AppError::NotFound(_)) => {
            tracing::debug!(operation = %id, "operation removed while it ran");
        }
        // The database is gone (shutdown): the restart recovery fails what is left running.
        Err(e) => {
            tracing::warn!(operation = %id, error = %e, "could not record the end of an operation")
        }
    }
}

async fn save(state: &AppState, op: &Operation) -> Result<()> {
    let mut tx = state.db.begin_write().await?;
    replications::save_operation(&mut tx, op, Utc::now()).await?;
    Ok(tx.commit().await?)
}

/// Run the steps. `Ok(None)` when the operation completed and was recorded.
async fn drive(state: &AppState, id: Uuid, cancel: &CancellationToken) -> Result<Option<Stop>> {
    let mut op = replications::find_operation(&mut state.db.reader().await?, id).await?;
    let now = Utc::now();
    op.status = OperationStatus::Running;
    op.started_at = Some(now);
    {
        // The operation and its event, together.
        let mut tx = state.db.begin_write().await?;
        replications::save_operation(&mut tx, &op, now).await?;
        let message = format!("{} started", op.title());
        events::insert(
            &mut tx,
            kind::OPERATION_STARTED,
            Some(op.source_id),
            &message,
            now,
        )
        .await?;
        tx.commit().await?;
    }
    if matches!(state.settings().transition, Transition::AfterPolls { .. }) {
        return Ok(Some(Stop::AwaitPolls));
    }
    let count = op.steps.len().max(1);
    for index in 0..op.steps.len() {
        if op.migration_type.is_some() {
            note_pending_reboot(state, &mut op).await?;
        }
        // SPEC 9: an offline source cannot be prepared; it fails at the controller step. Nor can
        // it be replicated: a replication fails at its first step.
        let reaches_source = op.steps[index].kind().is_some_and(StepKind::is_controller)
            || (index == 0 && op.operation_type == OperationType::Migrate);
        if reaches_source && let Some(why) = prepare::offline(state, &op).await? {
            op.steps[index].started_at = Some(Utc::now());
            save(state, &op).await?;
            return Ok(Some(Stop::Failed(why)));
        }
        op.steps[index].status = OperationStatus::Running;
        op.steps[index].started_at = Some(Utc::now());
        save(state, &op).await?;
        // Read the settings at every step, so that a change applies to running operations too.
        let (step_time, ticks) = step_timing(state, count);
        let tick = step_time / ticks;
        for t in 1..=ticks {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(Some(Stop::Aborted)),
                () = state.shutdown.cancelled() => return Ok(Some(Stop::Shutdown)),
                () = tokio::time::sleep(tick) => {}
            }
            let step_progress = t * 100 / ticks;
            op.steps[index].progress = u8::try_from(step_progress).unwrap_or(100);
            // Overall progress only moves forward: whole steps done plus this one's share.
            let overall = (index * 100 + step_progress as usize) / count;
            op.progress = u8::try_from(overall.min(99)).unwrap_or(99);
            if t == ticks {
                op.steps[index].status = OperationStatus::Succeeded;
                op.steps[index].completed_at = Some(Utc::now());
            }
            save(state, &op).await?;
        }
    }
    if cancel.is_cancelled() {
        return Ok(Some(Stop::Aborted));
    }
    complete(state, op).await?;
    Ok(None)
}

pub(super) fn step_timing(state: &AppState, steps: usize) -> (std::time::Duration, u32) {
    let settings = state.settings();
    match settings.transition {
        Transition::AfterSeconds { seconds } => {
            let per_step = std::time::Duration::from_secs_f64(seconds.max(0.0) / steps as f64);
            (per_step, 4)
        }
        Transition::Steps | Transition::AfterPolls { .. } => {
            settings.replication_speed.step_timing()
        }
    }
}

/// Count a poll of an operation. Under an after-N-polls transition the N-th poll completes it,
/// before the poll's answer is read, so that the N-th answer is the first final one.
pub async fn poll(state: &AppState, id: Uuid) -> Result<()> {
    let Transition::AfterPolls { polls } = state.settings().transition else {
        return Ok(());
    };
    // Boxed: every poll's future would otherwise carry room for the reads and the write of the
    // rare one that counts.
    Box::pin(count_poll(state, id, polls)).await
}

async fn count_poll(state: &AppState, id: Uuid, polls: u32) -> Result<()> {
    let op = match replications::find_operation(&mut state.db.reader().await?, id).await {
        // Not a contract's: a platform's, or nothing.
        Err(crate::error::AppError::NotFound(_)) => {
            return super::platforms::count_poll(state, id, polls).await;
        }
        found => found?,
    };
    if op.status != OperationStatus::Running || super::operations::running(state).contains_key(&id)
    {
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
    let mut op = op;
    let now = Utc::now();
    for step in &mut op.steps {
        step.status = OperationStatus::Succeeded;
        step.progress = 100;
        step.started_at.get_or_insert(now);
        step.completed_at = Some(now);
    }
    complete(state, op).await
}

/// SPEC 3.3: a reboot pending while a replication runs adds the reboot notification.
async fn note_pending_reboot(state: &AppState, op: &mut Operation) -> Result<()> {
    if op
        .warnings
        .iter()
        .any(|w| w.code == WarningCode::RebootRequired)
    {
        return Ok(());
    }
    let source = sources::find(&mut state.db.reader().await?, op.source_id).await?;
    if source.reboot_pending()
        && let Some(warning) = rules::reboot_warning(source.driver)
    {
        op.warnings.insert(0, warning);
    }
    Ok(())
}

/// Record success: the operation, the contract's new state, what Prepare leaves on the source,
/// the workload's server-sync flag and the test-cutover tasks, in one transaction.
async fn complete(state: &AppState, mut op: Operation) -> Result<()> {
    let catalog = match op.operation_type {
        OperationType::Prepare => Some(state.db.catalog().await?),
        _ => None,
    };
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let t = replications::find(&mut tx, op.transformation_id).await?;
    let mut source = sources::find(&mut tx, op.source_id).await?;
    if let Some(catalog) = catalog {
        match prepare::finish(&mut tx, &mut op, source, &catalog, now).await? {
            Some(prepared) => source = prepared,
            // Failed, the source offline: recorded.
            None => {
                tx.commit().await?;
                return Ok(());
            }
        }
    }
    op.status = if op.warnings.is_empty() {
        OperationStatus::Succeeded
    } else {
        OperationStatus::SucceededWithWarnings
    };
    op.progress = 100;
    op.completed_at = Some(now);
    replications::save_operation(&mut tx, &op, now).await?;

    let has_full = t.has_full_replication || op.performed_as == Some(MigrationType::Full);
    replications::set_state(
        &mut tx,
        t.id,
        rules::state_after(op.operation_type, t.state),
        has_full,
        now,
    )
    .await?;
    if op.clears_server_sync && sources::clear_server_sync(&mut tx, source.id, now).await? {
        let message = format!(
            "Server-sync requirement of {} cleared by the {}",
            source.host_name,
            op.title().to_lowercase()
        );
        events::insert(
            &mut tx,
            kind::SERVER_SYNC_CLEARED,
            Some(source.id),
            &message,
            now,
        )
        .await?;
    }
    match op.operation_type {
        OperationType::TestCutover => {
            for (kind, verb) in [
                (TaskKind::MarkTestSuccess, "success"),
                (TaskKind::MarkTestFailure, "failure"),
            ] {
                // The task's title says which mark it is; the message says what to check.
                let message = format!(
                    "The test cutover of {} is running: check the test workload, then record the test as a {verb}",
                    source.host_name
                );
                tasks::create(&mut tx, kind, source.id, &message, now).await?;
            }
        }
        OperationType::EndTestCutover => {
            for task in tasks::for_source(&mut tx, source.id).await? {
                if task.state == TaskState::Active
                    && matches!(
                        task.kind,
                        TaskKind::MarkTestSuccess | TaskKind::MarkTestFailure
                    )
                {
                    tasks::resolve(&mut tx, &task, now).await?;
                }
            }
        }
        _ => {}
    }
    let (event_kind, how) = if op.warnings.is_empty() {
        (kind::OPERATION_COMPLETED, "completed".to_owned())
    } else {
        let codes: Vec<&str> = op
            .warnings
            .iter()
            .map(|w| match w.code {
                WarningCode::RebootRequired => "reboot required",
                WarningCode::ServerSyncRequired => "server-sync required",
                WarningCode::NoDriverPackage => "no driver package",
            })
            .collect();
        (
            kind::OPERATION_COMPLETED_WITH_WARNINGS,
            format!("completed with warnings ({})", codes.join(", ")),
        )
    };
    let message = format!("{} of {} {how}", op.title(), source.host_name);
    events::insert(&mut tx, event_kind, Some(source.id), &message, now).await?;
    // The Run Migration page's Post-Replication Cutover: queued in the replication's own
    // transaction, so that a replication never completes without the cutover it asked for.
    let chained = match CutoverAfter::of(&op) {
        Some(after) if op.operation_type == OperationType::Migrate => {
            let options = Options {
                shutdown_source: Some(after.shutdown_source),
                shutdown_target: Some(after.shutdown_target),
                // The replication that just ended is the one the cutover would otherwise run.
                perform_incremental: Some(false),
                ..Options::default()
            };
            let by = op
                .started_by
                .clone()
                .unwrap_or_else(|| "the server".to_owned());
            Some(
                super::operations::queue(
                    &mut tx,
                    op.transformation_id,
                    OperationType::Cutover,
                    &options,
                    serde_json::Map::new(),
                    &by,
                )
                .await?,
            )
        }
        _ => None,
    };
    tx.commit().await?;
    if let Some(cutover) = chained {
        super::operations::spawn(state, cutover);
    }
    Ok(())
}

async fn finish_with(
    state: &AppState,
    id: Uuid,
    status: OperationStatus,
    error: Option<&str>,
) -> Result<()> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let op = replications::find_operation(&mut tx, id).await?;
    if op.status.is_final() {
        return Ok(());
    }
    fail(&mut tx, op, status, error, now).await?;
    tx.commit().await?;
    Ok(())
}

/// End `op` as failed or aborted, with its event, inside `tx`.
async fn fail(
    tx: &mut WriteTx,
    mut op: Operation,
    status: OperationStatus,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    op.status = status;
    op.error = error.map(str::to_owned);
    op.completed_at = Some(now);
    for step in &mut op.steps {
        if !step.status.is_final() {
            step.status = status;
        }
    }
    replications::save_operation(tx, &op, now).await?;
    let (event_kind, message) = match status {
        OperationStatus::Aborted => (kind::OPERATION_ABORTED, format!("{} aborted", op.title())),
        _ => (
            kind::OPERATION_FAILED,
            format!(
                "{} failed: {}",
                op.title(),
                error.unwrap_or("unknown error")
            ),
        ),
    };
    events::insert(tx, event_kind, Some(op.source_id), &message, now).await?;
    Ok(())
}

pub async fn finish_aborted(state: &AppState, id: Uuid) -> Result<()> {
    finish_with(state, id, OperationStatus::Aborted, None).await
}

async fn finish_failed(state: &AppState, id: Uuid, why: &str) -> Result<()> {
    finish_with(state, id, OperationStatus::Failed, Some(why)).await
}
