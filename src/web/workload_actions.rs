//! What a workload's page offers: the product's commands the contract allows now (buttons, or
//! links to a command's options page), and the next step each warning or failure asks for.

use super::dashboard::TaskItem;
use super::workloads::version;
use crate::domain::model::{Source, WarningCode};
use crate::domain::replication::{self as rules, ContractState, MigrationType, OperationType};
use crate::domain::workload::Workload;

/// A button: a link to a command's options page, or a form that posts `fields` to `post_to`.
pub struct Action {
    pub label: String,
    /// btn-primary, btn-secondary or btn-danger (irreversible: asks first).
    pub style: &'static str,
    pub link: Option<String>,
    pub post_to: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Action {
    fn link(label: &str, style: &'static str, href: String) -> Self {
        Self {
            label: label.to_owned(),
            style,
            link: Some(href),
            post_to: String::new(),
            fields: Vec::new(),
        }
    }

    /// A form posting `operation` to the workload's operations.
    pub fn operation(id: uuid::Uuid, label: &str, style: &'static str, operation: &str) -> Self {
        Self {
            label: label.to_owned(),
            style,
            link: None,
            post_to: format!("/migrate/workloads/{id}/operations"),
            fields: vec![("operation", operation.to_owned())],
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// Execute a Mark Test as Success / Failure task, and come back to the workload.
    fn task(id: uuid::Uuid, task: &TaskItem) -> Self {
        Self {
            label: task.kind.to_owned(),
            style: if task.kind_code == "MarkTestFailure" {
                "btn-secondary"
            } else {
                "btn-primary"
            },
            link: None,
            post_to: format!("/migrate/tasks/{}/execute", task.id),
            fields: vec![("back", format!("/migrate/workloads/{id}"))],
        }
    }
}

fn is_mark_task(t: &TaskItem) -> bool {
    matches!(t.kind_code, "MarkTestSuccess" | "MarkTestFailure")
}

/// The product's workload commands (platespin-product.md 3.3) that the contract allows now.
pub(super) fn actions(id: uuid::Uuid, w: &Workload, tasks: &[TaskItem]) -> Vec<Action> {
    let commands = |name: &str| format!("/migrate/workloads/{id}/commands/{name}");
    let mut out = Vec::new();
    let Some(facts) = w.facts else {
        out.push(Action::operation(
            id,
            "Configure Migration",
            "btn-primary",
            "Configure",
        ));
        out.push(Action::operation(
            id,
            "Remove Workload",
            "btn-danger",
            "Remove",
        ));
        return out;
    };
    for op in rules::allowed_operations(facts) {
        match op {
            OperationType::Prepare => {
                out.push(Action::operation(
                    id,
                    "Prepare Migration",
                    "btn-primary",
                    "Prepare",
                ));
            }
            OperationType::Migrate => out.push(Action::link(
                "Run Migration",
                "btn-primary",
                commands("run-migration"),
            )),
            OperationType::TestCutover => out.push(Action::link(
                "Test Cutover",
                "btn-primary",
                commands("test-cutover"),
            )),
            OperationType::EndTestCutover => {
                // The product ends a test cutover by marking it; the plain end stays for a
                // workload whose Mark tasks were dismissed.
                // Success first, as the product lists the pair.
                for kind in ["MarkTestSuccess", "MarkTestFailure"] {
                    for t in tasks.iter().filter(|t| t.kind_code == kind) {
                        out.push(Action::task(id, t));
                    }
                }
                if !tasks.iter().any(is_mark_task) {
                    out.push(Action::operation(
                        id,
                        "End Test Cutover",
                        "btn-secondary",
                        "EndTestCutover",
                    ));
                }
            }
            OperationType::Cutover => {
                out.push(Action::link(
                    "Run Cutover",
                    "btn-danger",
                    commands("cutover"),
                ));
            }
        }
    }
    if let Some(active) = &w.active {
        out.push(Action::operation(
            id,
            &format!("Abort {}", active.title().to_lowercase()),
            "btn-danger",
            "Abort",
        ));
    }
    out.push(Action::operation(
        id,
        "Remove Workload",
        "btn-danger",
        "Remove",
    ));
    out
}

/// What a warning or a failure asks of the operator, with the button that does it.
pub struct NextStep {
    pub text: String,
    /// The command line that does the same on the machine, if any.
    pub command: String,
    pub action: Option<Action>,
    /// A failure (red), not a warning.
    pub failure: bool,
}

pub(super) fn next_steps(s: &Source, w: &Workload, tasks: &[TaskItem]) -> Vec<NextStep> {
    let id = s.id;
    let host = &s.host_name;
    let mut out = Vec::new();
    if let Some(failed) = &w.last_failure {
        let title = failed.title();
        let error = failed.error.as_deref().unwrap_or("no reason was recorded");
        let again = rules::check_allowed(
            w.facts
                .unwrap_or(crate::domain::replication::ContractFacts {
                    state: ContractState::Configured,
                    running: None,
                    has_full_replication: false,
                }),
            failed.operation_type,
            failed.migration_type,
        )
        .is_ok();
        out.push(NextStep {
            text: format!("{title} failed: {error}"),
            command: String::new(),
            action: again.then(|| {
                let mut a = Action::operation(
                    id,
                    &format!("Run {} again", title.to_lowercase()),
                    "btn-primary",
                    failed.operation_type.as_str(),
                );
                if let Some(m) = failed.migration_type {
                    a = a.with("migrationType", m.as_str());
                }
                a
            }),
            failure: true,
        });
    }
    let full_done = w.facts.is_some_and(|f| f.has_full_replication);
    for warning in w.to_act_on(s) {
        match warning.code {
            WarningCode::RebootRequired => out.push(NextStep {
                text: format!(
                    "Reboot {host} to load driver {}{}",
                    version(s.driver.installed),
                    if full_done {
                        ", then run a server-sync replication: the blocks changed meanwhile were not tracked"
                    } else {
                        ""
                    }
                ),
                command: "migrate-agent reboot".to_owned(),
                action: Some(Action {
                    label: format!("Reboot {host} (emulated)"),
                    style: "btn-secondary",
                    link: None,
                    post_to: format!("/migrate/workloads/{id}/reboot"),
                    fields: Vec::new(),
                }),
                failure: false,
            }),
            WarningCode::ServerSyncRequired => {
                let allowed = w.facts.is_some_and(|f| {
                    rules::check_allowed(f, OperationType::Migrate, Some(MigrationType::ServerSync))
                        .is_ok()
                });
                out.push(NextStep {
                    text: format!(
                        "Run a server-sync replication of {host}: its driver started after the last replication, so the next one compares every block"
                    ),
                    command: String::new(),
                    action: allowed.then(|| {
                        Action::operation(
                            id,
                            "Run server-sync replication",
                            "btn-primary",
                            "Migrate",
                        )
                        .with("migrationType", MigrationType::ServerSync.as_str())
                    }),
                    failure: false,
                });
            }
            WarningCode::NoDriverPackage => out.push(NextStep {
                text: format!(
                    "Upload a driver package for {}: the server has none to install",
                    s.platform.display_name()
                ),
                command: "psserver package build".to_owned(),
                action: Some(Action::link(
                    "Driver packages",
                    "btn-secondary",
                    "/migrate/driver-packages".to_owned(),
                )),
                failure: false,
            }),
        }
    }
    if tasks.iter().any(is_mark_task) {
        out.push(NextStep {
            text: format!(
                "The test cutover of {host} is running: check the test workload, then mark the test as a success or a failure (either ends the test cutover)"
            ),
            command: String::new(),
            action: None,
            failure: false,
        });
    }
    out
}
