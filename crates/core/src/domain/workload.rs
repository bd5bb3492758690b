//! A workload's replication side (its contract, the operation running on it, its latest
//! replication), and what its status and warnings are made of.

use super::model::{Operation, Source, Transformation, Warning};
use super::replication::{self as rules, ContractFacts, OperationStatus};

/// A workload's replication side, as its status and warnings need it. `Default`: a workload
/// with no migration contract.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub transformation: Option<Transformation>,
    pub facts: Option<ContractFacts>,
    pub active: Option<Operation>,
    pub last_replication: Option<Operation>,
}

impl Workload {
    /// The Workloads page's Status column.
    pub fn status(&self) -> &'static str {
        rules::workload_status(
            self.facts,
            self.active.as_ref().and_then(|o| o.performed_as),
            self.last_replication
                .as_ref()
                .is_some_and(|o| o.status == OperationStatus::Failed),
        )
    }

    /// The workload's warnings (pending reboot, server-sync required) and those its last
    /// replication completed with (SPEC 3.3: the server-sync warning shows in the Status field).
    pub fn warnings(&self, source: &Source) -> Vec<Warning> {
        let mut warnings = source.warnings();
        if let Some(last) = &self.last_replication
            && last.status == OperationStatus::SucceededWithWarnings
        {
            for w in &last.warnings {
                if !warnings.iter().any(|have| have.code == w.code) {
                    warnings.push(w.clone());
                }
            }
        }
        warnings
    }
}
