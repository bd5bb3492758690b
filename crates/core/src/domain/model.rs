//! The records the server keeps, as the rest of the code sees them (the database maps to these).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::driver::DriverState;
use super::platform::{ControllerService, OsFamily, Platform};
use super::version::DriverVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum AddedBy {
    Agent,
    Api,
}

impl AddedBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Api => "api",
        }
    }
}

/// A source machine (a workload).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub id: Uuid,
    pub machine_id: Option<String>,
    pub host_name: String,
    pub os_family: OsFamily,
    pub platform: Platform,
    pub ip_address: String,
    pub added_by: AddedBy,
    pub controller_service: ControllerService,
    pub driver: DriverState,
    pub server_sync_required: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_report_at: Option<DateTime<Utc>>,
}

/// What a client gives to add or register a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    pub host_name: String,
    pub os_family: OsFamily,
    pub platform: Platform,
    pub ip_address: String,
}

/// What a task asks of an operator: a reboot, or marking a test cutover a success or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskKind {
    RebootRequired,
    MarkTestSuccess,
    MarkTestFailure,
}

impl TaskKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RebootRequired => "RebootRequired",
            Self::MarkTestSuccess => "MarkTestSuccess",
            Self::MarkTestFailure => "MarkTestFailure",
        }
    }
}

impl std::str::FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "RebootRequired" => Ok(Self::RebootRequired),
            "MarkTestSuccess" => Ok(Self::MarkTestSuccess),
            "MarkTestFailure" => Ok(Self::MarkTestFailure),
            other => Err(format!(
                "unknown task kind {other:?}; expected RebootRequired, MarkTestSuccess or MarkTestFailure"
            )),
        }
    }
}

/// Where a task stands: `active` until dismissed, or resolved by what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "lowercase"))]
pub enum TaskState {
    Active,
    Dismissed,
    Resolved,
}

impl TaskState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dismissed => "dismissed",
            Self::Resolved => "resolved",
        }
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "dismissed" => Ok(Self::Dismissed),
            "resolved" => Ok(Self::Resolved),
            other => Err(format!(
                "unknown task state {other:?}; expected active, dismissed or resolved"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub kind: TaskKind,
    pub source_id: Uuid,
    pub message: String,
    pub state: TaskState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub kind: String,
    pub source_id: Option<Uuid>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PackageOrigin {
    /// Shipped in the sample repository (`driver-packages/`).
    Sample,
    /// Uploaded by an administrator; stored under the data directory by SHA-256.
    Upload,
}

impl PackageOrigin {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sample => "sample",
            Self::Upload => "upload",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriverPackage {
    pub id: Uuid,
    pub platform: Platform,
    pub version: DriverVersion,
    pub size: u64,
    pub sha256: String,
    pub origin: PackageOrigin,
    pub file_name: String,
    pub file_mtime: String,
    pub created_at: DateTime<Utc>,
}

impl DriverPackage {
    /// The name a client saves the download as.
    pub fn download_name(&self) -> String {
        format!(
            "platespin-bbt-drivers-{}-{}.package",
            self.platform, self.version
        )
    }
}

/// A warning on a workload or an operation, as the API and the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WarningCode {
    /// The installed driver differs from the running one: a reboot is pending.
    RebootRequired,
    /// The driver started where none ran: the next replication must capture everything.
    ServerSyncRequired,
    /// Prepare found no driver package for the source's platform on the server: the source was
    /// prepared without the block-based driver.
    NoDriverPackage,
}

/// Why the server cannot reach a source's controller (the source is offline, SPEC 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// The controller service is installed but not running.
    ControllerStopped,
    /// Registered by the Migrate Agent, which has not reported the controller installed: the
    /// server cannot push one to such a source (it opens no inbound ports).
    AgentControllerMissing,
}

impl Offline {
    /// What the operator reads: the workload, what is wrong, what to do, and what to run again
    /// (`retry`, e.g. "Prepare" or "the replication").
    pub fn message(self, host: &str, retry: &str) -> String {
        match self {
            Self::ControllerStopped => format!(
                "{host} is offline: its PlateSpin Controller service is installed but not running. Start the controller service on the workload (or reboot it) and run {retry} again."
            ),
            Self::AgentControllerMissing => format!(
                "{host} is offline: it was registered by the Migrate Agent, but its PlateSpin Controller service is not installed. Run the Migrate Agent's register command on the workload again (it installs the controller service), then run {retry} again."
            ),
        }
    }
}

impl Source {
    /// Whether the server reaches the source's controller, and why not. Online: the controller
    /// runs, or the source was discovered through the API and has no controller yet (the server
    /// pushes one, as it does to discovered workloads). Offline: a controller installed but not
    /// running, or a source registered by the Migrate Agent whose controller is not running
    /// (only the agent installs and starts it there).
    pub fn offline(&self) -> Option<Offline> {
        match (self.added_by, self.controller_service) {
            (_, ControllerService::Running) => None,
            (AddedBy::Api, ControllerService::NotInstalled) => None,
            (_, ControllerService::Installed) => Some(Offline::ControllerStopped),
            (AddedBy::Agent, ControllerService::NotInstalled) => {
                Some(Offline::AgentControllerMissing)
            }
        }
    }

    /// Prepare installs the server's latest driver here: a discovered source without a driver.
    /// A registered source keeps whatever its agent installed (drivers on registered sources
    /// are the agent's to manage, platespin-product.md 1.5).
    pub fn needs_driver_from_server(&self) -> bool {
        self.added_by == AddedBy::Api && self.driver.installed.is_none()
    }

    /// What Prepare does here, given whether the server has a driver package for its platform.
    pub fn prepare_plan(&self, package_available: bool) -> super::replication::PreparePlan {
        super::replication::PreparePlan {
            install_controller: self.added_by == AddedBy::Api
                && self.controller_service == ControllerService::NotInstalled,
            install_driver: self.needs_driver_from_server() && package_available,
        }
    }

    /// The warning of a Prepare that found no driver package for the source's platform.
    pub fn no_driver_package_warning(&self) -> Warning {
        Warning {
            code: WarningCode::NoDriverPackage,
            message: format!(
                "The server has no driver package for {}: {} was prepared without the block-based driver, and its replications compare blocks by checksum until a driver is installed",
                self.platform, self.host_name
            ),
        }
    }

    /// A reboot is pending on a Windows machine (Linux loads its driver at once).
    pub fn reboot_pending(&self) -> bool {
        self.os_family == OsFamily::Windows && self.driver.reboot_pending()
    }

    /// The workload's warnings: the reboot notification and the server-sync notice (SPEC 3.2, 3.3).
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if self.reboot_pending()
            && let Some(change) = self.driver.pending_change()
        {
            warnings.push(Warning {
                code: WarningCode::RebootRequired,
                message: format!("Reboot required to complete the driver {}", change.noun()),
            });
        }
        if self.server_sync_required {
            warnings.push(Warning {
                code: WarningCode::ServerSyncRequired,
                message: "Server-sync required".to_owned(),
            });
        }
        warnings
    }
}

