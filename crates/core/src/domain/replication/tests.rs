use super::*;
use crate::domain::model::WarningCode;
use ContractState::*;
use OperationType::*;

const V11: DriverVersion = DriverVersion::new(8, 0, 0, 11);
const V12: DriverVersion = DriverVersion::new(8, 0, 0, 12);

fn facts(state: ContractState, running: Option<OperationType>, full: bool) -> ContractFacts {
    ContractFacts {
        state,
        running,
        has_full_replication: full,
    }
}

fn st(installed: Option<DriverVersion>, running: Option<DriverVersion>) -> DriverState {
    DriverState { installed, running }
}

#[test]
fn allowed_operations_per_state() {
    let cases = [
        (facts(Configured, None, false), vec![Prepare]),
        (facts(Prepared, None, false), vec![Migrate]),
        (
            facts(Prepared, None, true),
            vec![Migrate, TestCutover, Cutover],
        ),
        (
            facts(UnderTest, None, true),
            vec![Migrate, EndTestCutover, Cutover],
        ),
        (facts(CutOver, None, true), vec![]),
        (facts(Prepared, Some(Migrate), true), vec![]),
        (facts(Configured, Some(Prepare), false), vec![]),
    ];
    for (f, expected) in cases {
        assert_eq!(allowed_operations(f), expected, "{f:?}");
    }
}

#[test]
fn refusals_say_why() {
    let f = facts(Prepared, None, false);
    assert_eq!(
        check_allowed(f, Migrate, Some(MigrationType::Incremental)),
        Err(NotAllowed::FirstMustBeFull)
    );
    assert_eq!(
        check_allowed(f, Migrate, Some(MigrationType::ServerSync)),
        Err(NotAllowed::FirstMustBeFull)
    );
    assert!(check_allowed(f, Migrate, Some(MigrationType::Full)).is_ok());
    assert_eq!(
        check_allowed(f, TestCutover, None).unwrap_err().to_string(),
        "TestCutover is not allowed while the transformation is Prepared and has never been replicated; run a full replication first"
    );
    let running = facts(Prepared, Some(Migrate), true);
    for op in OperationType::ALL {
        assert_eq!(
            check_allowed(running, op, Some(MigrationType::Full)),
            Err(NotAllowed::AlreadyRunning(Migrate))
        );
    }
    assert_eq!(
        check_allowed(running, Prepare, None)
            .unwrap_err()
            .to_string(),
        "a Migrate operation is already running on this transformation; wait for it or abort it"
    );
    assert!(
        check_allowed(facts(Configured, None, false), Migrate, None)
            .unwrap_err()
            .to_string()
            .contains("run Prepare first")
    );
    assert!(
        check_allowed(facts(CutOver, None, true), Migrate, None)
            .unwrap_err()
            .to_string()
            .contains("cut over")
    );
    assert!(
        check_allowed(facts(Prepared, None, true), EndTestCutover, None)
            .unwrap_err()
            .to_string()
            .contains("no test cutover")
    );
}

