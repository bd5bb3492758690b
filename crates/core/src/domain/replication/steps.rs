//! The simulated steps of an operation, named as the product names its sub-operations
//! (PascalCase identifiers such as `DiscoveringWorkloadTarget` in the Migrate API's documented
//! operation status, platespin-product.md 4.4), each with the text the pages show; and which
//! steps an operation runs, following its options (SPEC 9: `shutdownSource: false` shuts nothing
//! down, `performIncremental` adds the incremental step).

use std::fmt;
use std::str::FromStr;

use super::{MigrationType, OperationType};

/// One kind of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    // Prepare
    ValidatingTransformation,
    /// The server pushes its controller to a discovered source that has none.
    InstallingController,
    /// The controller is there (installed by the server or the Migrate Agent): it must answer.
    CheckingController,
    InstallingBlockBasedDriver,
    PreparingTargetWorkload,
    // Replications
    TakingSnapshot,
    TransferringData,
    ComparingBlocksByChecksum,
    TransferringDifferences,
    CleaningUp,
    // The incremental replication of a (test) cutover
    RunningIncrementalReplication,
    /// That incremental, carried out as a server-sync while one is required.
    RunningServerSync,
    // Test cutover and its end
    PreparingTestWorkload,
    StartingTestWorkload,
    ShuttingDownTestWorkload,
    RevertingTarget,
    // Cutover
    ShuttingDownSourceWorkload,
    StartingTargetWorkload,
    ShuttingDownTargetWorkload,
}

impl StepKind {
    pub const ALL: [Self; 19] = [
        Self::ValidatingTransformation,
        Self::InstallingController,
        Self::CheckingController,
        Self::InstallingBlockBasedDriver,
        Self::PreparingTargetWorkload,
        Self::TakingSnapshot,
        Self::TransferringData,
        Self::ComparingBlocksByChecksum,
        Self::TransferringDifferences,
        Self::CleaningUp,
        Self::RunningIncrementalReplication,
        Self::RunningServerSync,
        Self::PreparingTestWorkload,
        Self::StartingTestWorkload,
        Self::ShuttingDownTestWorkload,
        Self::RevertingTarget,
        Self::ShuttingDownSourceWorkload,
        Self::StartingTargetWorkload,
        Self::ShuttingDownTargetWorkload,
    ];

    /// The product-style identifier: the step's `name` in the API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ValidatingTransformation => "ValidatingTransformation",
            Self::InstallingController => "InstallingController",
            Self::CheckingController => "CheckingController",
            Self::InstallingBlockBasedDriver => "InstallingBlockBasedDriver",
            Self::PreparingTargetWorkload => "PreparingTargetWorkload",
            Self::TakingSnapshot => "TakingSnapshot",
            Self::TransferringData => "TransferringData",
            Self::ComparingBlocksByChecksum => "ComparingBlocksByChecksum",
            Self::TransferringDifferences => "TransferringDifferences",
            Self::CleaningUp => "CleaningUp",
            Self::RunningIncrementalReplication => "RunningIncrementalReplication",
            Self::RunningServerSync => "RunningServerSync",
            Self::PreparingTestWorkload => "PreparingTestWorkload",
            Self::StartingTestWorkload => "StartingTestWorkload",
            Self::ShuttingDownTestWorkload => "ShuttingDownTestWorkload",
            Self::RevertingTarget => "RevertingTarget",
            Self::ShuttingDownSourceWorkload => "ShuttingDownSourceWorkload",
            Self::StartingTargetWorkload => "StartingTargetWorkload",
            Self::ShuttingDownTargetWorkload => "ShuttingDownTargetWorkload",
        }
    }

    /// What the pages (Command Details) say.
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::ValidatingTransformation => "Validating the migration contract",
            Self::InstallingController => "Installing the PlateSpin Controller on the source",
            Self::CheckingController => "Checking the PlateSpin Controller on the source",
            Self::InstallingBlockBasedDriver => "Installing the block-based transfer driver",
            Self::PreparingTargetWorkload => "Preparing the target workload",
            Self::TakingSnapshot => "Taking a snapshot of the source volumes",
            Self::TransferringData => "Transferring data",
            Self::ComparingBlocksByChecksum => "Comparing source and target blocks by checksum",
            Self::TransferringDifferences => "Transferring the differences",
            Self::CleaningUp => "Cleaning up",
            Self::RunningIncrementalReplication => {
                "Replicating the latest changes (incremental replication)"
            }
            Self::RunningServerSync => {
                "Replicating all changes since the driver started (server-sync)"
            }
            Self::PreparingTestWorkload => "Preparing the target for the test",
            Self::StartingTestWorkload => "Starting the test workload",
            Self::ShuttingDownTestWorkload => "Shutting down the test workload",
            Self::RevertingTarget => "Reverting the target",
            Self::ShuttingDownSourceWorkload => "Shutting down the source workload",
            Self::StartingTargetWorkload => "Starting the target workload",
            Self::ShuttingDownTargetWorkload => "Shutting down the target workload",
        }
    }

    /// The step where Prepare meets the source's controller: an offline source fails here.
    pub const fn is_controller(self) -> bool {
        matches!(self, Self::InstallingController | Self::CheckingController)
    }
}

impl FromStr for StepKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown step {s:?}"))
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The switches of a cutover or a test cutover, with the product's defaults for those left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CutoverFlags {
    pub shutdown_source: bool,
    pub shutdown_target: bool,
    pub perform_incremental: bool,
}

