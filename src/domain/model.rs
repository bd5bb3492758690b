//! The records the server keeps, as the rest of the code sees them (the database maps to these).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::driver::DriverState;
use super::platform::{ControllerService, OsFamily, Platform};
use super::version::DriverVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        format!("platespin-bbt-drivers-{}-{}.package", self.platform, self.version)
    }
}

/// A warning on a workload or an operation, as the API and the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
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
                code: "RebootRequired",
                message: format!("Reboot required to complete the driver {}", change.noun()),
            });
        }
        if self.server_sync_required {
            warnings.push(Warning {
                code: "ServerSyncRequired",
                message: "Server-sync required".to_owned(),
            });
        }
        warnings
    }

    /// The Workloads page's Status column. Without a migration contract a workload is
    /// "Not Configured", as in the product.
    pub fn status(&self) -> &'static str {
        "Not Configured"
    }
}
