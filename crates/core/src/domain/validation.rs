//! A transformation's ValidationResults group: what stands in the way of its next step, derived
//! from the workload and the contract as they are now (nothing is stored).

use serde::Serialize;

use super::model::{Source, WarningCode};
use super::platform::OsFamily;
use super::replication::{self, ContractFacts, ContractState, OperationType};
use super::settings::Schedule;
use super::version::DriverVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Information,
    Warning,
    /// Prepare cannot succeed until it is resolved.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ValidationCode {
    /// No `platformId`: the emulator prepares and replicates anyway.
    NoTargetPlatform,
    /// The source's controller service is installed but not running (the workload is offline).
    ControllerNotRunning,
    /// The source has no block-based driver: Prepare installs the server's latest.
    DriverWillBeInstalled,
    /// The source has no block-based driver and the server has no package for its platform.
    NoDriverPackage,
    /// A driver change waits for the source's reboot.
    RebootRequired,
    /// The next incremental replication will be carried out as a server-sync.
    ServerSyncRequired,
    /// A full replication is scheduled but the workload is not prepared yet.
    ScheduleWaitsForPrepare,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationResult {
    pub severity: Severity,
    pub code: ValidationCode,
    pub message: String,
}

/// What the results are made of.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub source: &'a Source,
    pub contract: ContractFacts,
    pub has_platform: bool,
    /// The server's latest driver package for the source's platform.
    pub latest_driver: Option<DriverVersion>,
    pub schedule: &'a Schedule,
}

/// The results, most severe first, and whether Prepare may run now: the contract allows it and
/// no result is an error.
pub fn validate(f: Facts<'_>) -> (Vec<ValidationResult>, bool) {
    let mut results = Vec::new();
    let mut add = |severity, code, message: String| {
        results.push(ValidationResult {
            severity,
            code,
            message,
        });
    };
    let host = &f.source.host_name;
    let before_prepare = f.contract.state == ContractState::Configured;
    // The rule Prepare itself applies: an offline source fails to prepare.
    if before_prepare && let Some(offline) = f.source.offline() {
        add(
            Severity::Error,
            ValidationCode::ControllerNotRunning,
            offline.message(host, "Prepare"),
        );
    }
    if !f.has_platform && f.contract.state != ContractState::CutOver {
        add(
            Severity::Warning,
            ValidationCode::NoTargetPlatform,
            "No target platform is set (platformId)".to_owned(),
        );
    }
    // A registered source's driver is its agent's to install, not Prepare's.
    if before_prepare && f.source.needs_driver_from_server() {
        let platform = f.source.platform;
        match f.latest_driver {
            Some(version) => {
                let reboot = if f.source.os_family == OsFamily::Windows {
                    "; Windows loads it after the next reboot"
                } else {
                    ""
                };
                add(
                    Severity::Warning,
                    ValidationCode::DriverWillBeInstalled,
                    format!(
                        "{host} has no block-based driver: Prepare installs the server's latest for {platform} ({version}){reboot}"
                    ),
                );
            }
            None => add(
                Severity::Warning,
                ValidationCode::NoDriverPackage,
                format!(
                    "{host} has no block-based driver and the server has no driver package for {platform}"
                ),
            ),
        }
    }
    for w in f.source.warnings() {
        let code = match w.code {
            WarningCode::RebootRequired => ValidationCode::RebootRequired,
            WarningCode::ServerSyncRequired => ValidationCode::ServerSyncRequired,
            WarningCode::NoDriverPackage => ValidationCode::NoDriverPackage,
        };
        add(Severity::Warning, code, w.message);
    }
    if before_prepare && f.schedule.full_replication_start.is_some() {
        add(
            Severity::Information,
            ValidationCode::ScheduleWaitsForPrepare,
            "The scheduled full replication runs once the workload is prepared".to_owned(),
        );
    }
    results.sort_by_key(|r| std::cmp::Reverse(r.severity as u8));
    let can_prepare = results.iter().all(|r| r.severity != Severity::Error)
        && replication::check_allowed(f.contract, OperationType::Prepare, None).is_ok();
    (results, can_prepare)
}

#[cfg(test)]
mod tests;
