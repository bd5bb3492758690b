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
}

impl Source {
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

/// One simulated step of an operation (its `subOperations`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    pub status: super::replication::OperationStatus,
    pub progress: u8,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
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
