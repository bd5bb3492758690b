//! The block-based transfer driver's state on a source machine (SPEC 3.2).
//!
//! Two views of the same rules live here:
//! - [`apply`]: what an action on the machine (install, upgrade, uninstall, reboot) does. The agent
//!   uses it to change its emulated machine.
//! - [`reconcile`]: what the server concludes when it learns a machine's new state from a report:
//!   the changes it saw, whether a reboot is pending, and whether a server-sync is now required.

use serde::{Deserialize, Serialize};

use super::platform::OsFamily;
use super::version::DriverVersion;

/// The installed and running driver versions of one machine. `None` = no driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverState {
    pub installed: Option<DriverVersion>,
    pub running: Option<DriverVersion>,
}

impl DriverState {
    pub const NONE: Self = Self {
        installed: None,
        running: None,
    };

    /// Installed differs from running: only a reboot makes the installed driver the one in use.
    pub fn reboot_pending(self) -> bool {
        self.installed != self.running
    }

    /// What the pending reboot would complete, for the reboot-notification task's wording.
    pub fn pending_change(self) -> Option<PendingChange> {
        match (self.installed, self.running) {
            (a, b) if a == b => None,
            (Some(_), None) => Some(PendingChange::Installation),
            (None, Some(_)) => Some(PendingChange::Removal),
            (Some(installed), Some(running)) if installed > running => Some(PendingChange::Upgrade),
            // An older driver installed over a newer running one (uninstall, install an older one).
            (Some(_), Some(_)) => Some(PendingChange::Installation),
            (None, None) => None,
        }
    }
}

/// An action on a source machine's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverAction {
    Install(DriverVersion),
    Upgrade(DriverVersion),
    Uninstall,
    Reboot,
}

/// Why an action is refused; the state stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedAction {
    #[error(
        "a driver is already installed (version {installed}); use driver-upgrade to install a newer one"
    )]
    AlreadyInstalled { installed: DriverVersion },
    #[error("no driver is installed; use driver-install first")]
    NothingToUpgrade,
    #[error("version {offered} is not newer than the installed version {installed}")]
    NotNewer {
        installed: DriverVersion,
        offered: DriverVersion,
    },
    #[error("no driver is installed; there is nothing to uninstall")]
    NothingToUninstall,
}

/// The state after an action, and whether the driver started tracking changes where none did
/// before (then the server needs one full or server-sync replication: SPEC 3.2, 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub state: DriverState,
    pub driver_started: bool,
}

/// The rules of SPEC 3.2's table. On Windows a change reaches the running driver only with a
/// reboot; on Linux it takes effect at once.
pub fn apply(
    os: OsFamily,
    state: DriverState,
    action: DriverAction,
) -> Result<Applied, RefusedAction> {
    let installed = match action {
        DriverAction::Install(v) => match state.installed {
            Some(installed) => return Err(RefusedAction::AlreadyInstalled { installed }),
            None => Some(v),
        },
        DriverAction::Upgrade(offered) => match state.installed {
            None => return Err(RefusedAction::NothingToUpgrade),
            Some(installed) if offered <= installed => {
                return Err(RefusedAction::NotNewer { installed, offered });
            }
            Some(_) => Some(offered),
        },
        DriverAction::Uninstall => match state.installed {
            None => return Err(RefusedAction::NothingToUninstall),
            Some(_) => None,
        },
        DriverAction::Reboot => state.installed,
    };
    let loads_now = matches!(action, DriverAction::Reboot) || os == OsFamily::Linux;
    let running = if loads_now { installed } else { state.running };
    let next = DriverState { installed, running };
    Ok(Applied {
        state: next,
        driver_started: state.running.is_none() && next.running.is_some(),
    })
}

/// One thing the server noticed between the state it knew and the state reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChange {
    Installed(DriverVersion),
    Upgraded {
        from: DriverVersion,
        to: DriverVersion,
    },
    /// Another version replaced the installed one without being newer (an uninstall and an
    /// install of an older driver that the server did not see in between).
    Replaced {
        from: DriverVersion,
        to: DriverVersion,
    },
    Uninstalled(DriverVersion),
    /// The running driver changed: on Windows only a reboot does that.
    RunningChanged {
        from: Option<DriverVersion>,
        to: Option<DriverVersion>,
    },
}

