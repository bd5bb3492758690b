//! When the next scheduled replication runs, and what the Workloads page's Schedule column says.
//!
//! The product's Web Interface: the schedule is `Active` once the workload is prepared until the
//! end of its cycle (the cutover), `Paused` after Pause Schedule; a scheduled first full
//! replication is retried daily at its time until it has run; the default schedule is None.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Schedule, ScheduleState};
use crate::domain::replication::{ContractFacts, ContractState};

/// The first of `start`, `start + period`, `start + 2 period`, ... that is not before `now`
/// (`None` past the end of time).
pub fn first_at_or_after(
    start: DateTime<Utc>,
    period: TimeDelta,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if start >= now {
        return Some(start);
    }
    let step = period.num_seconds().max(1);
    let behind = (now - start).num_seconds();
    // Whole periods to skip, rounded up (a start at exactly `now - k periods` is `now`).
    let periods = behind / step + i64::from(behind % step != 0);
    let mut at = start.checked_add_signed(TimeDelta::try_seconds(periods.checked_mul(step)?)?)?;
    // Sub-second parts of `now` can leave `at` just before it.
    if at < now {
        at = at.checked_add_signed(period)?;
    }
    Some(at)
}

impl Schedule {
    /// Whether scheduled replications can run now: the workload is prepared, not cut over, and
    /// the schedule is not paused.
    fn runs(&self, contract: ContractFacts) -> bool {
        self.state == ScheduleState::Active
            && matches!(
                contract.state,
                ContractState::Prepared | ContractState::UnderTest
            )
    }

    /// When the next scheduled replication starts: the first full replication at its start
    /// (retried daily), then the incremental recurrence. `None` when nothing is scheduled, the
    /// schedule is paused, or the workload is not prepared or is cut over.
    pub fn next_replication(
        &self,
        contract: ContractFacts,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if !self.runs(contract) {
            return None;
        }
        if !contract.has_full_replication {
            return first_at_or_after(self.full_replication_start?, TimeDelta::days(1), now);
        }
        let period = self.incremental_recurrence.period()?;
        first_at_or_after(self.incremental_start?, period, now)
    }

    /// The Workloads page's Schedule column for a workload with a contract: `Active` or `Paused`
    /// from its preparation to its cutover, `None` before and after.
    pub fn column(&self, contract: ContractFacts) -> &'static str {
        match contract.state {
            ContractState::Prepared | ContractState::UnderTest => match self.state {
                ScheduleState::Active => "Active",
                ScheduleState::Paused => "Paused",
            },
            ContractState::Configured | ContractState::CutOver => "None",
        }
    }
}
