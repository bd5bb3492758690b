//! Target platforms (SPEC 9): what a transformation migrates to, such as an Azure location. Not
//! the driver packages' OS platforms (`super::platform`).
//!
//! Adding one (`POST platforms`) names its kind with `type` and is checked here member by member;
//! the platform is then discovered by a `PreDiscovery` operation, whose nested sub-operations are
//! planned and rolled up here too.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::replication::OperationStatus;

/// A kind of target platform. Only Azure is documented for the API so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformType {
    AzureCloud,
}

impl PlatformType {
    pub const ALL: [Self; 1] = [Self::AzureCloud];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AzureCloud => "AzureCloud",
        }
    }

    /// The `type` of the request that adds one: `AddPlatformAzureCloud`.
    pub const fn add_type(self) -> &'static str {
        match self {
            Self::AzureCloud => "AddPlatformAzureCloud",
        }
    }

    /// The request types a client may send, for messages: "AddPlatformAzureCloud".
    pub fn supported_add_types() -> String {
        Self::ALL.map(Self::add_type).join(", ")
    }
}

impl FromStr for PlatformType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown platform type {s:?}"))
    }
}

impl fmt::Display for PlatformType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Azure clouds (Azure's environment names), as `azureCloudName` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AzureCloudName {
    AzureCloud,
    AzureChinaCloud,
    #[serde(rename = "AzureUSGovernment")]
    #[cfg_attr(feature = "openapi", schema(rename = "AzureUSGovernment"))]
    AzureUsGovernment,
    AzureGermanCloud,
}

impl AzureCloudName {
    pub const ALL: [Self; 4] = [
        Self::AzureCloud,
        Self::AzureChinaCloud,
        Self::AzureUsGovernment,
        Self::AzureGermanCloud,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AzureCloud => "AzureCloud",
            Self::AzureChinaCloud => "AzureChinaCloud",
            Self::AzureUsGovernment => "AzureUSGovernment",
            Self::AzureGermanCloud => "AzureGermanCloud",
        }
    }
}

impl FromStr for AzureCloudName {
    type Err = String;
    /// Any case: Azure's own tools read these names without regard to case.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "{:?} is not an Azure cloud; expected {}",
                    shorten(s),
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

impl fmt::Display for AzureCloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a platform stands: discovered once its PreDiscovery operation succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformState {
    Discovering,
    Discovered,
    DiscoveryFailed,
}

impl PlatformState {
    pub const ALL: [Self; 3] = [Self::Discovering, Self::Discovered, Self::DiscoveryFailed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Discovering => "Discovering",
            Self::Discovered => "Discovered",
            Self::DiscoveryFailed => "DiscoveryFailed",
        }
    }

    /// The state a discovery that ended with `status` leaves (still discovering while it runs).
    pub const fn after_discovery(status: OperationStatus) -> Self {
        match status {
            OperationStatus::Queued | OperationStatus::Running => Self::Discovering,
            OperationStatus::Succeeded | OperationStatus::SucceededWithWarnings => Self::Discovered,
            OperationStatus::Failed | OperationStatus::Aborted => Self::DiscoveryFailed,
        }
    }
}

impl FromStr for PlatformState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown platform state {s:?}"))
    }
}

/// A checked request to add a platform. The password is checked and then dropped: the emulator
/// connects to nothing, so it keeps nothing of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlatform {
    pub platform_type: PlatformType,
    pub username: String,
    pub azure_cloud_name: AzureCloudName,
    /// Azure's short region name, lower case without spaces (`centralus`).
    pub location_name: String,
    pub subscription_id: String,
    pub application_id: String,
}

/// A target platform the server knows.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlatform {
    pub id: Uuid,
    pub platform_type: PlatformType,
    pub username: String,
    pub azure_cloud_name: AzureCloudName,
    pub location_name: String,
    pub subscription_id: String,
    pub application_id: String,
    pub state: PlatformState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TargetPlatform {
    /// "Azure centralus".
    pub fn display_name(&self) -> String {
        display_name(self.platform_type, &self.location_name)
    }
}

impl NewPlatform {
    pub fn display_name(&self) -> String {
        display_name(self.platform_type, &self.location_name)
    }
}

fn display_name(platform_type: PlatformType, location: &str) -> String {
    match platform_type {
        PlatformType::AzureCloud => format!("Azure {location}"),
    }
}

/// The members of `POST platforms` as the client sent them, of any JSON type (`null` counts as
/// left out), so that [`AddPlatformRequest::check`] can say which one is wrong and how.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddPlatformRequest {
    #[serde(rename = "type")]
    pub platform_type: Option<Value>,
    pub username: Option<Value>,
    pub password: Option<Value>,
    pub azure_cloud_name: Option<Value>,
    pub location_name: Option<Value>,
    pub subscription_id: Option<Value>,
    pub application_id: Option<Value>,
}

impl fmt::Debug for AddPlatformRequest {
    /// Without the password, which must not reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddPlatformRequest")
            .field("platform_type", &self.platform_type)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("azure_cloud_name", &self.azure_cloud_name)
            .field("location_name", &self.location_name)
            .field("subscription_id", &self.subscription_id)
            .field("application_id", &self.application_id)
            .finish()
    }
}

