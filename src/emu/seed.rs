//! `--seed-file`: a JSON scenario of sources, their driver states and transformations, read and
//! checked here; loaded at start and after each reset by `crate::service::emulator::seed`.
//!
//! ```json
//! {"sources": [{"hostName": "WIN-SRC01", "osFamily": "windows", "ipAddress": "10.0.0.5",
//!   "machineId": "seed-1", "agentToken": "psa_demo", "controllerService": "running",
//!   "installedVersion": "8.0.0.11", "runningVersion": null,
//!   "transformation": {"state": "Prepared", "hasFullReplication": true}}]}
//! ```

use serde::Deserialize;

use crate::domain::platform::{ControllerService, OsFamily, Platform};
use crate::domain::replication::ContractState;
use crate::domain::version::DriverVersion;
use crate::error::{AppError, Result};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub sources: Vec<SeedSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedSource {
    pub host_name: String,
    pub os_family: OsFamily,
    pub platform: Option<Platform>,
    pub ip_address: std::net::IpAddr,
    /// Registered by an agent with this machine id; added through the API without one.
    pub machine_id: Option<String>,
    /// A known agent token for scripts (a random one when left out).
    pub agent_token: Option<String>,
    #[serde(default)]
    pub controller_service: ControllerService,
    pub installed_version: Option<DriverVersion>,
    pub running_version: Option<DriverVersion>,
    #[serde(default)]
    pub server_sync_required: bool,
    pub transformation: Option<SeedTransformation>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedTransformation {
    pub state: String,
    #[serde(default)]
    pub has_full_replication: bool,
}

/// Read and check the scenario without applying it.
pub fn read(path: &std::path::Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AppError::Unprocessable(format!("cannot read the seed file {}: {e}", path.display()))
    })?;
    let scenario: Scenario = serde_json::from_str(&text).map_err(|e| {
        AppError::Unprocessable(format!(
            "the seed file {} is not a valid scenario: {e}",
            path.display()
        ))
    })?;
    for (i, s) in scenario.sources.iter().enumerate() {
        let platform = s.platform.unwrap_or(Platform::default_for(s.os_family));
        let bad = |m: String| {
            AppError::Unprocessable(format!("seed file, sources[{i}] ({}): {m}", s.host_name))
        };
        if platform.os_family() != s.os_family {
            return Err(bad(format!("{platform} is not a {} platform", s.os_family)));
        }
        if s.os_family == OsFamily::Linux && s.installed_version != s.running_version {
            return Err(bad(
                "a Linux machine's installed and running versions are the same".into(),
            ));
        }
        if let Some(t) = &s.transformation {
            t.state.parse::<ContractState>().map_err(bad)?;
        }
    }
    Ok(scenario)
}
