use chrono::DateTime;
use uuid::Uuid;

use super::*;
use crate::domain::driver::DriverState;
use crate::domain::model::AddedBy;
use crate::domain::platform::{ControllerService, Platform};
use crate::domain::settings::{StorageLayout, defaults};

const V11: DriverVersion = DriverVersion::new(8, 0, 0, 11);
const V12: DriverVersion = DriverVersion::new(8, 0, 0, 12);

fn source(os_family: OsFamily) -> Source {
    Source {
        id: Uuid::nil(),
        machine_id: None,
        host_name: "WIN-SRC01".into(),
        os_family,
        platform: Platform::default_for(os_family),
        ip_address: "10.0.0.5".into(),
        added_by: AddedBy::Api,
        controller_service: ControllerService::Running,
        driver: DriverState::default(),
        server_sync_required: false,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
        last_report_at: None,
    }
}

fn contract(state: ContractState) -> ContractFacts {
    ContractFacts {
        state,
        running: None,
        has_full_replication: false,
    }
}

fn codes(results: &[ValidationResult]) -> Vec<(Severity, ValidationCode)> {
    results.iter().map(|r| (r.severity, r.code)).collect()
}

#[test]
fn results_derive_from_the_workload() {
    use Severity::*;
    use ValidationCode::*;
    let windows = source(OsFamily::Windows);
    let schedule = defaults(&windows, StorageLayout::SameAsSource).schedule;
    let scheduled = Schedule {
        full_replication_start: Some(DateTime::UNIX_EPOCH),
        ..schedule.clone()
    };
    let mut offline = windows.clone();
    offline.controller_service = ControllerService::Installed;
    let mut pending = windows.clone();
    pending.driver = DriverState {
        installed: Some(V12),
        running: Some(V11),
    };
    let mut synced = windows.clone();
    synced.driver = DriverState {
        installed: Some(V11),
        running: Some(V11),
    };
    synced.server_sync_required = true;
    let linux = source(OsFamily::Linux);
    let base = Facts {
        source: &windows,
        contract: contract(ContractState::Configured),
        has_platform: true,
        latest_driver: Some(V12),
        schedule: &schedule,
    };
    let cases = [
        // A fresh workload: Prepare installs the driver.
        (base, vec![(Warning, DriverWillBeInstalled)], true),
        (
            Facts {
                has_platform: false,
                ..base
            },
            vec![
                (Warning, NoTargetPlatform),
                (Warning, DriverWillBeInstalled),
            ],
            true,
        ),
        (
            Facts {
                latest_driver: None,
                ..base
            },
            vec![(Warning, NoDriverPackage)],
            true,
        ),
        // Offline: an error, most severe first, and Prepare may not run.
        (
            Facts {
                source: &offline,
                schedule: &scheduled,
                ..base
            },
            vec![
                (Error, ControllerNotRunning),
                (Warning, DriverWillBeInstalled),
                (Information, ScheduleWaitsForPrepare),
            ],
            false,
        ),
        (
            Facts {
                source: &pending,
                ..base
            },
            vec![(Warning, RebootRequired)],
            true,
        ),
        // Prepared: nothing left to install, Prepare done.
        (
            Facts {
                source: &synced,
                contract: contract(ContractState::Prepared),
                schedule: &scheduled,
                ..base
            },
            vec![(Warning, ServerSyncRequired)],
            false,
        ),
        (
            Facts {
                source: &linux,
                contract: contract(ContractState::CutOver),
                has_platform: false,
                ..base
            },
            vec![],
            false,
        ),
        // Prepare running: not again.
        (
            Facts {
                contract: ContractFacts {
                    running: Some(OperationType::Prepare),
                    ..contract(ContractState::Configured)
                },
                ..base
            },
            vec![(Warning, DriverWillBeInstalled)],
            false,
        ),
    ];
    for (i, (facts, expected, can_prepare)) in cases.into_iter().enumerate() {
        let (results, may) = validate(facts);
        assert_eq!(codes(&results), expected, "case {i}: {results:?}");
        assert_eq!(may, can_prepare, "case {i}");
    }
}

#[test]
fn messages_say_what_prepare_does() {
    let windows = source(OsFamily::Windows);
    let linux = source(OsFamily::Linux);
    let schedule = defaults(&windows, StorageLayout::SameAsSource).schedule;
    let message = |s: &Source| {
        let (results, _) = validate(Facts {
            source: s,
            contract: contract(ContractState::Configured),
            has_platform: true,
            latest_driver: Some(V12),
            schedule: &schedule,
        });
        results[0].message.clone()
    };
    assert_eq!(
        message(&windows),
        "WIN-SRC01 has no block-based driver: Prepare installs the server's latest for windows-x64 (8.0.0.12); Windows loads it after the next reboot"
    );
    assert_eq!(
        message(&linux),
        "WIN-SRC01 has no block-based driver: Prepare installs the server's latest for linux-x64 (8.0.0.12)"
    );
}
