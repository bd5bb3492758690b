//! What the API answers about driver packages and platforms (wire types).

use serde::Serialize;

use crate::api::Link;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;

/// A driver package: the wire contract's view, which the agent reads.
pub use migrate_core::wire::PackageView;

/// An OS platform driver packages are built for.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverPlatformView {
    pub(super) name: Platform,
    #[schema(examples("Windows (x64)"))]
    pub(super) display_name: &'static str,
    pub(super) os_family: crate::domain::platform::OsFamily,
    pub(super) latest_driver_version: Option<DriverVersion>,
    pub(super) links: Vec<Link>,
}
