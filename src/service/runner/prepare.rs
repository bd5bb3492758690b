//! What Prepare does to the source when it completes (SPEC 9), and how it fails on an offline
//! source.

use chrono::{DateTime, Utc};

use crate::db::WriteTx;
use crate::db::packages::Catalog;
use crate::db::sources;
use crate::domain::driver::{self, DriverAction};
use crate::domain::model::{Operation, Source, Step};
use crate::domain::platform::ControllerService;
use crate::domain::replication::{OperationStatus, OperationType, StepKind};
use crate::error::{AppError, Result};
use crate::state::AppState;

/// Why the operation's source cannot be reached, if it cannot (see `Source::offline`).
pub(super) async fn offline(state: &AppState, op: &Operation) -> Result<Option<String>> {
    let source = sources::find(&mut state.db.reader().await?, op.source_id).await?;
    let retry = match op.operation_type {
        OperationType::Prepare => "Prepare",
        _ => "the replication",
    };
    Ok(source
        .offline()
        .map(|o| o.message(&source.host_name, retry)))
}

/// Prepare's end, in the operation's transaction. On an offline source (checked again here: an
/// after-N-polls transition runs no steps, and the controller may have stopped since its step)
/// the operation fails, recorded with its event: answers `None`. Otherwise answers the source
/// as Prepare leaves it.
pub(super) async fn finish(
    tx: &mut WriteTx,
    op: &mut Operation,
    source: Source,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Option<Source>> {
    if let Some(offline) = source.offline() {
        fail_at_controller(&mut op.steps);
        let why = offline.message(&source.host_name, "Prepare");
        super::fail(tx, op.clone(), OperationStatus::Failed, Some(&why), now).await?;
        return Ok(None);
    }
    Ok(Some(prepared(tx, op, source, catalog, now).await?))
}

/// What Prepare leaves on the source: the controller running and, on a discovered source without
/// a driver, the server's latest package for its platform installed, through the path an agent's
/// report takes (its events, the reboot task), in the operation's transaction.
async fn prepared(
    tx: &mut WriteTx,
    op: &mut Operation,
    source: Source,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<Source> {
    let planned = op
        .steps
        .iter()
        .any(|s| s.kind() == Some(StepKind::InstallingBlockBasedDriver));
    let mut driver = source.driver;
    if planned && source.needs_driver_from_server() {
        match catalog.latest(source.platform) {
            Some(package) => {
                driver = driver::apply(
                    source.os_family,
                    source.driver,
                    DriverAction::Install(package.version),
                )
                .map_err(AppError::internal)?
                .state;
            }
            // The package went away since the operation was queued.
            None => op.warnings.push(source.no_driver_package_warning()),
        }
    }
    crate::service::sources::record(tx, source, driver, ControllerService::Running, false, now)
        .await
}

/// A Prepare that met an offline source: its controller step failed, the later ones never ran.
fn fail_at_controller(steps: &mut [Step]) {
    let Some(at) = steps
        .iter()
        .position(|s| s.kind().is_some_and(StepKind::is_controller))
    else {
        return;
    };
    for step in &mut steps[at..] {
        step.status = OperationStatus::Failed;
        step.progress = 0;
        step.completed_at = None;
    }
    for step in &mut steps[at + 1..] {
        step.started_at = None;
    }
}