#[test]
fn every_state_and_operation_has_an_answer() {
    // Exhaustive: every combination either is allowed or says why, and the links agree.
    for state in [Configured, Prepared, UnderTest, CutOver] {
        for full in [false, true] {
            for running in [None, Some(Migrate)] {
                let f = facts(state, running, full);
                let allowed = allowed_operations(f);
                for op in OperationType::ALL {
                    let result = check_allowed(f, op, Some(MigrationType::Full));
                    assert_eq!(result.is_ok(), allowed.contains(&op), "{f:?} {op}");
                    if let Err(e) = result {
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
        }
    }
}

#[test]
fn default_type_is_full_first_then_incremental() {
    assert_eq!(
        default_migration_type(facts(Prepared, None, false)),
        MigrationType::Full
    );
    assert_eq!(
        default_migration_type(facts(Prepared, None, true)),
        MigrationType::Incremental
    );
}

#[test]
fn replication_uses_the_running_driver_only() {
    // installed, not loaded: as if no driver, with the reboot warning
    let p = plan_replication(MigrationType::Full, st(Some(V11), None), true, false);
    assert_eq!(p.driver_version_used, None);
    assert_eq!(p.transfer_method, TransferMethod::BlockBasedWithoutDriver);
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].code, WarningCode::RebootRequired);
    // upgraded, not rebooted: the old driver
    let p = plan_replication(
        MigrationType::Incremental,
        st(Some(V12), Some(V11)),
        true,
        false,
    );
    assert_eq!(p.driver_version_used, Some(V11));
    assert_eq!(p.transfer_method, TransferMethod::BlockBasedWithDriver);
    assert_eq!(p.performed_as, MigrationType::Incremental);
    assert!(p.warnings[0].message.contains("upgrade"));
    // Linux never reports a reboot warning
    let p = plan_replication(MigrationType::Full, st(Some(V11), Some(V11)), false, false);
    assert!(p.warnings.is_empty());
}

#[test]
fn the_server_sync_rule() {
    let running = st(Some(V11), Some(V11));
    // a full replication clears it silently
    let p = plan_replication(MigrationType::Full, running, false, true);
    assert_eq!(p.performed_as, MigrationType::Full);
    assert!(p.warnings.is_empty());
    assert!(p.clears_server_sync);
    // an incremental one is carried out as a server-sync, with the warning, and clears it
    let p = plan_replication(MigrationType::Incremental, running, false, true);
    assert_eq!(p.performed_as, MigrationType::ServerSync);
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].code, WarningCode::ServerSyncRequired);
    assert!(p.clears_server_sync);
    // later incrementals are clean
    let p = plan_replication(MigrationType::Incremental, running, false, false);
    assert_eq!(p.performed_as, MigrationType::Incremental);
    assert!(p.warnings.is_empty());
    assert!(!p.clears_server_sync);
    // an explicit server-sync clears it without the warning
    let p = plan_replication(MigrationType::ServerSync, running, false, true);
    assert!(p.warnings.is_empty());
    assert!(p.clears_server_sync);
    // both warnings at once
    let p = plan_replication(
        MigrationType::Incremental,
        st(Some(V12), Some(V11)),
        true,
        true,
    );
    let codes: Vec<_> = p.warnings.iter().map(|w| w.code).collect();
    assert_eq!(
        codes,
        vec![WarningCode::RebootRequired, WarningCode::ServerSyncRequired]
    );
}

#[test]
fn workload_status_vocabulary() {
    use MigrationType::*;
    let cases = [
        (None, None, None, "Not Configured"),
        (
            Some(facts(Configured, None, false)),
            None,
            None,
            "Migration Configured",
        ),
        (
            Some(facts(Configured, Some(Prepare), false)),
            None,
            None,
            "Preparing Migration",
        ),
        (
            Some(facts(Prepared, None, false)),
            None,
            None,
            "Ready for Replication",
        ),
        (
            Some(facts(Prepared, Some(Migrate), false)),
            Some(Full),
            None,
            "Running First Replication",
        ),
        (
            Some(facts(Prepared, Some(Migrate), true)),
            Some(Full),
            None,
            "Running Full Replication",
        ),
        (
            Some(facts(Prepared, Some(Migrate), true)),
            Some(Incremental),
            None,
            "Running Incremental Replication",
        ),
        (
            Some(facts(Prepared, Some(Migrate), true)),
            Some(ServerSync),
            None,
            "Running Server-sync",
        ),
        (Some(facts(Prepared, None, true)), None, None, "Idle"),
        (
            Some(facts(Prepared, None, true)),
            None,
            Some(Migrate),
            "Replication Failed",
        ),
        (
            Some(facts(Configured, None, false)),
            None,
            Some(Prepare),
            "Prepare Failed",
        ),
        (
            Some(facts(Prepared, None, true)),
            None,
            Some(TestCutover),
            "Test Cutover Failed",
        ),
        (
            Some(facts(Prepared, None, true)),
            None,
            Some(Cutover),
            "Cutover Failed",
        ),
        (
            Some(facts(UnderTest, None, true)),
            None,
            Some(EndTestCutover),
            "End Test Cutover Failed",
        ),
        (
            // A failure is news until something else runs: a later success clears it.
            Some(facts(Prepared, Some(Migrate), true)),
            Some(Incremental),
            Some(Migrate),
            "Running Incremental Replication",
        ),
        (
            Some(facts(Prepared, Some(TestCutover), true)),
            None,
            None,
            "Running Test Cutover",
        ),
        (
            Some(facts(UnderTest, None, true)),
            None,
            None,
            "Test Cutover",
        ),
        (
            Some(facts(UnderTest, Some(EndTestCutover), true)),
            None,
            None,
            "Ending Test Cutover",
        ),
        (
            Some(facts(Prepared, Some(Cutover), true)),
            None,
            None,
            "Running Cutover",
        ),
        (
            Some(facts(CutOver, None, true)),
            None,
            None,
            "Cutover Completed",
        ),
    ];
    for (f, running_as, failed, expected) in cases {
        assert_eq!(
            is_failed_status(expected),
            failed.is_some() && f.is_some_and(|f| f.running.is_none()),
            "{expected}"
        );
        assert_eq!(
            workload_status(f, running_as, failed),
            expected,
            "{f:?} {running_as:?}"
        );
    }
}