impl CutoverFlags {
    /// The Web Interface's defaults (platespin-product.md 3.3): Run Cutover has Shutdown Source
    /// and Perform Incremental Replication on, Shutdown Target Workload off; Test Cutover has
    /// both of its options (Shutdown Target Workload, Perform Incremental Replication) off and
    /// never shuts the source down. Other operations have no switches.
    pub fn resolve(
        op: OperationType,
        shutdown_source: Option<bool>,
        shutdown_target: Option<bool>,
        perform_incremental: Option<bool>,
    ) -> Self {
        match op {
            OperationType::Cutover => Self {
                shutdown_source: shutdown_source.unwrap_or(true),
                shutdown_target: shutdown_target.unwrap_or(false),
                perform_incremental: perform_incremental.unwrap_or(true),
            },
            OperationType::TestCutover => Self {
                shutdown_source: false,
                shutdown_target: shutdown_target.unwrap_or(false),
                perform_incremental: perform_incremental.unwrap_or(false),
            },
            OperationType::Prepare | OperationType::Migrate | OperationType::EndTestCutover => {
                Self::default()
            }
        }
    }
}

/// What Prepare does on a source (see `Source::prepare_plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PreparePlan {
    /// The server installs its controller (a discovered source without one); otherwise it
    /// checks the one there.
    pub install_controller: bool,
    /// The server installs its latest driver package for the source's platform.
    pub install_driver: bool,
}

/// What an operation does, decided when it is queued; its steps follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Prepare(PreparePlan),
    /// A replication, as it is carried out.
    Migrate(MigrationType),
    TestCutover {
        /// The incremental replication first, as it is carried out (`performIncremental`).
        replication: Option<MigrationType>,
        shutdown_target: bool,
    },
    EndTestCutover,
    Cutover {
        replication: Option<MigrationType>,
        shutdown_source: bool,
        shutdown_target: bool,
    },
}

impl Work {
    /// The work of `op` with its switches, the replication it carries out (as performed) and,
    /// for Prepare, its plan. A Migrate without a replication is a full one.
    pub fn new(
        op: OperationType,
        flags: CutoverFlags,
        replication: Option<MigrationType>,
        prepare: PreparePlan,
    ) -> Self {
        match op {
            OperationType::Prepare => Self::Prepare(prepare),
            OperationType::Migrate => Self::Migrate(replication.unwrap_or(MigrationType::Full)),
            OperationType::TestCutover => Self::TestCutover {
                replication,
                shutdown_target: flags.shutdown_target,
            },
            OperationType::EndTestCutover => Self::EndTestCutover,
            OperationType::Cutover => Self::Cutover {
                replication,
                shutdown_source: flags.shutdown_source,
                shutdown_target: flags.shutdown_target,
            },
        }
    }

    pub const fn operation_type(self) -> OperationType {
        match self {
            Self::Prepare(_) => OperationType::Prepare,
            Self::Migrate(_) => OperationType::Migrate,
            Self::TestCutover { .. } => OperationType::TestCutover,
            Self::EndTestCutover => OperationType::EndTestCutover,
            Self::Cutover { .. } => OperationType::Cutover,
        }
    }
}

/// The replication an operation carries out, as asked for: Migrate's own (its type, or the
/// default), or a (test) cutover's incremental when `performIncremental` is on.
pub fn replication_requested(
    op: OperationType,
    flags: CutoverFlags,
    migration_type: Option<MigrationType>,
    default: MigrationType,
) -> Option<MigrationType> {
    match op {
        OperationType::Migrate => Some(migration_type.unwrap_or(default)),
        OperationType::TestCutover | OperationType::Cutover => flags
            .perform_incremental
            .then_some(MigrationType::Incremental),
        OperationType::Prepare | OperationType::EndTestCutover => None,
    }
}

fn replication_step(performed_as: MigrationType) -> StepKind {
    match performed_as {
        MigrationType::ServerSync => StepKind::RunningServerSync,
        MigrationType::Full | MigrationType::Incremental => StepKind::RunningIncrementalReplication,
    }
}

/// The steps of an operation, in order.
pub fn steps(work: Work) -> Vec<StepKind> {
    use StepKind::*;
    let mut out = Vec::with_capacity(5);
    match work {
        Work::Prepare(plan) => {
            out.push(ValidatingTransformation);
            out.push(if plan.install_controller {
                InstallingController
            } else {
                CheckingController
            });
            if plan.install_driver {
                out.push(InstallingBlockBasedDriver);
            }
            out.push(PreparingTargetWorkload);
        }
        Work::Migrate(MigrationType::ServerSync) => out.extend([
            TakingSnapshot,
            ComparingBlocksByChecksum,
            TransferringDifferences,
            CleaningUp,
        ]),
        Work::Migrate(MigrationType::Full | MigrationType::Incremental) => {
            out.extend([TakingSnapshot, TransferringData, CleaningUp]);
        }
        Work::TestCutover {
            replication,
            shutdown_target,
        } => {
            out.extend(replication.map(replication_step));
            out.extend([PreparingTestWorkload, StartingTestWorkload]);
            if shutdown_target {
                out.push(ShuttingDownTargetWorkload);
            }
        }
        Work::EndTestCutover => out.extend([ShuttingDownTestWorkload, RevertingTarget]),
        Work::Cutover {
            replication,
            shutdown_source,
            shutdown_target,
        } => {
            out.extend(replication.map(replication_step));
            if shutdown_source {
                out.push(ShuttingDownSourceWorkload);
            }
            out.push(StartingTargetWorkload);
            if shutdown_target {
                out.push(ShuttingDownTargetWorkload);
            }
        }
    }
    out
}
