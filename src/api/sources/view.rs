//! What the API answers about a source machine: its driver state, status and warnings.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::super::operations::OperationSummary;
use super::super::{ApiBase, Link};
use crate::db;
use crate::domain::model::{Source, Warning};
use crate::domain::platform::{ControllerService, OsFamily, Platform};
use crate::domain::version::DriverVersion;
use crate::domain::workload::Workload;
use crate::error::Result;
use crate::state::AppState;

/// The block-based transfer driver on the machine; null versions mean none.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct DriverView {
    installed_version: Option<DriverVersion>,
    running_version: Option<DriverVersion>,
    /// Installed differs from running on Windows: a reboot completes the change.
    reboot_pending: bool,
    /// The server's latest package for the machine's platform.
    latest_version: Option<DriverVersion>,
    /// The latest package is newer than the installed driver.
    upgrade_available: bool,
}

/// A source machine (a workload).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    id: uuid::Uuid,
    /// The agent's id for its machine, when an agent registered it.
    machine_id: Option<String>,
    host_name: String,
    os_family: OsFamily,
    platform: Platform,
    ip_address: String,
    #[schema(value_type = crate::domain::model::AddedBy)]
    added_by: &'static str,
    controller_service: ControllerService,
    driver: DriverView,
    /// The next replication must compare every block (a driver started where none ran).
    server_sync_required: bool,
    /// The workload's status as the pages show it, e.g. `Not Configured`, `Running First Replication`.
    #[schema(examples("Not Configured"))]
    status: &'static str,
    /// Pending reboot, server-sync required, and the warnings of the last replication.
    warnings: Vec<Warning>,
    transformation_id: Option<uuid::Uuid>,
    last_replication: Option<OperationSummary>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_report_at: Option<DateTime<Utc>>,
    links: Vec<Link>,
}

impl SourceView {
    pub fn new(
        base: &ApiBase,
        s: Source,
        latest: Option<DriverVersion>,
        workload: &Workload,
    ) -> Self {
        let href = format!("{}/sources/{}", base.0, s.id);
        let mut links = vec![
            Link::new(&href, "self", &["GET", "DELETE"]),
            Link::new(format!("{href}/driverState"), "driverState", &["PUT"]),
            Link::new(
                format!("{href}?operation=Reboot"),
                "operation-Reboot",
                &["POST"],
            ),
            Link::new(
                format!("{}/tasks?sourceId={}", base.0, s.id),
                "tasks",
                &["GET"],
            ),
            Link::new(
                format!("{}/events?sourceId={}", base.0, s.id),
                "events",
                &["GET"],
            ),
            Link::new(
                format!("{}/driverPackages/latest?platform={}", base.0, s.platform),
                "latestDriverPackage",
                &["GET"],
            ),
        ];
        if let Some(t) = &workload.transformation {
            links.push(Link::new(
                format!("{}/transformations/{}", base.0, t.id),
                "transformation",
                &["GET"],
            ));
        }
        Self {
            id: s.id,
            driver: DriverView {
                installed_version: s.driver.installed,
                running_version: s.driver.running,
                reboot_pending: s.reboot_pending(),
                latest_version: latest,
                upgrade_available: matches!((latest, s.driver.installed), (Some(l), Some(i)) if l > i),
            },
            server_sync_required: s.server_sync_required,
            status: workload.status(),
            warnings: workload.warnings(&s),
            transformation_id: workload.transformation.as_ref().map(|t| t.id),
            last_replication: workload
                .last_replication
                .clone()
                .map(|o| OperationSummary::new(base, o)),
            machine_id: s.machine_id,
            host_name: s.host_name,
            os_family: s.os_family,
            platform: s.platform,
            ip_address: s.ip_address,
            added_by: s.added_by.as_str(),
            controller_service: s.controller_service,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_report_at: s.last_report_at,
            links,
        }
    }
}

pub(super) async fn view(state: &AppState, base: &ApiBase, source: Source) -> Result<SourceView> {
    view_of(state, base, source, true).await
}

/// The source's view; `may_have_workload` false when the caller knows there is no
/// transformation, which saves the workload's read.
pub(super) async fn view_of(
    state: &AppState,
    base: &ApiBase,
    source: Source,
    may_have_workload: bool,
) -> Result<SourceView> {
    let latest = state
        .db
        .catalog()
        .await?
        .latest(source.platform)
        .map(|p| p.version);
    let workload = if may_have_workload {
        db::replications::workload(&mut state.db.reader().await?, source.id).await?
    } else {
        Workload::default()
    };
    Ok(SourceView::new(base, source, latest, &workload))
}
