//! What the API answers about driver packages and platforms (wire types).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::{ApiBase, Link};
use crate::domain::model::DriverPackage;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;

/// A driver package: one file for one platform and version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageView {
    id: uuid::Uuid,
    platform: Platform,
    version: DriverVersion,
    /// In bytes.
    size: u64,
    /// Of the file, in lower-case hex; also its `ETag`.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: String,
    #[schema(value_type = crate::domain::model::PackageOrigin)]
    origin: &'static str,
    created_at: DateTime<Utc>,
    /// The highest version of its platform.
    is_latest: bool,
    /// `self`, and `content`: the file.
    links: Vec<Link>,
}

impl PackageView {
    pub(super) fn new(base: ApiBase, p: &DriverPackage, is_latest: bool) -> Self {
        let href = format!("{}/driverPackages/{}", base.0, p.id);
        Self {
            links: vec![
                Link::new(&href, "self", &["GET"]),
                Link::new(format!("{href}/content"), "content", &["GET", "HEAD"]),
            ],
            id: p.id,
            platform: p.platform,
            version: p.version,
            size: p.size,
            sha256: p.sha256.clone(),
            origin: p.origin.as_str(),
            created_at: p.created_at,
            is_latest,
        }
    }
}

/// A platform driver packages are built for.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformView {
    pub(super) name: Platform,
    #[schema(examples("Windows (x64)"))]
    pub(super) display_name: &'static str,
    pub(super) os_family: crate::domain::platform::OsFamily,
    pub(super) latest_driver_version: Option<DriverVersion>,
    pub(super) links: Vec<Link>,
}
