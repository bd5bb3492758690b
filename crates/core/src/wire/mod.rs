//! The wire contract between the server and `migrate-agent`: the API's base paths, builders for
//! the paths the agent calls, and the bodies both exchange. The server serialises these types
//! and the agent deserialises the same ones, so a field renamed on one side breaks the other's
//! build. Field order is the JSON's order; the OpenAPI schemas (feature `openapi`) keep the names
//! the server's document has always used.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::model::{DriverPackage, PackageOrigin};
use crate::domain::platform::{ControllerService, Platform};
use crate::domain::version::DriverVersion;

/// The API's base path: the Migrate REST API version the emulator speaks.
pub const BASE: &str = "/MigrateApi/2019.8";
/// An older version's base, answered alike (links stay on the base a request came in on).
pub const BASE_ALIAS: &str = "/MigrateApi/2019.5";

/// Paths under a base ([`BASE`] or [`BASE_ALIAS`]), as the server links them and the agent
/// calls them.
pub mod path {
    use super::{Platform, Uuid};

    /// `sources`: the list, and where a source is added.
    pub fn sources(base: &str) -> String {
        format!("{base}/sources")
    }

    /// `sources?operation=Register`: an agent's registration.
    pub fn register(base: &str) -> String {
        format!("{base}/sources?operation=Register")
    }

    /// `sources/{id}`.
    pub fn source(base: &str, id: Uuid) -> String {
        format!("{base}/sources/{id}")
    }

    /// `sources/{id}/driverState`: the agent's driver-state report.
    pub fn driver_state(base: &str, id: Uuid) -> String {
        format!("{base}/sources/{id}/driverState")
    }

    /// `driverPackages/{id}`.
    pub fn package(base: &str, id: Uuid) -> String {
        format!("{base}/driverPackages/{id}")
    }

    /// `driverPackages/{id}/content`: a package's file.
    pub fn package_content(base: &str, id: Uuid) -> String {
        format!("{base}/driverPackages/{id}/content")
    }

    /// `driverPackages/latest?platform=...`: a platform's latest package.
    pub fn latest_package(base: &str, platform: Platform) -> String {
        format!("{base}/driverPackages/latest?platform={platform}")
    }
}

/// A link as the real API gives them: where, what it is, and which methods it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Link {
    #[cfg_attr(
        feature = "openapi",
        schema(examples("/MigrateApi/2019.8/sources/6f1c0c1e-0000-4000-8000-000000000000"))
    )]
    pub href: String,
    /// What the link is: `self`, a collection, `content`, `next`/`prev`, or `operation-<Name>` for
    /// an operation allowed now.
    #[cfg_attr(feature = "openapi", schema(examples("self")))]
    pub rel: String,
    // Borrowed on the server (the methods are constants there), owned when read.
    #[cfg_attr(feature = "openapi", schema(examples(json!(["GET", "DELETE"]))))]
    pub methods: Vec<Cow<'static, str>>,
}

impl Link {
    pub fn new(href: impl Into<String>, rel: impl Into<String>, methods: &[&'static str]) -> Self {
        Self {
            href: href.into(),
            rel: rel.into(),
            methods: methods.iter().map(|m| Cow::Borrowed(*m)).collect(),
        }
    }
}

/// Every error's body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable code for programs, e.g. `InvalidVersion`, `NotFound`, `OperationNotAllowed`.
    #[cfg_attr(feature = "openapi", schema(examples("NotFound")))]
    pub code: Cow<'static, str>,
    /// What went wrong, for people.
    #[cfg_attr(
        feature = "openapi",
        schema(examples("no source 6f1c0c1e-0000-4000-8000-000000000000"))
    )]
    pub message: String,
}

impl ErrorBody {
    /// `code` is a constant on the server: borrowed, not copied.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// A driver package: one file for one platform and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PackageView {
    pub id: Uuid,
    pub platform: Platform,
    pub version: DriverVersion,
    /// In bytes.
    pub size: u64,
    /// Of the file, in lower-case hex; also its `ETag`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
    pub origin: PackageOrigin,
    pub created_at: DateTime<Utc>,
    /// The highest version of its platform.
    pub is_latest: bool,
    /// `self`, and `content`: the file.
    pub links: Vec<Link>,
}

impl PackageView {
    /// The rel of the link to a package's file.
    pub const CONTENT: &str = "content";

    /// A package as the server shows it under `base`.
    pub fn new(base: &str, p: &DriverPackage, is_latest: bool) -> Self {
        Self {
            links: vec![
                Link::new(path::package(base, p.id), "self", &["GET"]),
                Link::new(
                    path::package_content(base, p.id),
                    Self::CONTENT,
                    &["GET", "HEAD"],
                ),
            ],
            id: p.id,
            platform: p.platform,
            version: p.version,
            size: p.size,
            sha256: p.sha256.clone(),
            origin: p.origin,
            created_at: p.created_at,
            is_latest,
        }
    }

    /// Where the package's file is: its `content` link, as the server gave it.
    pub fn content_href(&self) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.rel == Self::CONTENT)
            .map(|l| l.href.as_str())
    }
}

// Text, not typed, where the server validates: its errors name the field and echo what was sent.
/// A source to add, or an agent's machine to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Members it does not know are the server's to ignore or refuse (`--strict-bodies`).
#[serde(rename_all = "camelCase")]
pub struct SourceBody {
    /// 1 to 255 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(examples("web01"), schema_with = crate::domain::text::schema::name_255)
    )]
    pub host_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::domain::platform::OsFamily))]
    pub os_family: String,
    /// Defaults to the OS family's 64-bit platform.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Platform>))]
    pub platform: Option<String>,
    #[cfg_attr(feature = "openapi", schema(examples("10.0.0.21")))]
    pub ip_address: String,
    /// The agent's own id for its machine: required with `?operation=Register`, refused without.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(examples("4c4c4544-0042-3510-8052-b4c04f564d31"))
    )]
    pub machine_id: Option<String>,
}

// The source's fields, then `agentToken`. The server sends its whole source view as `S`; the
// agent reads `SourceId`. In the OpenAPI document under the server's name, `RegisteredView`.
/// A source, with the agent's token when it was a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RegisteredView))]
#[serde(rename_all = "camelCase")]
pub struct Registered<S> {
    #[serde(flatten)]
    pub source: S,
    /// Only on a registration (`?operation=Register`): the bearer token for this source's
    /// driver-state reports. Shown once: the server keeps only its hash.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub agent_token: String,
}

/// What the agent reads of a source: its id, the first field of the server's source view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceId {
    pub id: Uuid,
}

// Text, not typed, for the server's validation (as `SourceBody`); `DriverStateBody::new` types it.
/// A machine's driver state as its agent reports it; null (or left out) = no driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Members it does not know are the server's to ignore or refuse (`--strict-bodies`).
#[serde(rename_all = "camelCase")]
pub struct DriverStateBody {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DriverVersion>))]
    pub installed_version: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DriverVersion>))]
    pub running_version: Option<String>,
    /// Left out: unchanged.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ControllerService>))]
    pub controller_service: Option<String>,
}

impl DriverStateBody {
    /// The report of a machine's driver and controller service.
    pub fn new(
        installed: Option<DriverVersion>,
        running: Option<DriverVersion>,
        controller: ControllerService,
    ) -> Self {
        Self {
            installed_version: installed.map(|v| v.to_string()),
            running_version: running.map(|v| v.to_string()),
            controller_service: Some(controller.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests;
