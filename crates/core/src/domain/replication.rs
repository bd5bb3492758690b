//! Replications under a transformation (the migration contract), SPEC 3.3: which operations a
//! contract allows, how a replication runs (driver, transfer method, warnings, server-sync), and
//! the workload status the pages and the API show.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::driver::DriverState;
use super::model::{Warning, WarningCode};
use super::version::DriverVersion;

mod steps;
pub use steps::{CutoverFlags, PreparePlan, StepKind, Work, replication_requested, steps};

/// Where a contract has settled (what it is while no operation runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ContractState {
    Configured,
    Prepared,
    /// A test cutover has run and not ended yet (the API says "TestCutover").
    #[cfg_attr(feature = "openapi", schema(rename = "TestCutover"))]
    UnderTest,
    CutOver,
}

impl ContractState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "Configured",
            Self::Prepared => "Prepared",
            Self::UnderTest => "TestCutover",
            Self::CutOver => "CutOver",
        }
    }
}

impl FromStr for ContractState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Configured,
            Self::Prepared,
            Self::UnderTest,
            Self::CutOver,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| format!("unknown contract state {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OperationType {
    Prepare,
    Migrate,
    TestCutover,
    EndTestCutover,
    Cutover,
}

impl OperationType {
    pub const ALL: [Self; 5] = [
        Self::Prepare,
        Self::Migrate,
        Self::TestCutover,
        Self::EndTestCutover,
        Self::Cutover,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Prepare => "Prepare",
            Self::Migrate => "Migrate",
            Self::TestCutover => "TestCutover",
            Self::EndTestCutover => "EndTestCutover",
            Self::Cutover => "Cutover",
        }
    }
}

impl FromStr for OperationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown operation {s:?}; expected Prepare, Migrate, TestCutover, EndTestCutover, Cutover or Abort")
            })
    }
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MigrationType {
    Full,
    Incremental,
    ServerSync,
}

impl MigrationType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::ServerSync => "serverSync",
        }
    }
}

impl FromStr for MigrationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "incremental" => Ok(Self::Incremental),
            "serverSync" => Ok(Self::ServerSync),
            other => Err(format!(
                "unknown migration type {other:?}; expected full, incremental or serverSync"
            )),
        }
    }
}

/// An operation's state (SPEC 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum OperationStatus {
    Queued,
    Running,
    Succeeded,
    SucceededWithWarnings,
    Failed,
    Aborted,
}

impl OperationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::SucceededWithWarnings => "succeededWithWarnings",
            Self::Failed => "failed",
            Self::Aborted => "aborted",
        }
    }

    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }

    pub const fn succeeded(self) -> bool {
        matches!(self, Self::Succeeded | Self::SucceededWithWarnings)
    }

    /// How the pages say it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Running => "Running",
            Self::Succeeded => "Completed",
            Self::SucceededWithWarnings => "Completed with warnings",
            Self::Failed => "Failed",
            Self::Aborted => "Aborted",
        }
    }
}

impl FromStr for OperationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::SucceededWithWarnings,
            Self::Failed,
            Self::Aborted,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("unknown operation status {s:?}"))
    }
}

/// What the decision rules need to know about a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractFacts {
    pub state: ContractState,
    /// The operation that is queued or running, if any.
    pub running: Option<OperationType>,
    /// Whether a full replication has completed (the first replication must be full).
    pub has_full_replication: bool,
}

/// Why an operation is not allowed now (409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    #[error("a {0} operation is already running on this transformation; wait for it or abort it")]
    AlreadyRunning(OperationType),
    #[error("{op} is not allowed while the transformation is {state}{hint}")]
    WrongState {
        op: OperationType,
        state: &'static str,
        hint: &'static str,
    },
    #[error("the first replication must be full")]
    FirstMustBeFull,
    #[error("nothing is running on this transformation; there is nothing to abort")]
    NothingToAbort,
}

/// Check that `op` (with `migration` for Migrate) may start now.
pub fn check_allowed(
    facts: ContractFacts,
    op: OperationType,
    migration: Option<MigrationType>,
) -> Result<(), NotAllowed> {
    use ContractState::*;
    use OperationType::*;
    if let Some(running) = facts.running {
        return Err(NotAllowed::AlreadyRunning(running));
    }
    let wrong = |hint: &'static str| NotAllowed::WrongState {
        op,
        state: facts.state.as_str(),
        hint,
    };
    match (op, facts.state) {
        (Prepare, Configured) => Ok(()),
        (Prepare, _) => Err(wrong(" (it is already prepared)")),
        (Migrate, Prepared | UnderTest) => {
            if !facts.has_full_replication && migration.is_some_and(|m| m != MigrationType::Full) {
                Err(NotAllowed::FirstMustBeFull)
            } else {
                Ok(())
            }
        }
        (Migrate, Configured) => Err(wrong("; run Prepare first")),
        (TestCutover | Cutover, Prepared) if !facts.has_full_replication => Err(wrong(
            " and has never been replicated; run a full replication first",
        )),
        (TestCutover, Prepared) | (Cutover, Prepared | UnderTest) => Ok(()),
        (TestCutover, UnderTest) => Err(wrong("; end the test first")),
        (EndTestCutover, UnderTest) => Ok(()),
        (EndTestCutover, _) => Err(wrong("; there is no test cutover to end")),
        (_, CutOver) => Err(wrong("; the workload has been cut over")),
        (_, Configured) => Err(wrong("; run Prepare first")),
    }
}

