//! Operations on migration contracts: run one (checked against SPEC 3.3's rules), abort it,
//! and recover after a restart. The steps of a running operation are `super::runner`'s.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::runner;
use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::packages::Catalog;
use crate::db::{WriteTx, replications, sources};
use crate::domain::model::{Operation, Step};
use crate::domain::replication::{
    self as rules, CutoverFlags, MigrationType, NotAllowed, OperationStatus, OperationType,
    PreparePlan, Work,
};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// An operation's options, as the real API names them. Left out (`None`): the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Migrate: full, incremental or server-sync (default: full first, then incremental).
    pub migration_type: Option<MigrationType>,
    pub shutdown_source: Option<bool>,
    pub shutdown_target: Option<bool>,
    pub perform_incremental: Option<bool>,
    /// Migrate only: the Web Interface's Post-Replication Cutover, a cutover queued when the
    /// replication succeeds.
    pub cutover_after: Option<CutoverAfter>,
}

/// The Run Migration page's "Run cutover after successful replication", with its two switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutoverAfter {
    pub shutdown_source: bool,
    pub shutdown_target: bool,
}

impl CutoverAfter {
    const KEY: &str = "postReplicationCutover";

    /// As stored in a Migrate operation's options.
    pub fn of(op: &Operation) -> Option<Self> {
        let stored = op.options.get(Self::KEY)?;
        Some(Self {
            shutdown_source: stored.get("shutdownSource")?.as_bool()?,
            shutdown_target: stored.get("shutdownTarget")?.as_bool()?,
        })
    }
}

impl Options {
    /// As stored with the operation and shown in its `options`: the options given, by their
    /// API names.
    fn to_json(&self) -> Map<String, Value> {
        let mut json = Map::new();
        if let Some(m) = self.migration_type {
            json.insert("migrationType".into(), Value::from(m.as_str()));
        }
        for (name, flag) in [
            ("shutdownSource", self.shutdown_source),
            ("shutdownTarget", self.shutdown_target),
            ("performIncremental", self.perform_incremental),
        ] {
            if let Some(flag) = flag {
                json.insert(name.into(), Value::Bool(flag));
            }
        }
        if let Some(c) = self.cutover_after {
            json.insert(
                CutoverAfter::KEY.into(),
                serde_json::json!({"shutdownSource": c.shutdown_source, "shutdownTarget": c.shutdown_target}),
            );
        }
        json
    }
}

/// A rule's refusal as the 409 the API and the pages answer.
pub fn not_allowed(e: NotAllowed) -> AppError {
    let code = match e {
        NotAllowed::AlreadyRunning(_) => "OperationRunning",
        NotAllowed::FirstMustBeFull => "FirstReplicationMustBeFull",
        NotAllowed::NothingToAbort => "NothingToAbort",
        NotAllowed::WrongState { .. } => "OperationNotAllowed",
    };
    AppError::conflict(code, e.to_string())
}

