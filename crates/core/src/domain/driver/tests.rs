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