#[test]
fn states_after_success() {
    assert_eq!(state_after(Prepare, Configured), Prepared);
    assert_eq!(state_after(Migrate, UnderTest), UnderTest);
    assert_eq!(state_after(TestCutover, Prepared), UnderTest);
    assert_eq!(state_after(EndTestCutover, UnderTest), Prepared);
    assert_eq!(state_after(Cutover, UnderTest), CutOver);
}

fn names(work: Work) -> Vec<&'static str> {
    steps(work).into_iter().map(StepKind::name).collect()
}

const ALL_MIGRATIONS: [MigrationType; 3] = [
    MigrationType::Full,
    MigrationType::Incremental,
    MigrationType::ServerSync,
];

fn every_flags() -> impl Iterator<Item = (Option<bool>, Option<bool>, Option<bool>)> {
    let values = [None, Some(false), Some(true)];
    values.into_iter().flat_map(move |a| {
        values
            .into_iter()
            .flat_map(move |b| values.into_iter().map(move |c| (a, b, c)))
    })
}

#[test]
fn replication_steps() {
    assert_eq!(
        names(Work::Migrate(MigrationType::Full)),
        ["TakingSnapshot", "TransferringData", "CleaningUp"]
    );
    assert_eq!(
        names(Work::Migrate(MigrationType::Incremental)),
        names(Work::Migrate(MigrationType::Full))
    );
    assert_eq!(
        names(Work::Migrate(MigrationType::ServerSync)),
        [
            "TakingSnapshot",
            "ComparingBlocksByChecksum",
            "TransferringDifferences",
            "CleaningUp"
        ]
    );
    assert_eq!(
        names(Work::EndTestCutover),
        ["ShuttingDownTestWorkload", "RevertingTarget"]
    );
}

#[test]
fn prepare_steps_follow_the_plan() {
    for install_controller in [false, true] {
        for install_driver in [false, true] {
            let plan = PreparePlan {
                install_controller,
                install_driver,
            };
            let mut expected = vec!["ValidatingTransformation"];
            expected.push(if install_controller {
                "InstallingController"
            } else {
                "CheckingController"
            });
            if install_driver {
                expected.push("InstallingBlockBasedDriver");
            }
            expected.push("PreparingTargetWorkload");
            assert_eq!(names(Work::Prepare(plan)), expected, "{plan:?}");
            // Exactly one step meets the controller, before the driver is installed.
            let kinds = steps(Work::Prepare(plan));
            assert_eq!(kinds.iter().filter(|k| k.is_controller()).count(), 1);
            assert!(kinds[1].is_controller());
        }
    }
}

#[test]
fn cutover_defaults_are_the_web_interfaces() {
    // platespin-product.md 3.3: Run Cutover: Shutdown Source and Perform Incremental Replication
    // on by default; Test Cutover: its two options off.
    assert_eq!(
        CutoverFlags::resolve(Cutover, None, None, None),
        CutoverFlags {
            shutdown_source: true,
            shutdown_target: false,
            perform_incremental: true
        }
    );
    assert_eq!(
        CutoverFlags::resolve(TestCutover, None, None, None),
        CutoverFlags::default()
    );
    for op in [Prepare, Migrate, EndTestCutover] {
        assert_eq!(
            CutoverFlags::resolve(op, Some(true), Some(true), Some(true)),
            CutoverFlags::default()
        );
    }
}

#[test]
fn cutover_steps_follow_every_combination_of_options() {
    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-8/migrate-api/api-ex-execute-transformation.html
    // documents shutdownSource, shutdownTarget and performIncremental on Cutover.
    for (source, target, incremental) in every_flags() {
        let flags = CutoverFlags::resolve(Cutover, source, target, incremental);
        assert_eq!(flags.shutdown_source, source.unwrap_or(true));
        assert_eq!(flags.shutdown_target, target.unwrap_or(false));
        assert_eq!(flags.perform_incremental, incremental.unwrap_or(true));
        let requested = replication_requested(Cutover, flags, None, MigrationType::Full);
        assert_eq!(
            requested,
            flags
                .perform_incremental
                .then_some(MigrationType::Incremental)
        );
        for performed in [requested, requested.map(|_| MigrationType::ServerSync)] {
            let got = names(Work::new(Cutover, flags, performed, PreparePlan::default()));
            let mut expected = Vec::new();
            match performed {
                Some(MigrationType::ServerSync) => expected.push("RunningServerSync"),
                Some(_) => expected.push("RunningIncrementalReplication"),
                None => {}
            }
            if flags.shutdown_source {
                expected.push("ShuttingDownSourceWorkload");
            }
            expected.push("StartingTargetWorkload");
            if flags.shutdown_target {
                expected.push("ShuttingDownTargetWorkload");
            }
            assert_eq!(got, expected, "{flags:?} {performed:?}");
            // shutdownSource false: nothing shuts the source down.
            assert_eq!(
                got.contains(&"ShuttingDownSourceWorkload"),
                source != Some(false)
            );
        }
    }
}