/// A migration contract for one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformation {
    pub id: Uuid,
    pub source_id: Uuid,
    /// The documented shape's members (issue 17): the workload's name unless given.
    pub display_name: String,
    pub platform_id: Option<Uuid>,
    pub tags: Option<Vec<String>>,
    pub state: super::replication::ContractState,
    pub has_full_replication: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One simulated step of an operation (its `subOperations`), named as the product names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// A product-style identifier, e.g. `InstallingBlockBasedDriver`.
    #[cfg_attr(feature = "openapi", schema(examples("TransferringData")))]
    pub name: String,
    /// What the pages say, e.g. "Transferring data" (empty on steps stored before it existed).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, examples("Transferring data"))
    )]
    pub display_name: String,
    pub status: super::replication::OperationStatus,
    pub progress: u8,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Nested steps, as the product nests its sub-operations; always present, empty when the
    /// step has none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true, no_recursion))]
    pub sub_operations: Vec<Step>,
}

impl Step {
    /// A queued step of this kind.
    pub fn queued(kind: super::replication::StepKind) -> Self {
        Self {
            name: kind.name().to_owned(),
            display_name: kind.display_name().to_owned(),
            status: super::replication::OperationStatus::Queued,
            progress: 0,
            started_at: None,
            completed_at: None,
            sub_operations: Vec::new(),
        }
    }

    /// Its kind, when it is one the emulator knows (steps stored by older versions are not).
    pub fn kind(&self) -> Option<super::replication::StepKind> {
        self.name.parse().ok()
    }

    /// What the pages show: the human text, or the name of a step stored without one.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            &self.name
        } else {
            &self.display_name
        }
    }
}

/// An operation on a contract: Prepare, a replication, a (test) cutover.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: Uuid,
    pub transformation_id: Uuid,
    pub source_id: Uuid,
    pub operation_type: super::replication::OperationType,
    pub migration_type: Option<super::replication::MigrationType>,
    pub performed_as: Option<super::replication::MigrationType>,
    pub status: super::replication::OperationStatus,
    pub progress: u8,
    pub steps: Vec<Step>,
    pub driver_version_used: Option<DriverVersion>,
    pub transfer_method: Option<String>,
    pub warnings: Vec<Warning>,
    pub clears_server_sync: bool,
    pub options: serde_json::Value,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Who started it: a user's name; None for operations stored before it was kept.
    pub started_by: Option<String>,
}

impl Operation {
    /// "Full replication", "Incremental replication performed as server-sync", "Prepare", ...
    pub fn title(&self) -> String {
        use super::replication::{MigrationType, OperationType};
        let name = |m: MigrationType| match m {
            MigrationType::Full => "Full replication",
            MigrationType::Incremental => "Incremental replication",
            MigrationType::ServerSync => "Server-sync replication",
        };
        match (self.operation_type, self.migration_type, self.performed_as) {
            (OperationType::Migrate, Some(m), Some(p)) if m != p => {
                format!("{} (performed as server-sync)", name(m))
            }
            (OperationType::Migrate, Some(m), _) => name(m).to_owned(),
            (OperationType::TestCutover, ..) => "Test cutover".to_owned(),
            (OperationType::EndTestCutover, ..) => "End of test cutover".to_owned(),
            (op, ..) => op.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
