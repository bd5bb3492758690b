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
mod tests {
    use super::*;
    use DriverAction::*;
    use OsFamily::*;

    const V11: DriverVersion = DriverVersion::new(8, 0, 0, 11);
    const V12: DriverVersion = DriverVersion::new(8, 0, 0, 12);
    const V13: DriverVersion = DriverVersion::new(8, 0, 0, 13);

    fn st(installed: Option<DriverVersion>, running: Option<DriverVersion>) -> DriverState {
        DriverState { installed, running }
    }

    /// Every reachable state with versions drawn from {none, 11, 12}, paired with every action.
    fn all_states() -> Vec<DriverState> {
        let vs = [None, Some(V11), Some(V12)];
        vs.iter()
            .flat_map(|&i| vs.iter().map(move |&r| st(i, r)))
            .collect()
    }

    #[test]
    fn spec_table_on_windows() {
        // (state, action, expected state, driver started)
        let cases = [
            (st(None, None), Install(V11), st(Some(V11), None), false),
            (
                st(Some(V11), Some(V11)),
                Upgrade(V12),
                st(Some(V12), Some(V11)),
                false,
            ),
            (
                st(Some(V11), Some(V11)),
                Uninstall,
                st(None, Some(V11)),
                false,
            ),
            (st(Some(V11), None), Reboot, st(Some(V11), Some(V11)), true),
            (
                st(Some(V12), Some(V11)),
                Reboot,
                st(Some(V12), Some(V12)),
                false,
            ),
            (st(None, Some(V11)), Reboot, st(None, None), false),
            (st(None, None), Reboot, st(None, None), false),
            // install after an uninstall that was not yet completed by a reboot
            (
                st(None, Some(V11)),
                Install(V12),
                st(Some(V12), Some(V11)),
                false,
            ),
            // upgrade twice before rebooting
            (
                st(Some(V12), Some(V11)),
                Upgrade(V13),
                st(Some(V13), Some(V11)),
                false,
            ),
            // upgrade of an install that has not been loaded yet
            (
                st(Some(V11), None),
                Upgrade(V12),
                st(Some(V12), None),
                false,
            ),
        ];
        for (state, action, expected, started) in cases {
            let got = apply(Windows, state, action).unwrap();
            assert_eq!(got.state, expected, "{state:?} {action:?}");
            assert_eq!(got.driver_started, started, "{state:?} {action:?}");
        }
    }

    #[test]
    fn spec_table_on_linux() {
        let cases = [
            (st(None, None), Install(V11), st(Some(V11), Some(V11)), true),
            (
                st(Some(V11), Some(V11)),
                Upgrade(V12),
                st(Some(V12), Some(V12)),
                false,
            ),
            (st(Some(V11), Some(V11)), Uninstall, st(None, None), false),
            (
                st(Some(V11), Some(V11)),
                Reboot,
                st(Some(V11), Some(V11)),
                false,
            ),
        ];
        for (state, action, expected, started) in cases {
            let got = apply(Linux, state, action).unwrap();
            assert_eq!(got.state, expected, "{state:?} {action:?}");
            assert_eq!(got.driver_started, started, "{state:?} {action:?}");
        }
    }

