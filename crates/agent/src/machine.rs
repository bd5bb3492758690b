//! The emulated source machine, kept in the agent's state directory: `machine.json` (identity,
//! driver and controller service, registration) and `migrate-agent.log`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AgentError;
use super::args::MachineKind;
use migrate_core::domain::driver::DriverState;
use migrate_core::domain::platform::{ControllerService, OsFamily, Platform};

pub const STATE_FILE: &str = "machine.json";
pub const LOG_FILE: &str = "migrate-agent.log";
const FORMAT: u32 = 1;

/// One emulated machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    pub format: u32,
    /// The agent's own id of the machine: what makes registration idempotent.
    pub machine_id: String,
    pub host_name: String,
    pub os_family: OsFamily,
    pub platform: Platform,
    pub ip_address: String,
    pub driver: DriverState,
    pub controller_service: ControllerService,
    #[serde(default)]
    pub registration: Option<Registration>,
}

/// The server the machine is registered with, and the token it reports with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    pub server: String,
    pub source_id: uuid::Uuid,
    pub agent_token: String,
    pub registered_at: DateTime<Utc>,
}

impl Machine {
    /// A new machine of `kind` (a Windows x64 machine by default), with a made-up host name and
    /// an address from the documentation range (RFC 5737): it is reported, never contacted.
    pub fn new(kind: Option<MachineKind>, host_name: Option<String>) -> Self {
        let kind = kind.unwrap_or(MachineKind {
            os: OsFamily::Windows,
            platform: Platform::WindowsX64,
        });
        let id = uuid::Uuid::new_v4();
        let short = &id.simple().to_string()[..8];
        let host_name = host_name.unwrap_or_else(|| match kind.os {
            OsFamily::Windows => format!("WIN-{}", short.to_ascii_uppercase()),
            OsFamily::Linux => format!("lnx-{short}"),
        });
        let last = id.as_bytes()[15] % 254 + 1;
        Self {
            format: FORMAT,
            machine_id: id.to_string(),
            host_name,
            os_family: kind.os,
            platform: kind.platform,
            ip_address: format!("192.0.2.{last}"),
            driver: DriverState::NONE,
            controller_service: ControllerService::NotInstalled,
            registration: None,
        }
    }

    /// What a parsed file must also satisfy to describe a possible machine.
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {} is not {FORMAT}", self.format));
        }
        if self.platform.os_family() != self.os_family {
            return Err(format!(
                "{} is not a {} platform",
                self.platform, self.os_family
            ));
        }
        if self.os_family == OsFamily::Linux && self.driver.reboot_pending() {
            return Err("a Linux machine's installed and running drivers differ".into());
        }
        if self.machine_id.trim().is_empty() || self.host_name.trim().is_empty() {
            return Err("the machine id or host name is empty".into());
        }
        Ok(())
    }
}

/// The state directory of one emulated machine.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// `--state-dir` / `MIGRATE_AGENT_HOME`, else `.migrate-agent` in the home directory.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, AgentError> {
        let path = match explicit {
            Some(p) => p,
            None => std::env::var_os("HOME")
                .or_else(|| std::env::var_os("USERPROFILE"))
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".migrate-agent"))
                .ok_or_else(|| {
                    AgentError::Usage(
                        "no home directory: give the state directory with --state-dir or MIGRATE_AGENT_HOME".into(),
                    )
                })?,
        };
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state_file(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    pub fn log_file(&self) -> PathBuf {
        self.path.join(LOG_FILE)
    }

    /// The machine, if the directory has one. A file that cannot be read or understood is an
    /// error: it may hold a registration, so it is never silently replaced.
    pub fn load(&self) -> Result<Option<Machine>, AgentError> {
        let file = self.state_file();
        let text = match fs::read(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(AgentError::Failed(format!(
                    "cannot read {}: {e}",
                    file.display()
                )));
            }
        };
        let corrupt = |why: String| {
            AgentError::Failed(format!(
                "the machine state file {} is corrupt ({why}); fix it or move it away (it was left as it is)",
                file.display()
            ))
        };
        let machine: Machine = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        machine.check().map_err(corrupt)?;
        Ok(Some(machine))
    }

    /// Load the machine, or make a new one on first use. `kind` and `host_name` come from the
    /// command line: a host name renames the machine; a kind must match the machine's.
    pub fn open(
        &self,
        kind: Option<MachineKind>,
        host_name: Option<String>,
    ) -> Result<Machine, AgentError> {
        let Some(mut machine) = self.load()? else {
            let machine = Machine::new(kind, host_name);
            self.save(&machine)?;
            self.log(&format!(
                "created machine {} ({}, {}) in {}",
                machine.host_name,
                machine.platform,
                machine.machine_id,
                self.path.display()
            ));
            return Ok(machine);
        };
        if let Some(kind) = kind
            && (kind.os != machine.os_family || kind.platform != machine.platform)
        {
            return Err(AgentError::Usage(format!(
                "the machine in {} is a {} machine, not {}; use another --state-dir for another machine",
                self.path.display(),
                machine.platform,
                kind.platform
            )));
        }
        if let Some(name) = host_name
            && name != machine.host_name
        {
            self.log(&format!(
                "host name changed from {} to {name}",
                machine.host_name
            ));
            machine.host_name = name;
            self.save(&machine)?;
        }
        Ok(machine)
    }

    /// Write the machine atomically: a crash leaves the old file or the new one, never half of one.
    pub fn save(&self, machine: &Machine) -> Result<(), AgentError> {
        let json = serde_json::to_vec_pretty(machine)
            .map_err(|e| AgentError::Failed(format!("cannot encode the machine state: {e}")))?;
        write_atomically(&self.path, STATE_FILE, &json).map_err(|e| {
            AgentError::Failed(format!("cannot write {}: {e}", self.state_file().display()))
        })
    }

    /// Append a line to the agent's log. Best effort: a log that cannot be written must not fail
    /// the task it describes.
    pub fn log(&self, line: &str) {
        let write = || -> io::Result<()> {
            fs::create_dir_all(&self.path)?;
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_file())?;
            let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            writeln!(file, "{now} {line}")
        };
        let _ = write();
    }

    /// The last `n` lines of the log (none if there is no log yet).
    pub fn log_tail(&self, n: usize) -> Result<Vec<String>, AgentError> {
        match fs::read(self.log_file()) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                Ok(lines[lines.len().saturating_sub(n)..].to_vec())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(AgentError::Failed(format!(
                "cannot read {}: {e}",
                self.log_file().display()
            ))),
        }
    }
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // The rename is only durable once the directory entry is (Unix; Windows cannot open a
    // directory this way and does not need to).
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests;