/// The operations a contract allows now, for its `operation-*` links.
pub fn allowed_operations(facts: ContractFacts) -> Vec<OperationType> {
    OperationType::ALL
        .into_iter()
        .filter(|&op| {
            let migration = (op == OperationType::Migrate).then_some(MigrationType::Full);
            check_allowed(facts, op, migration).is_ok()
        })
        .collect()
}

/// Migrate's default type: incremental after the first full replication, else full.
pub fn default_migration_type(facts: ContractFacts) -> MigrationType {
    if facts.has_full_replication {
        MigrationType::Incremental
    } else {
        MigrationType::Full
    }
}

/// How a replication will be carried out, decided when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationPlan {
    pub requested: MigrationType,
    pub performed_as: MigrationType,
    /// The running driver: an installed driver that has not been loaded does not count.
    pub driver_version_used: Option<DriverVersion>,
    pub transfer_method: TransferMethod,
    pub warnings: Vec<Warning>,
    /// Completing it clears `serverSyncRequired`.
    pub clears_server_sync: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransferMethod {
    /// The driver tracked the changed blocks.
    BlockBasedWithDriver,
    /// No driver runs: blocks are compared by checksum to find the changes.
    BlockBasedWithoutDriver,
}

impl TransferMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BlockBasedWithDriver => "BlockBasedWithDriver",
            Self::BlockBasedWithoutDriver => "BlockBasedWithoutDriver",
        }
    }
}

pub fn reboot_warning(driver: DriverState) -> Option<Warning> {
    driver.pending_change().map(|change| Warning {
        code: WarningCode::RebootRequired,
        message: format!(
            "Reboot required to complete the driver {}: this replication uses the running driver ({})",
            change.noun(),
            driver.running.map_or_else(|| "none".to_owned(), |v| v.to_string())
        ),
    })
}

pub fn server_sync_warning() -> Warning {
    Warning {
        code: WarningCode::ServerSyncRequired,
        message: "Server-sync required: the incremental replication was carried out as a server-sync to capture all changes since the driver started".to_owned(),
    }
}

/// SPEC 3.3's rules for a replication starting on a workload. `reboot_pending` is false on Linux.
pub fn plan_replication(
    requested: MigrationType,
    driver: DriverState,
    reboot_pending: bool,
    server_sync_required: bool,
) -> ReplicationPlan {
    let performed_as = match requested {
        MigrationType::Incremental if server_sync_required => MigrationType::ServerSync,
        other => other,
    };
    let mut warnings = Vec::new();
    if reboot_pending && let Some(w) = reboot_warning(driver) {
        warnings.push(w);
    }
    if requested == MigrationType::Incremental && performed_as == MigrationType::ServerSync {
        warnings.push(server_sync_warning());
    }
    ReplicationPlan {
        requested,
        performed_as,
        driver_version_used: driver.running,
        transfer_method: if driver.running.is_some() {
            TransferMethod::BlockBasedWithDriver
        } else {
            TransferMethod::BlockBasedWithoutDriver
        },
        warnings,
        clears_server_sync: matches!(
            performed_as,
            MigrationType::Full | MigrationType::ServerSync
        ),
    }
}

/// The workload's Status column (Workloads page) and the contract's `status`. `last_failed` is
/// the type of the contract's latest operation when that operation failed: a failure shows until
/// something else runs (PTM's `PREPARE_FAILED` and its kin).
pub fn workload_status(
    contract: Option<ContractFacts>,
    running_as: Option<MigrationType>,
    last_failed: Option<OperationType>,
) -> &'static str {
    let Some(c) = contract else {
        return "Not Configured";
    };
    match (c.running, c.state) {
        (Some(OperationType::Prepare), _) => "Preparing Migration",
        (Some(OperationType::Migrate), _) => match running_as {
            Some(MigrationType::ServerSync) => "Running Server-sync",
            Some(MigrationType::Full) if !c.has_full_replication => "Running First Replication",
            Some(MigrationType::Full) => "Running Full Replication",
            _ => "Running Incremental Replication",
        },
        (Some(OperationType::TestCutover), _) => "Running Test Cutover",
        (Some(OperationType::EndTestCutover), _) => "Ending Test Cutover",
        (Some(OperationType::Cutover), _) => "Running Cutover",
        (None, ContractState::Configured) if last_failed == Some(OperationType::Prepare) => {
            "Prepare Failed"
        }
        (None, ContractState::Configured) => "Migration Configured",
        (None, ContractState::CutOver) => "Cutover Completed",
        (None, ContractState::UnderTest) if last_failed == Some(OperationType::EndTestCutover) => {
            "End Test Cutover Failed"
        }
        (None, ContractState::UnderTest) => "Test Cutover",
        (None, ContractState::Prepared) => match last_failed {
            Some(OperationType::Migrate) => "Replication Failed",
            Some(OperationType::TestCutover) => "Test Cutover Failed",
            Some(OperationType::Cutover) => "Cutover Failed",
            _ if c.has_full_replication => "Idle",
            _ => "Ready for Replication",
        },
    }
}

/// Whether a Status column value reports a failure (drawn in red, counted on the dashboard).
pub fn is_failed_status(status: &str) -> bool {
    status.ends_with(" Failed")
}

/// The contract's state after an operation succeeded.
pub const fn state_after(op: OperationType, before: ContractState) -> ContractState {
    match op {
        OperationType::Prepare => ContractState::Prepared,
        OperationType::Migrate => before,
        OperationType::TestCutover => ContractState::UnderTest,
        OperationType::EndTestCutover => ContractState::Prepared,
        OperationType::Cutover => ContractState::CutOver,
    }
}

#[cfg(test)]
mod tests;
