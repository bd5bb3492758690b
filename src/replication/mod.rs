//! Running operations on migration contracts: start (checked against SPEC 3.3's rules), run in
//! the background as simulated steps, abort, and recover after a restart.

mod runner;

pub use runner::poll;

use chrono::Utc;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::events::{self, kind};
use crate::db::{replications, sources};
use crate::domain::model::{Operation, Step};
use crate::domain::replication::{
    self as rules, MigrationType, NotAllowed, OperationStatus, OperationType,
};
use crate::error::{AppError, Result};
use crate::state::AppState;

fn not_allowed(e: NotAllowed) -> AppError {
    let code = match e {
        NotAllowed::AlreadyRunning(_) => "OperationRunning",
        NotAllowed::FirstMustBeFull => "FirstReplicationMustBeFull",
        NotAllowed::NothingToAbort => "NothingToAbort",
        NotAllowed::WrongState { .. } => "OperationNotAllowed",
    };
    AppError::conflict(code, e.to_string())
}

/// Start `op` on a contract: check it is allowed, decide how a replication runs, queue it, and
/// hand it to a background task. Answers the queued operation.
pub async fn start(
    state: &AppState,
    transformation_id: Uuid,
    op: OperationType,
    migration: Option<MigrationType>,
    options: Value,
) -> Result<Operation> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let t = replications::find(&mut tx, transformation_id).await?;
    let (facts, _) = replications::facts(&mut tx, &t).await?;
    let migration = match op {
        OperationType::Migrate => {
            Some(migration.unwrap_or_else(|| rules::default_migration_type(facts)))
        }
        _ => None,
    };
    rules::check_allowed(facts, op, migration).map_err(not_allowed)?;
    let source = sources::find_in(&mut tx, t.source_id).await?;

    let plan = migration.map(|m| {
        rules::plan_replication(
            m,
            source.driver,
            source.reboot_pending(),
            source.server_sync_required,
        )
    });
    let steps: Vec<Step> = rules::steps(op, plan.as_ref().map(|p| p.performed_as))
        .into_iter()
        .map(|name| Step {
            name: name.to_owned(),
            status: OperationStatus::Queued,
            progress: 0,
            started_at: None,
            completed_at: None,
        })
        .collect();
    let new = replications::NewOperation {
        transformation_id,
        source_id: t.source_id,
        operation_type: op,
        migration_type: migration,
        performed_as: plan.as_ref().map(|p| p.performed_as),
        steps: &steps,
        driver_version_used: plan
            .as_ref()
            .and_then(|p| p.driver_version_used)
            .map(|v| v.to_string()),
        transfer_method: plan.as_ref().map(|p| p.transfer_method.as_str()),
        warnings: plan.as_ref().map_or(&[], |p| p.warnings.as_slice()),
        clears_server_sync: plan.as_ref().is_some_and(|p| p.clears_server_sync),
        options: &options,
    };
    let operation = replications::insert_operation(&mut tx, &new, now).await?;
    let message = format!("{} of {} queued", operation.title(), source.host_name);
    events::insert(
        &mut tx,
        kind::OPERATION_QUEUED,
        Some(t.source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;

    let cancel = CancellationToken::new();
    lock(state).insert(operation.id, cancel.clone());
    tokio::spawn(runner::run(state.clone(), operation.id, cancel));
    Ok(operation)
}

fn lock(
    state: &AppState,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, CancellationToken>> {
    state
        .running_operations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Abort the contract's queued or running operation. Answers that operation; its status becomes
/// `aborted` as soon as its runner notices (within one progress tick).
pub async fn abort(state: &AppState, transformation_id: Uuid) -> Result<Operation> {
    let mut conn = state.db.read.acquire().await?;
    replications::find(&mut conn, transformation_id).await?;
    let active = replications::active_operation(&mut conn, transformation_id)
        .await?
        .ok_or_else(|| not_allowed(NotAllowed::NothingToAbort))?;
    drop(conn);
    let token = lock(state).get(&active.id).cloned();
    match token {
        Some(token) => token.cancel(),
        // No runner holds it (it cannot happen short of a crash between commit and spawn): end
        // it here so the contract is not stuck.
        None => runner::finish_aborted(state, active.id).await?,
    }
    Ok(active)
}

/// After a restart, operations that were queued or running are failed: nothing survives a
/// restart, and clients must not wait for them forever.
pub async fn recover(state: &AppState) -> Result<usize> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let unfinished = replications::unfinished(&mut tx).await?;
    for mut op in unfinished.clone() {
        op.status = OperationStatus::Failed;
        op.error = Some("the server restarted while the operation ran; run it again".to_owned());
        op.completed_at = Some(now);
        for step in &mut op.steps {
            if !step.status.is_final() {
                step.status = OperationStatus::Failed;
            }
        }
        replications::save_operation(&mut tx, &op, now).await?;
        let message = format!("{} failed: the server restarted while it ran", op.title());
        events::insert(
            &mut tx,
            kind::OPERATION_FAILED,
            Some(op.source_id),
            &message,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(unfinished.len())
}

/// A workload's replication side, as its status and warnings need it.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub transformation: Option<crate::domain::model::Transformation>,
    pub facts: Option<rules::ContractFacts>,
    pub active: Option<Operation>,
    pub last_replication: Option<Operation>,
}

impl Workload {
    pub async fn load(conn: &mut sqlx::SqliteConnection, source_id: Uuid) -> Result<Self> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM transformations WHERE source_id = ?")
                .bind(source_id.to_string())
                .fetch_optional(&mut *conn)
                .await?;
        let Some((id,)) = row else {
            return Ok(Self::default());
        };
        let t = replications::find(conn, crate::db::parse_uuid(&id)?).await?;
        let (facts, active) = replications::facts(conn, &t).await?;
        let last_replication = replications::last_replication(conn, t.id).await?;
        Ok(Self {
            transformation: Some(t),
            facts: Some(facts),
            active,
            last_replication,
        })
    }

    /// The Workloads page's Status column.
    pub fn status(&self) -> &'static str {
        rules::workload_status(
            self.facts,
            self.active.as_ref().and_then(|o| o.performed_as),
            self.last_replication
                .as_ref()
                .is_some_and(|o| o.status == OperationStatus::Failed),
        )
    }

    /// The workload's warnings (pending reboot, server-sync required) and those its last
    /// replication completed with (SPEC 3.3: the server-sync warning shows in the Status field).
    pub fn warnings(
        &self,
        source: &crate::domain::model::Source,
    ) -> Vec<crate::domain::model::Warning> {
        let mut warnings = source.warnings();
        if let Some(last) = &self.last_replication
            && last.status == OperationStatus::SucceededWithWarnings
        {
            for w in &last.warnings {
                if !warnings.iter().any(|have| have.code == w.code) {
                    warnings.push(w.clone());
                }
            }
        }
        warnings
    }
}

/// The cancellation tokens of every queued or running operation (for a reset).
pub fn running_tokens(state: &AppState) -> Vec<CancellationToken> {
    lock(state).values().cloned().collect()
}
