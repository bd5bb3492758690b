use chrono::DateTime;
use uuid::Uuid;

use super::*;
use crate::domain::replication::{PreparePlan, StepKind};

const V11: DriverVersion = DriverVersion::new(8, 0, 0, 11);

fn source(added_by: AddedBy, controller: ControllerService, installed: bool) -> Source {
    let at = DateTime::UNIX_EPOCH;
    Source {
        id: Uuid::nil(),
        machine_id: None,
        host_name: "WIN-SRC01".to_owned(),
        os_family: OsFamily::Windows,
        platform: Platform::WindowsX64,
        ip_address: "10.0.0.5".to_owned(),
        added_by,
        controller_service: controller,
        driver: DriverState {
            installed: installed.then_some(V11),
            running: installed.then_some(V11),
        },
        server_sync_required: false,
        created_at: at,
        updated_at: at,
        last_report_at: None,
    }
}

const CONTROLLERS: [ControllerService; 3] = [
    ControllerService::NotInstalled,
    ControllerService::Installed,
    ControllerService::Running,
];

#[test]
fn online_and_offline_for_every_source() {
    use AddedBy::*;
    use ControllerService::*;
    let cases = [
        // The server pushes its controller to a discovered source that has none.
        (Api, NotInstalled, None),
        (Api, Installed, Some(Offline::ControllerStopped)),
        (Api, Running, None),
        // Only the agent installs the controller on a registered source.
        (Agent, NotInstalled, Some(Offline::AgentControllerMissing)),
        (Agent, Installed, Some(Offline::ControllerStopped)),
        (Agent, Running, None),
    ];
    for (by, controller, expected) in cases {
        for installed in [false, true] {
            let s = source(by, controller, installed);
            assert_eq!(s.offline(), expected, "{by:?} {controller:?}");
        }
    }
}

#[test]
fn offline_messages_name_the_workload_and_what_to_do() {
    let stopped = Offline::ControllerStopped.message("WIN-SRC01", "Prepare");
    assert!(stopped.starts_with("WIN-SRC01 is offline"), "{stopped}");
    assert!(
        stopped.contains("Start the controller service"),
        "{stopped}"
    );
    assert!(stopped.ends_with("run Prepare again."), "{stopped}");
    let missing = Offline::AgentControllerMissing.message("db01", "the replication");
    assert!(missing.starts_with("db01 is offline"), "{missing}");
    assert!(missing.ends_with("run the replication again."), "{missing}");
    assert!(missing.contains("Migrate Agent"), "{missing}");
    assert!(missing.contains("register"), "{missing}");
}

#[test]
fn prepare_plans_for_every_source() {
    for by in [AddedBy::Api, AddedBy::Agent] {
        for controller in CONTROLLERS {
            for installed in [false, true] {
                for package in [false, true] {
                    let s = source(by, controller, installed);
                    let plan = s.prepare_plan(package);
                    let discovered = by == AddedBy::Api;
                    assert_eq!(
                        plan,
                        PreparePlan {
                            install_controller: discovered
                                && controller == ControllerService::NotInstalled,
                            install_driver: discovered && !installed && package,
                        },
                        "{by:?} {controller:?} installed={installed} package={package}"
                    );
                    assert_eq!(s.needs_driver_from_server(), discovered && !installed);
                    // Whoever installs the controller, the source is online for it.
                    if plan.install_controller {
                        assert_eq!(s.offline(), None);
                    }
                }
            }
        }
    }
}

#[test]
fn no_package_warning_names_the_platform() {
    let w =
        source(AddedBy::Api, ControllerService::NotInstalled, false).no_driver_package_warning();
    assert_eq!(w.code, WarningCode::NoDriverPackage);
    assert!(w.message.contains("windows-x64"), "{}", w.message);
    assert!(w.message.contains("WIN-SRC01"), "{}", w.message);
}

#[test]
fn steps_keep_their_name_and_text() {
    let step = Step::queued(StepKind::TransferringData);
    assert_eq!(step.name, "TransferringData");
    assert_eq!(step.label(), "Transferring data");
    assert_eq!(step.kind(), Some(StepKind::TransferringData));
    let json = serde_json::to_value(&step).unwrap();
    assert_eq!(json["displayName"], "Transferring data");
    assert_eq!(json["subOperations"], serde_json::json!([]));
    // A step stored before names and texts were apart reads back, its text as its label.
    let old: Step = serde_json::from_value(serde_json::json!({
        "name": "Transferring data", "status": "succeeded", "progress": 100,
        "startedAt": null, "completedAt": null
    }))
    .unwrap();
    assert_eq!(old.label(), "Transferring data");
    assert_eq!(old.kind(), None);
    assert!(old.sub_operations.is_empty());
}