/// Why a reported state cannot be true of a machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpossibleReport {
    #[error(
        "a Linux machine loads its driver at once: installedVersion ({installed}) and runningVersion ({running}) must be the same"
    )]
    LinuxPending { installed: String, running: String },
}

/// What the server concludes from a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub changes: Vec<DriverChange>,
    /// A driver runs where none ran before: `serverSyncRequired` must be set.
    pub driver_started: bool,
    /// The reboot-notification task the machine needs now, if any.
    pub reboot_task: Option<PendingChange>,
}

/// Compare the state the server knew with the reported one.
pub fn reconcile(
    os: OsFamily,
    known: DriverState,
    reported: DriverState,
) -> Result<Reconciled, ImpossibleReport> {
    if os == OsFamily::Linux && reported.reboot_pending() {
        let show =
            |v: Option<DriverVersion>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        return Err(ImpossibleReport::LinuxPending {
            installed: show(reported.installed),
            running: show(reported.running),
        });
    }
    let mut changes = Vec::new();
    match (known.installed, reported.installed) {
        (None, Some(v)) => changes.push(DriverChange::Installed(v)),
        (Some(v), None) => changes.push(DriverChange::Uninstalled(v)),
        (Some(from), Some(to)) if to > from => changes.push(DriverChange::Upgraded { from, to }),
        (Some(from), Some(to)) if to < from => changes.push(DriverChange::Replaced { from, to }),
        _ => {}
    }
    if known.running != reported.running {
        changes.push(DriverChange::RunningChanged {
            from: known.running,
            to: reported.running,
        });
    }
    Ok(Reconciled {
        changes,
        driver_started: known.running.is_none() && reported.running.is_some(),
        reboot_task: match os {
            OsFamily::Windows => reported.pending_change(),
            OsFamily::Linux => None,
        },
    })
}

/// What a pending reboot would complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingChange {
    Installation,
    Upgrade,
    Removal,
}

impl PendingChange {
    pub const fn noun(self) -> &'static str {
        match self {
            Self::Installation => "installation",
            Self::Upgrade => "upgrade",
            Self::Removal => "removal",
        }
    }

    /// The reboot-notification task's message, worded as the product's Tasks list does.
    pub fn task_message(self, host: &str, state: DriverState) -> String {
        let show =
            |v: Option<DriverVersion>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        format!(
            "Reboot required to complete the driver {} on {host} (installed driver: {}, running driver: {}).",
            self.noun(),
            show(state.installed),
            show(state.running),
        )
    }
}

#[cfg(test)]
mod tests;

/// What to do with a machine's reboot-notification task after a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDecision {
    /// No task needed and none active, or the active one still says the right thing.
    Keep,
    Create(String),
    /// Reword the active task (a further change before the reboot): never a second task.
    Update(String),
    /// The reboot happened: running = installed.
    Resolve,
}

/// Decide about the reboot-notification task.
///
/// `needed` is the message the machine's state calls for, `active` the active task's message,
/// `state_changed` whether the report changed anything. A task the operator dismissed is not raised
/// again by repeated reports of the same state, only by a new change.
pub fn reboot_task_decision(
    needed: Option<String>,
    active: Option<&str>,
    state_changed: bool,
) -> TaskDecision {
    match (needed, active) {
        (None, None) => TaskDecision::Keep,
        (None, Some(_)) => TaskDecision::Resolve,
        (Some(msg), None) if state_changed => TaskDecision::Create(msg),
        (Some(_), None) => TaskDecision::Keep,
        (Some(msg), Some(current)) if msg != current => TaskDecision::Update(msg),
        (Some(_), Some(_)) => TaskDecision::Keep,
    }
}

#[cfg(test)]
mod task_tests;