/// Why an add-platform request is refused; each names the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPlatform {
    #[error(
        "type: is required; supported: {}",
        PlatformType::supported_add_types()
    )]
    MissingType,
    #[error("type: unknown platform type {given:?}; supported: {supported}", supported = PlatformType::supported_add_types())]
    UnknownType { given: String },
    #[error("{field}: is required")]
    Missing { field: &'static str },
    #[error("{field}: must be a string, not {found}")]
    NotAString {
        field: &'static str,
        found: &'static str,
    },
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
}

impl InvalidPlatform {
    /// The member at fault, as the client spells it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::MissingType | Self::UnknownType { .. } => "type",
            Self::Missing { field }
            | Self::NotAString { field, .. }
            | Self::Invalid { field, .. } => field,
        }
    }
}

/// The most characters a member may have: more than any real value, little enough to store.
pub const MAX_TEXT: usize = 256;
/// Subscription and application ids are GUIDs in Azure; the documented example sends prose
/// ("Subscription id goes here"), so any short text is taken.
pub const MAX_ID: usize = 128;

impl AddPlatformRequest {
    /// Check every member the request's `type` needs, in the documented order; the first one
    /// at fault is the error.
    pub fn check(&self) -> Result<NewPlatform, InvalidPlatform> {
        let platform_type = match &self.platform_type {
            None => return Err(InvalidPlatform::MissingType),
            Some(Value::String(t)) => PlatformType::ALL
                .into_iter()
                .find(|p| p.add_type().eq_ignore_ascii_case(t.trim()))
                .ok_or_else(|| InvalidPlatform::UnknownType { given: shorten(t) })?,
            Some(other) => {
                return Err(InvalidPlatform::NotAString {
                    field: "type",
                    found: json_type(other),
                });
            }
        };
        match platform_type {
            PlatformType::AzureCloud => self.check_azure(),
        }
    }

    fn check_azure(&self) -> Result<NewPlatform, InvalidPlatform> {
        let username = text("username", self.username.as_ref(), MAX_TEXT)?;
        // Checked like the others, then dropped.
        let password = string("password", self.password.as_ref())?;
        if password.is_empty() || password.chars().count() > MAX_TEXT {
            return Err(InvalidPlatform::Invalid {
                field: "password",
                why: format!("must be 1 to {MAX_TEXT} characters"),
            });
        }
        let cloud = text("azureCloudName", self.azure_cloud_name.as_ref(), MAX_TEXT)?;
        let azure_cloud_name = cloud.parse().map_err(|why| InvalidPlatform::Invalid {
            field: "azureCloudName",
            why,
        })?;
        let location = text("locationName", self.location_name.as_ref(), MAX_TEXT)?;
        let location_name = region_name(&location).ok_or_else(|| InvalidPlatform::Invalid {
            field: "locationName",
            why: format!(
                "{:?} is not an Azure region name such as centralus or westeurope",
                shorten(&location)
            ),
        })?;
        Ok(NewPlatform {
            platform_type: PlatformType::AzureCloud,
            username,
            azure_cloud_name,
            location_name,
            subscription_id: text("subscriptionId", self.subscription_id.as_ref(), MAX_ID)?,
            application_id: text("applicationId", self.application_id.as_ref(), MAX_ID)?,
        })
    }
}

/// A member that must be a JSON string.
fn string<'a>(field: &'static str, value: Option<&'a Value>) -> Result<&'a str, InvalidPlatform> {
    match value {
        None => Err(InvalidPlatform::Missing { field }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(InvalidPlatform::NotAString {
            field,
            found: json_type(other),
        }),
    }
}

/// A member that must be a string of 1 to `max` characters, without control characters;
/// answered trimmed.
fn text(field: &'static str, value: Option<&Value>, max: usize) -> Result<String, InvalidPlatform> {
    let s = string(field, value)?;
    super::text::check_name(s, max)
        .map(str::to_owned)
        .map_err(|why| InvalidPlatform::Invalid { field, why })
}

/// Azure's short name of a region (`centralus`, `germanywestcentral`, `eastus2`): letters first,
/// then letters and digits. Its display name (`Central US`) is taken too and answered short, as
/// Azure's own tools do.
fn region_name(text: &str) -> Option<String> {
    let short: String = text
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok = (2..=64).contains(&short.len())
        && short.starts_with(|c: char| c.is_ascii_lowercase())
        && short
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    ok.then_some(short)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Keep echoed client input short.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// The kinds of operation run on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformOperationType {
    /// The discovery of a new platform's resources.
    PreDiscovery,
}

impl PlatformOperationType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PreDiscovery => "PreDiscovery",
        }
    }
}

impl FromStr for PlatformOperationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "PreDiscovery" => Ok(Self::PreDiscovery),
            other => Err(format!("unknown platform operation type {other:?}")),
        }
    }
}