/// Run `op` on a contract: check it is allowed, decide how a replication runs, queue it with its
/// event, and hand it to a background runner. Answers the queued operation.
pub async fn run(
    state: &AppState,
    by: &Caller,
    transformation_id: Uuid,
    op: OperationType,
    options: &Options,
) -> Result<Operation> {
    // Prepare installs the server's latest driver package: whether there is one decides its steps.
    let catalog = match op {
        OperationType::Prepare => Some(state.db.catalog().await?),
        _ => None,
    };
    let mut tx = state.db.begin_write().await?;
    let operation = queue_with(
        &mut tx,
        transformation_id,
        op,
        options,
        Map::new(),
        catalog.as_deref(),
        &by.user,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(transformation = %transformation_id, operation = %operation.id, kind = %op, by = %by.user, "operation started");
    Ok(spawn(state, operation))
}

/// Queue `op` inside `tx`: the checks, the plan, the row and its event. `extra` joins the
/// options stored with it. For operations that install no driver (a Prepare is queued by
/// [`run`], with the package catalog).
pub(super) async fn queue(
    tx: &mut WriteTx,
    transformation_id: Uuid,
    op: OperationType,
    options: &Options,
    extra: Map<String, Value>,
    started_by: &str,
) -> Result<Operation> {
    queue_with(tx, transformation_id, op, options, extra, None, started_by).await
}

async fn queue_with(
    tx: &mut WriteTx,
    transformation_id: Uuid,
    op: OperationType,
    options: &Options,
    extra: Map<String, Value>,
    catalog: Option<&Catalog>,
    started_by: &str,
) -> Result<Operation> {
    if options.cutover_after.is_some() && op != OperationType::Migrate {
        return Err(AppError::bad_request(
            "InvalidOptions",
            "a post-replication cutover follows a replication (Migrate) only",
        ));
    }
    let now = Utc::now();
    let t = replications::find(tx, transformation_id).await?;
    let (facts, _) = replications::facts(tx, &t).await?;
    let flags = CutoverFlags::resolve(
        op,
        options.shutdown_source,
        options.shutdown_target,
        options.perform_incremental,
    );
    let migration = rules::replication_requested(
        op,
        flags,
        options.migration_type,
        rules::default_migration_type(facts),
    );
    rules::check_allowed(
        facts,
        op,
        migration.filter(|_| op == OperationType::Migrate),
    )
    .map_err(not_allowed)?;
    let source = sources::find(tx, t.source_id).await?;

    // The replication it carries out (Migrate's, or a cutover's incremental) follows SPEC 3.3's
    // rules: the running driver, the reboot warning, an incremental performed as a server-sync.
    let plan = migration.map(|m| {
        rules::plan_replication(
            m,
            source.driver,
            source.reboot_pending(),
            source.server_sync_required,
        )
    });
    let mut warnings = plan.as_ref().map_or_else(Vec::new, |p| p.warnings.clone());
    let prepare = if op == OperationType::Prepare {
        let package = catalog.is_some_and(|c| c.latest(source.platform).is_some());
        if source.needs_driver_from_server() && !package {
            warnings.push(source.no_driver_package_warning());
        }
        source.prepare_plan(package)
    } else {
        PreparePlan::default()
    };
    let work = Work::new(op, flags, plan.as_ref().map(|p| p.performed_as), prepare);
    let steps: Vec<Step> = rules::steps(work).into_iter().map(Step::queued).collect();
    let mut stored = options.to_json();
    stored.extend(extra);
    let stored = Value::Object(stored);
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
        warnings: &warnings,
        clears_server_sync: plan.as_ref().is_some_and(|p| p.clears_server_sync),
        options: &stored,
        started_by,
    };
    let operation = replications::insert_operation(tx, &new, now).await?;
    let message = format!("{} of {} queued", operation.title(), source.host_name);
    events::insert(tx, kind::OPERATION_QUEUED, Some(t.source_id), &message, now).await?;
    Ok(operation)
}

/// Hand a committed, queued operation to its background runner.
pub(super) fn spawn(state: &AppState, operation: Operation) -> Operation {
    let cancel = CancellationToken::new();
    running(state).insert(operation.id, cancel.clone());
    tokio::spawn(runner::run(state.clone(), operation.id, cancel));
    operation
}

/// The cancellation token of every queued or running operation.
pub(super) fn running(
    state: &AppState,
) -> std::sync::MutexGuard<'_, HashMap<Uuid, CancellationToken>> {
    state
        .running_operations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Abort the contract's queued or running operation. Answers that operation; its status becomes
/// `aborted` as soon as its runner notices (within one progress tick).
pub async fn abort(state: &AppState, by: &Caller, transformation_id: Uuid) -> Result<Operation> {
    let mut r = state.db.reader().await?;
    replications::find(&mut r, transformation_id).await?;
    let active = replications::active_operation(&mut r, transformation_id)
        .await?
        .ok_or_else(|| not_allowed(NotAllowed::NothingToAbort))?;
    drop(r);
    // Cancelled under the lock, so that a runner leaving at that moment sees it (`runner::run`).
    let cancelled = running(state)
        .get(&active.id)
        .map(CancellationToken::cancel);
    if cancelled.is_none() {
        // No runner holds it (it waits for its polls, or a crash came between commit and
        // spawn): end it here so the contract is not stuck.
        runner::finish_aborted(state, active.id).await?;
    }
    tracing::info!(transformation = %transformation_id, operation = %active.id, by = %by.user, "abort requested");
    Ok(active)
}

/// After a restart, operations that were queued or running are failed: nothing survives a
/// restart, and clients must not wait for them forever. Platforms' discoveries too.
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
    Ok(unfinished.len() + super::platforms::recover(state).await?)
}

/// Stop every queued or running operation's runner (a reset); they find their rows gone and end
/// quietly.
pub fn cancel_all(state: &AppState) {
    for token in running(state).values() {
        token.cancel();
    }
    state
        .polls
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}