    #[test]
    fn every_refused_transition_says_why_on_both_systems() {
        for os in [Windows, Linux] {
            for state in all_states() {
                for action in [
                    Install(V11),
                    Install(V13),
                    Upgrade(V11),
                    Upgrade(V12),
                    Upgrade(V13),
                    Uninstall,
                    Reboot,
                ] {
                    let result = apply(os, state, action);
                    let expected_refusal = match (action, state.installed) {
                        (Install(_), Some(installed)) => {
                            Some(RefusedAction::AlreadyInstalled { installed })
                        }
                        (Upgrade(_), None) => Some(RefusedAction::NothingToUpgrade),
                        (Upgrade(offered), Some(installed)) if offered <= installed => {
                            Some(RefusedAction::NotNewer { installed, offered })
                        }
                        (Uninstall, None) => Some(RefusedAction::NothingToUninstall),
                        _ => None,
                    };
                    match expected_refusal {
                        Some(refusal) => {
                            assert_eq!(result, Err(refusal), "{os:?} {state:?} {action:?}")
                        }
                        None => {
                            let applied = result.unwrap();
                            // installed follows the action; running follows installed only on a
                            // reboot or on Linux
                            let loads = action == Reboot || os == Linux;
                            if loads {
                                assert_eq!(applied.state.running, applied.state.installed);
                                assert!(!applied.state.reboot_pending());
                            } else {
                                assert_eq!(applied.state.running, state.running);
                            }
                            assert_eq!(
                                applied.driver_started,
                                state.running.is_none() && applied.state.running.is_some()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refusal_messages_are_clear() {
        let err = apply(Windows, st(Some(V12), Some(V12)), Upgrade(V12)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "version 8.0.0.12 is not newer than the installed version 8.0.0.12"
        );
        let err = apply(Windows, st(None, None), Uninstall).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no driver is installed; there is nothing to uninstall"
        );
    }

    #[test]
    fn pending_change_names_what_the_reboot_completes() {
        assert_eq!(
            st(Some(V11), None).pending_change(),
            Some(PendingChange::Installation)
        );
        assert_eq!(
            st(Some(V12), Some(V11)).pending_change(),
            Some(PendingChange::Upgrade)
        );
        assert_eq!(
            st(None, Some(V11)).pending_change(),
            Some(PendingChange::Removal)
        );
        assert_eq!(
            st(Some(V11), Some(V12)).pending_change(),
            Some(PendingChange::Installation)
        );
        assert_eq!(st(Some(V11), Some(V11)).pending_change(), None);
        assert_eq!(st(None, None).pending_change(), None);
        let msg = PendingChange::Installation.task_message("WIN-SRC01", st(Some(V11), None));
        assert_eq!(
            msg,
            "Reboot required to complete the driver installation on WIN-SRC01 (installed driver: 8.0.0.11, running driver: none)."
        );
    }

    #[test]
    fn reconcile_sees_the_seed_story() {
        // install without reboot: a reboot task for the installation
        let r = reconcile(Windows, st(None, None), st(Some(V11), None)).unwrap();
        assert_eq!(r.changes, vec![DriverChange::Installed(V11)]);
        assert_eq!(r.reboot_task, Some(PendingChange::Installation));
        assert!(!r.driver_started);
        // the reboot: the task goes, a server-sync is required
        let r = reconcile(Windows, st(Some(V11), None), st(Some(V11), Some(V11))).unwrap();
        assert_eq!(
            r.changes,
            vec![DriverChange::RunningChanged {
                from: None,
                to: Some(V11)
            }]
        );
        assert_eq!(r.reboot_task, None);
        assert!(r.driver_started);
        // an upgrade, then its reboot: no server-sync, the old driver kept tracking
        let r = reconcile(Windows, st(Some(V11), Some(V11)), st(Some(V12), Some(V11))).unwrap();
        assert_eq!(
            r.changes,
            vec![DriverChange::Upgraded { from: V11, to: V12 }]
        );
        assert_eq!(r.reboot_task, Some(PendingChange::Upgrade));
        let r = reconcile(Windows, st(Some(V12), Some(V11)), st(Some(V12), Some(V12))).unwrap();
        assert!(!r.driver_started);
        assert_eq!(r.reboot_task, None);
    }

    #[test]
    fn reconcile_of_an_unchanged_state_changes_nothing() {
        for state in all_states() {
            let r = reconcile(Windows, state, state).unwrap();
            assert!(r.changes.is_empty());
            assert!(!r.driver_started);
            assert_eq!(r.reboot_task.is_some(), state.reboot_pending());
        }
    }

    #[test]
    fn reconcile_on_linux_never_asks_for_a_reboot_and_refuses_pending_states() {
        let r = reconcile(Linux, st(None, None), st(Some(V11), Some(V11))).unwrap();
        assert_eq!(r.reboot_task, None);
        assert!(r.driver_started);
        for state in all_states().into_iter().filter(|s| s.reboot_pending()) {
            let err = reconcile(Linux, DriverState::NONE, state).unwrap_err();
            assert!(err.to_string().contains("must be the same"), "{err}");
        }
    }

    #[test]
    fn reconcile_agrees_with_apply() {
        // Whatever an action does, the server reaches the same conclusion from the report.
        for os in [Windows, Linux] {
            for state in all_states()
                .into_iter()
                .filter(|s| os == Windows || !s.reboot_pending())
            {
                for action in [Install(V12), Upgrade(V13), Uninstall, Reboot] {
                    if let Ok(applied) = apply(os, state, action) {
                        let r = reconcile(os, state, applied.state).unwrap();
                        assert_eq!(
                            r.driver_started, applied.driver_started,
                            "{os:?} {state:?} {action:?}"
                        );
                        assert_eq!(
                            r.reboot_task.is_some(),
                            os == Windows && applied.state.reboot_pending()
                        );
                    }
                }
            }
        }
    }
}

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
mod task_tests {
    use super::*;

    #[test]
    fn task_decisions() {
        let m = || Some("reboot".to_owned());
        let cases = [
            (None, None, false, TaskDecision::Keep),
            (None, None, true, TaskDecision::Keep),
            (None, Some("old"), true, TaskDecision::Resolve),
            (None, Some("old"), false, TaskDecision::Resolve),
            (m(), None, true, TaskDecision::Create("reboot".into())),
            (m(), None, false, TaskDecision::Keep),
            (
                m(),
                Some("old"),
                true,
                TaskDecision::Update("reboot".into()),
            ),
            (
                m(),
                Some("old"),
                false,
                TaskDecision::Update("reboot".into()),
            ),
            (m(), Some("reboot"), true, TaskDecision::Keep),
            (m(), Some("reboot"), false, TaskDecision::Keep),
        ];
        for (needed, active, changed, expected) in cases {
            assert_eq!(
                reboot_task_decision(needed.clone(), active, changed),
                expected,
                "{needed:?} {active:?} {changed}"
            );
        }
    }
}
