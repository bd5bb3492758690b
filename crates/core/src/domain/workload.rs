//! A workload's replication side (its contract, the operation running on it, its latest
//! replication), and what its status and warnings are made of.

use super::model::{Operation, Source, Transformation, Warning, WarningCode};
use super::replication::{self as rules, ContractFacts, OperationStatus};

/// A workload's replication side, as its status and warnings need it. `Default`: a workload
/// with no migration contract.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub transformation: Option<Transformation>,
    pub facts: Option<ContractFacts>,
    pub active: Option<Operation>,
    pub last_replication: Option<Operation>,
    /// The contract's latest operation, when it failed: its error is the workload's news.
    pub last_failure: Option<Operation>,
}

impl Workload {
    /// The Workloads page's Status column.
    pub fn status(&self) -> &'static str {
        rules::workload_status(
            self.facts,
            self.active.as_ref().and_then(|o| o.performed_as),
            self.last_failure.as_ref().map(|o| o.operation_type),
        )
    }

    /// Whether the Status reports a failure.
    pub fn failed(&self) -> bool {
        rules::is_failed_status(self.status())
    }

    /// The workload's warnings (pending reboot, server-sync required) and those its last
    /// replication completed with (SPEC 3.3: the server-sync warning shows in the Status field).
    /// A reboot warning is the machine's state now, never the last replication's: that one
    /// stays on the replication, and a reboot since has made it untrue.
    pub fn warnings(&self, source: &Source) -> Vec<Warning> {
        let mut warnings = source.warnings();
        if let Some(last) = &self.last_replication
            && last.status == OperationStatus::SucceededWithWarnings
        {
            for w in &last.warnings {
                if w.code != WarningCode::RebootRequired
                    && !warnings.iter().any(|have| have.code == w.code)
                {
                    warnings.push(w.clone());
                }
            }
        }
        warnings
    }

    /// The warnings the operator pages show: those that ask something of the operator now.
    /// "Server-sync required" asks for a server-sync replication, which only means something
    /// once a full replication has completed: before, the next replication is full anyway. (The
    /// API keeps answering the flag, as the machine carries it: SPEC 3.3.)
    pub fn to_act_on(&self, source: &Source) -> Vec<Warning> {
        let mut warnings = self.warnings(source);
        if !self.facts.is_some_and(|f| f.has_full_replication) {
            warnings.retain(|w| w.code != WarningCode::ServerSyncRequired);
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::domain::driver::{self, DriverAction, DriverState};
    use crate::domain::model::AddedBy;
    use crate::domain::platform::{ControllerService, OsFamily, Platform};
    use crate::domain::replication::{MigrationType, OperationType, plan_replication};
    use crate::domain::version::DriverVersion;

    #[derive(Debug, Clone)]
    enum Action {
        Driver(DriverAction),
        Replicate(MigrationType),
    }

    fn action() -> impl Strategy<Value = Action> {
        let version = (10u16..14).prop_map(|n| DriverVersion::new(8, 0, 0, n));
        prop_oneof![
            version
                .clone()
                .prop_map(|v| Action::Driver(DriverAction::Install(v))),
            version.prop_map(|v| Action::Driver(DriverAction::Upgrade(v))),
            Just(Action::Driver(DriverAction::Uninstall)),
            Just(Action::Driver(DriverAction::Reboot)),
            prop_oneof![
                Just(MigrationType::Full),
                Just(MigrationType::Incremental),
                Just(MigrationType::ServerSync),
            ]
            .prop_map(Action::Replicate),
        ]
    }

    fn source(os_family: OsFamily) -> Source {
        Source {
            id: Uuid::nil(),
            machine_id: None,
            host_name: "WIN-SRC01".into(),
            os_family,
            platform: Platform::default_for(os_family),
            ip_address: "10.0.0.5".into(),
            added_by: AddedBy::Agent,
            controller_service: ControllerService::Running,
            driver: DriverState::default(),
            server_sync_required: false,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            last_report_at: None,
        }
    }

    /// A replication as it completes: with the warnings its plan gave it.
    fn replication(source: &Source, requested: MigrationType) -> Operation {
        let plan = plan_replication(
            requested,
            source.driver,
            source.reboot_pending(),
            source.server_sync_required,
        );
        Operation {
            id: Uuid::nil(),
            transformation_id: Uuid::nil(),
            source_id: source.id,
            operation_type: OperationType::Migrate,
            migration_type: Some(requested),
            performed_as: Some(plan.performed_as),
            status: if plan.warnings.is_empty() {
                OperationStatus::Succeeded
            } else {
                OperationStatus::SucceededWithWarnings
            },
            progress: 100,
            steps: Vec::new(),
            driver_version_used: plan.driver_version_used,
            transfer_method: None,
            warnings: plan.warnings,
            clears_server_sync: plan.clears_server_sync,
            options: serde_json::Value::Null,
            error: None,
            created_at: DateTime::UNIX_EPOCH,
            started_at: None,
            completed_at: None,
            started_by: None,
        }
    }

    proptest! {
        /// The seed's story in any order: whatever was installed, upgraded, uninstalled and
        /// replicated, once the machine has rebooted no reboot warning is left on the workload
        /// (the Workloads page's badges are these warnings).
        #[test]
        fn no_reboot_warning_outlives_a_reboot(
            windows in any::<bool>(),
            actions in proptest::collection::vec(action(), 0..12),
        ) {
            let os = if windows { OsFamily::Windows } else { OsFamily::Linux };
            let mut machine = source(os);
            let mut workload = Workload::default();
            for action in actions.iter().cloned().chain([Action::Driver(DriverAction::Reboot)]) {
                match action {
                    Action::Driver(action) => {
                        if let Ok(applied) = driver::apply(os, machine.driver, action) {
                            machine.driver = applied.state;
                            machine.server_sync_required |= applied.driver_started;
                        }
                    }
                    Action::Replicate(requested) => {
                        let done = replication(&machine, requested);
                        if done.clears_server_sync {
                            machine.server_sync_required = false;
                        }
                        workload.last_replication = Some(done);
                    }
                }
            }
            let warnings = workload.warnings(&machine);
            prop_assert!(
                warnings.iter().all(|w| w.code != WarningCode::RebootRequired),
                "after {actions:?}: {warnings:?}"
            );
        }
    }

    /// The sequence: an upgrade, a replication while the reboot is pending (it warns),
    /// then the reboot.
    #[test]
    fn the_replications_reboot_warning_goes_with_the_reboot() {
        let mut machine = source(OsFamily::Windows);
        let v11 = DriverVersion::new(8, 0, 0, 11);
        machine.driver = DriverState {
            installed: Some(v11),
            running: Some(v11),
        };
        let upgrade = DriverAction::Upgrade(DriverVersion::new(8, 0, 0, 12));
        machine.driver = driver::apply(OsFamily::Windows, machine.driver, upgrade)
            .unwrap()
            .state;
        let done = replication(&machine, MigrationType::Incremental);
        assert!(
            done.warnings
                .iter()
                .any(|w| w.code == WarningCode::RebootRequired)
        );
        let workload = Workload {
            last_replication: Some(done),
            ..Workload::default()
        };
        assert!(
            workload
                .warnings(&machine)
                .iter()
                .any(|w| w.code == WarningCode::RebootRequired)
        );
        machine.driver = driver::apply(OsFamily::Windows, machine.driver, DriverAction::Reboot)
            .unwrap()
            .state;
        assert_eq!(workload.warnings(&machine), Vec::new());
    }

    /// "Server-sync required" asks for a server-sync replication, which only means something
    /// once a full one has completed; before, the flag stays on the machine but not in view.
    #[test]
    fn server_sync_shows_only_after_a_full_replication() {
        use crate::domain::replication::{ContractFacts, ContractState};
        let mut machine = source(OsFamily::Windows);
        machine.server_sync_required = true;
        let shown = |w: &Workload| {
            assert!(
                w.warnings(&machine)
                    .iter()
                    .any(|w| w.code == WarningCode::ServerSyncRequired),
                "the API's warnings keep the flag"
            );
            w.to_act_on(&machine)
                .iter()
                .any(|w| w.code == WarningCode::ServerSyncRequired)
        };
        let facts = |state, has_full_replication| ContractFacts {
            state,
            running: None,
            has_full_replication,
        };
        assert!(!shown(&Workload::default()), "not configured");
        for (state, full, expected) in [
            (ContractState::Configured, false, false),
            (ContractState::Prepared, false, false),
            (ContractState::Prepared, true, true),
            (ContractState::UnderTest, true, true),
        ] {
            let w = Workload {
                facts: Some(facts(state, full)),
                ..Workload::default()
            };
            assert_eq!(shown(&w), expected, "{state:?} full={full}");
        }
    }
}