#[test]
fn test_cutover_steps_follow_every_combination_of_options() {
    for (source, target, incremental) in every_flags() {
        let flags = CutoverFlags::resolve(TestCutover, source, target, incremental);
        assert!(
            !flags.shutdown_source,
            "a test cutover never shuts the source down"
        );
        assert_eq!(flags.shutdown_target, target.unwrap_or(false));
        assert_eq!(flags.perform_incremental, incremental.unwrap_or(false));
        let requested = replication_requested(TestCutover, flags, None, MigrationType::Full);
        for performed in [requested, requested.map(|_| MigrationType::ServerSync)] {
            let got = names(Work::new(
                TestCutover,
                flags,
                performed,
                PreparePlan::default(),
            ));
            let mut expected = Vec::new();
            match performed {
                Some(MigrationType::ServerSync) => expected.push("RunningServerSync"),
                Some(_) => expected.push("RunningIncrementalReplication"),
                None => {}
            }
            expected.extend(["PreparingTestWorkload", "StartingTestWorkload"]);
            if flags.shutdown_target {
                expected.push("ShuttingDownTargetWorkload");
            }
            assert_eq!(got, expected, "{flags:?} {performed:?}");
            assert!(!got.contains(&"ShuttingDownSourceWorkload"));
        }
    }
}

#[test]
fn which_replication_an_operation_carries_out() {
    let on = CutoverFlags {
        perform_incremental: true,
        ..CutoverFlags::default()
    };
    for default in ALL_MIGRATIONS {
        assert_eq!(
            replication_requested(Migrate, on, None, default),
            Some(default)
        );
        for asked in ALL_MIGRATIONS {
            assert_eq!(
                replication_requested(Migrate, CutoverFlags::default(), Some(asked), default),
                Some(asked)
            );
            // Prepare's migrationType (the documented Prepare body) carries out nothing.
            assert_eq!(
                replication_requested(Prepare, on, Some(asked), default),
                None
            );
        }
    }
    assert_eq!(
        replication_requested(EndTestCutover, on, None, MigrationType::Full),
        None
    );
}

#[test]
fn every_operation_has_steps_with_names_and_text() {
    for op in OperationType::ALL {
        for (source, target, incremental) in every_flags() {
            let flags = CutoverFlags::resolve(op, source, target, incremental);
            for performed in [
                None,
                Some(MigrationType::Full),
                Some(MigrationType::ServerSync),
            ] {
                for install_controller in [false, true] {
                    let plan = PreparePlan {
                        install_controller,
                        install_driver: !install_controller,
                    };
                    let work = Work::new(op, flags, performed, plan);
                    assert_eq!(work.operation_type(), op);
                    let kinds = steps(work);
                    assert!(!kinds.is_empty(), "{work:?}");
                    let mut seen = std::collections::HashSet::new();
                    assert!(
                        kinds.iter().all(|k| seen.insert(*k)),
                        "a step twice: {work:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn step_names_are_product_style_identifiers() {
    let mut seen = std::collections::HashSet::new();
    for kind in StepKind::ALL {
        let name = kind.name();
        assert!(seen.insert(name), "{name} twice");
        assert!(name.starts_with(|c: char| c.is_ascii_uppercase()), "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        assert_eq!(name.parse::<StepKind>(), Ok(kind));
        assert_eq!(kind.to_string(), name);
        assert!(!kind.display_name().is_empty());
        assert_ne!(kind.display_name(), name);
    }
    assert!("Transferring data".parse::<StepKind>().is_err());
}

#[test]
fn names_round_trip() {
    for op in OperationType::ALL {
        assert_eq!(op.as_str().parse::<OperationType>(), Ok(op));
    }
    assert_eq!("migrate".parse::<OperationType>(), Ok(Migrate));
    for m in [
        MigrationType::Full,
        MigrationType::Incremental,
        MigrationType::ServerSync,
    ] {
        assert_eq!(m.as_str().parse::<MigrationType>(), Ok(m));
    }
    assert!("Full".parse::<MigrationType>().is_err());
    for s in [Configured, Prepared, UnderTest, CutOver] {
        assert_eq!(s.as_str().parse::<ContractState>(), Ok(s));
    }
}