/// An operation on a platform and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformOperation {
    pub id: Uuid,
    pub platform_id: Uuid,
    pub operation_type: PlatformOperationType,
    pub status: OperationStatus,
    pub progress: u8,
    pub sub_operations: Vec<SubOperation>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// One part of an operation, with its own parts: the product nests them (`subOperations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SubOperation {
    pub name: String,
    pub status: OperationStatus,
    /// Percent; a part with parts has their average.
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub progress: u8,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub sub_operations: Vec<SubOperation>,
}

impl SubOperation {
    fn new(name: &str, parts: Vec<SubOperation>) -> Self {
        Self {
            name: name.to_owned(),
            status: OperationStatus::Queued,
            progress: 0,
            sub_operations: parts,
        }
    }
}

/// The parts of a discovery, as the product names them: the target's discovery, made of the
/// cloud's region and then (the emulator's own names, in the same style) its networks and its
/// storage.
pub const DISCOVERING_WORKLOAD_TARGET: &str = "DiscoveringWorkloadTarget";
pub const CLOUD_DISCOVERY_STEPS: [&str; 3] = [
    "Operations.Cloud.DiscoverRegion",
    "Operations.Cloud.DiscoverNetworks",
    "Operations.Cloud.DiscoverStorage",
];

/// A new PreDiscovery operation's sub-operations, all queued.
pub fn pre_discovery_plan(platform_type: PlatformType) -> Vec<SubOperation> {
    let steps = match platform_type {
        PlatformType::AzureCloud => &CLOUD_DISCOVERY_STEPS,
    };
    let leaves = steps.iter().map(|s| SubOperation::new(s, Vec::new()));
    vec![SubOperation::new(
        DISCOVERING_WORKLOAD_TARGET,
        leaves.collect(),
    )]
}

/// How many leaves (parts without parts) a tree has: the steps a runner takes, in order.
pub fn leaf_count(tree: &[SubOperation]) -> usize {
    tree.iter()
        .map(|s| {
            if s.sub_operations.is_empty() {
                1
            } else {
                leaf_count(&s.sub_operations)
            }
        })
        .sum()
}

/// Set the `index`-th leaf (in order) to `status` and `progress`, and roll the change up to the
/// parts above it. Answers false when there is no such leaf.
pub fn set_leaf(
    tree: &mut [SubOperation],
    index: usize,
    status: OperationStatus,
    progress: u8,
) -> bool {
    let mut seen = 0;
    let found = visit_leaf(tree, index, &mut seen, &mut |leaf| {
        leaf.status = status;
        leaf.progress = progress.min(100);
    });
    roll_up(tree);
    found
}

fn visit_leaf(
    tree: &mut [SubOperation],
    index: usize,
    seen: &mut usize,
    change: &mut impl FnMut(&mut SubOperation),
) -> bool {
    for node in tree {
        if node.sub_operations.is_empty() {
            if *seen == index {
                change(node);
                return true;
            }
            *seen += 1;
        } else if visit_leaf(&mut node.sub_operations, index, seen, change) {
            return true;
        }
    }
    false
}

/// Every part with parts gets their average progress and their combined status.
fn roll_up(tree: &mut [SubOperation]) {
    for node in tree {
        if node.sub_operations.is_empty() {
            continue;
        }
        roll_up(&mut node.sub_operations);
        let parts = &node.sub_operations;
        let sum: usize = parts.iter().map(|p| usize::from(p.progress)).sum();
        node.progress = u8::try_from(sum / parts.len()).unwrap_or(100);
        node.status = combined(parts.iter().map(|p| p.status));
    }
}

/// The status of a part from its parts': the first failure or abort, done when all are done,
/// queued while none started, running in between.
fn combined(statuses: impl Iterator<Item = OperationStatus> + Clone) -> OperationStatus {
    use OperationStatus::{Aborted, Failed, Queued, Running, Succeeded, SucceededWithWarnings};
    if let Some(bad) = statuses.clone().find(|s| matches!(s, Failed | Aborted)) {
        return bad;
    }
    let mut all = statuses.clone();
    if all.all(|s| s.succeeded()) {
        return if statuses.clone().any(|s| s == SucceededWithWarnings) {
            SucceededWithWarnings
        } else {
            Succeeded
        };
    }
    if statuses.clone().all(|s| s == Queued) {
        return Queued;
    }
    Running
}

/// The operation's overall progress: the average of its top-level parts.
pub fn overall_progress(tree: &[SubOperation]) -> u8 {
    if tree.is_empty() {
        return 0;
    }
    let sum: usize = tree.iter().map(|p| usize::from(p.progress)).sum();
    u8::try_from(sum / tree.len()).unwrap_or(100)
}

/// End every part not yet ended with `status` (a failure or an abort ends what remains; a
/// success completes it all at 100).
pub fn finish(tree: &mut [SubOperation], status: OperationStatus) {
    for index in 0..leaf_count(tree) {
        let mut seen = 0;
        visit_leaf(tree, index, &mut seen, &mut |leaf| {
            if status.succeeded() {
                leaf.status = status;
                leaf.progress = 100;
            } else if !leaf.status.is_final() {
                leaf.status = status;
            }
        });
    }
    roll_up(tree);
}

#[cfg(test)]
mod tests;
