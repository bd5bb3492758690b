//! A transformation's setting groups at `transformations/{id}/<group>`, as the product's "Get
//! Transformation" answer links them: Storage, Networking, Schedule, TargetSettings and
//! ReplicationSettings (GET, and PUT of a partial change), and ValidationResults (GET).
//!
//! The docs show the Storage group's href (`.../storage`); the others' paths follow its pattern.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api::extract::{Json, Path, parse_id};
use crate::api::openapi::{BadRequest, Conflict, NotFound, Unauthorized, UnsupportedMediaType};
use crate::api::{ApiBase, Link};
use crate::auth::Operator;
use crate::db::{replications, sources};
use crate::domain::settings::{
    Networking, NetworkingPatch, ReplicationSettings, ReplicationSettingsPatch, Schedule,
    SchedulePatch, Storage, StoragePatch, TargetSettings, TargetSettingsPatch,
};
use crate::domain::validation::{self, ValidationResult};
use crate::error::Result;
use crate::service::settings::{self as settings_cases, Change};
use crate::state::AppState;

/// The groups: their rel (as the docs name them), their path under the transformation, and the
/// methods they take.
const GROUPS: [(&str, &str, &[&str]); 6] = [
    ("Storage", "storage", &["GET", "PUT"]),
    ("Networking", "networking", &["GET", "PUT"]),
    ("Schedule", "schedule", &["GET", "PUT"]),
    ("TargetSettings", "targetSettings", &["GET", "PUT"]),
    (
        "ReplicationSettings",
        "replicationSettings",
        &["GET", "PUT"],
    ),
    ("ValidationResults", "validationResults", &["GET"]),
];

/// The groups' links from a transformation at `href`.
pub fn links(href: &str) -> impl Iterator<Item = Link> + '_ {
    GROUPS
        .iter()
        .map(move |(rel, path, methods)| Link::new(format!("{href}/{path}"), *rel, methods))
}

fn self_link(base: &ApiBase, id: Uuid, path: &str) -> Vec<Link> {
    let methods = GROUPS
        .iter()
        .find(|g| g.1 == path)
        .map_or(&["GET"][..], |g| g.2);
    vec![Link::new(
        format!("{}/transformations/{id}/{path}", base.0),
        "self",
        methods,
    )]
}

/// A group's members, then its `self` link.
macro_rules! group_view {
    ($($view:ident($group:ty) $doc:literal,)*) => {$(
        #[doc = $doc]
        #[derive(Debug, Serialize, utoipa::ToSchema)]
        pub struct $view {
            #[serde(flatten)]
            group: $group,
            /// `self`, with the methods the group takes.
            links: Vec<Link>,
        }
    )*};
}

group_view! {
    StorageView(Storage) "The Storage group",
    NetworkingView(Networking) "The Networking group",
    TargetSettingsView(TargetSettings) "The TargetSettings group",
    ReplicationSettingsView(ReplicationSettings) "The ReplicationSettings group",
}

/// The Schedule group, with when the next scheduled replication runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    #[serde(flatten)]
    group: Schedule,
    /// Computed (read-only): the first full replication's start (retried daily until it has
    /// run), then the incremental recurrence's next; null while nothing is scheduled, the
    /// schedule is paused, or the workload is not prepared or is cut over.
    next_replication: Option<DateTime<Utc>>,
    links: Vec<Link>,
}

/// The ValidationResults group (read-only): what stands in the way of the transformation's next
/// step, derived from the workload as it is now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResultsView {
    /// Errors first, then warnings, then information.
    results: Vec<ValidationResult>,
    /// Whether Prepare may run now: the transformation allows it and no result is an error.
    can_prepare: bool,
    links: Vec<Link>,
}

/// `GET` and `PUT` of a group whose view is its members and a link.
macro_rules! plain_group {
    (
        $get:ident, $put:ident, $path:literal, $get_doc:literal, $put_doc:literal,
        $get_id:literal, $put_id:literal,
        $view:ident, $field:ident, $patch:ident, $variant:ident, $example:expr
    ) => {
        #[doc = $get_doc]
        #[utoipa::path(
                    get,
                    path = concat!("/transformations/{id}/", $path),
                    operation_id = $get_id,
                    tag = "transformations",
                    security(("basicAuth" = [])),
                    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
                    responses(
                        (status = 200, description = "The group", body = $view),
                        (status = 400, response = BadRequest),
                        (status = 401, response = Unauthorized),
                        (status = 404, response = NotFound),
                    ),
                )]
        pub async fn $get(
            State(state): State<AppState>,
            _: Operator,
            base: ApiBase,
            Path(id): Path<String>,
        ) -> Result<axum::Json<$view>> {
            let id = parse_id(&id, "transformation id")?;
            let mut r = state.db.reader().await?;
            let t = replications::find(&mut r, id).await?;
            let s = settings_cases::current(&mut r, &t).await?;
            Ok(axum::Json($view {
                group: s.$field,
                links: self_link(&base, id, $path),
            }))
        }

        #[doc = $put_doc]
        ///
        /// A partial change: the members given replace the stored ones, the others keep their
        /// values; read-only members (`links`) are ignored. Refused (409) while an operation
        /// runs on the transformation and after its cutover. Answers the group as stored.
        #[utoipa::path(
                    put,
                    path = concat!("/transformations/{id}/", $path),
                    operation_id = $put_id,
                    tag = "transformations",
                    security(("basicAuth" = [])),
                    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
                    request_body(content = $patch, example = $example),
                    responses(
                        (status = 200, description = "The group as stored", body = $view),
                        (status = 400, response = BadRequest),
                        (status = 401, response = Unauthorized),
                        (status = 404, response = NotFound),
                        (status = 409, response = Conflict),
                        (status = 415, response = UnsupportedMediaType),
                    ),
                )]
        pub async fn $put(
            State(state): State<AppState>,
            Operator(caller): Operator,
            base: ApiBase,
            Path(id): Path<String>,
            Json(body): Json<$patch>,
        ) -> Result<axum::Json<$view>> {
            let id = parse_id(&id, "transformation id")?;
            let changed =
                settings_cases::change(&state.db, &caller, id, &Change::$variant(body)).await?;
            Ok(axum::Json($view {
                group: changed.settings.$field,
                links: self_link(&base, id, $path),
            }))
        }
    };
}

plain_group!(
    get_storage,
    put_storage,
    "storage",
    "A transformation's Storage group",
    "Change a transformation's Storage group",
    "getTransformationStorage",
    "putTransformationStorage",
    StorageView,
    storage,
    StoragePatch,
    Storage,
    json!({"storageLayout": "sameAsSource"})
);
plain_group!(
    get_networking,
    put_networking,
    "networking",
    "A transformation's Networking group",
    "Change a transformation's Networking group",
    "getTransformationNetworking",
    "putTransformationNetworking",
    NetworkingView,
    networking,
    NetworkingPatch,
    Networking,
    json!({"hostName": "WIN-TGT01", "nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "10.0.1.1", "dnsServers": ["10.0.1.2"]}]})
);
plain_group!(
    get_target_settings,
    put_target_settings,
    "targetSettings",
    "A transformation's TargetSettings group",
    "Change a transformation's TargetSettings group",
    "getTransformationTargetSettings",
    "putTransformationTargetSettings",
    TargetSettingsView,
    target_settings,
    TargetSettingsPatch,
    TargetSettings,
    json!({"vmName": "WIN-TGT01", "cpuCount": 4, "memoryMb": 8192})
);
plain_group!(
    get_replication_settings,
    put_replication_settings,
    "replicationSettings",
    "A transformation's ReplicationSettings group",
    "Change a transformation's ReplicationSettings group",
    "getTransformationReplicationSettings",
    "putTransformationReplicationSettings",
    ReplicationSettingsView,
    replication_settings,
    ReplicationSettingsPatch,
    ReplicationSettings,
    json!({"encryptDataTransfer": true, "compressionLevel": "Optimal", "bandwidthThrottlingMbps": 100})
);

/// A transformation's Schedule group
#[utoipa::path(
    get,
    path = "/transformations/{id}/schedule",
    operation_id = "getTransformationSchedule",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
    responses(
        (status = 200, description = "The group", body = ScheduleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
)]
pub async fn get_schedule(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Path(id): Path<String>,
) -> Result<axum::Json<ScheduleView>> {
    let id = parse_id(&id, "transformation id")?;
    let mut r = state.db.reader().await?;
    let t = replications::find(&mut r, id).await?;
    let s = settings_cases::current(&mut r, &t).await?;
    let (facts, _) = replications::facts(&mut r, &t).await?;
    Ok(axum::Json(ScheduleView {
        next_replication: s.schedule.next_replication(facts, Utc::now()),
        group: s.schedule,
        links: self_link(&base, id, "schedule"),
    }))
}

/// Change a transformation's Schedule group
///
/// A partial change: the members given replace the stored ones, the others keep their values;
/// read-only members (`nextReplication`, `links`) are ignored. `state` `Paused` pauses the
/// schedule, `Active` resumes it. Refused (409) while an operation runs on the transformation and
/// after its cutover. Answers the group as stored.
#[utoipa::path(
    put,
    path = "/transformations/{id}/schedule",
    operation_id = "putTransformationSchedule",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
    request_body(content = SchedulePatch, example = json!({"state": "Active", "fullReplicationStart": "2026-03-01T00:00:00Z", "incrementalRecurrence": "Daily", "incrementalStart": "2026-03-02T01:00:00Z"})),
    responses(
        (status = 200, description = "The group as stored", body = ScheduleView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 415, response = UnsupportedMediaType),
    ),
)]
pub async fn put_schedule(
    State(state): State<AppState>,
    Operator(caller): Operator,
    base: ApiBase,
    Path(id): Path<String>,
    Json(body): Json<SchedulePatch>,
) -> Result<axum::Json<ScheduleView>> {
    let id = parse_id(&id, "transformation id")?;
    let changed = settings_cases::change(&state.db, &caller, id, &Change::Schedule(body)).await?;
    let schedule = changed.settings.schedule;
    Ok(axum::Json(ScheduleView {
        next_replication: schedule.next_replication(changed.facts, Utc::now()),
        group: schedule,
        links: self_link(&base, id, "schedule"),
    }))
}

/// A transformation's ValidationResults (read-only)
///
/// Errors stop Prepare (`canPrepare` false); warnings and information say what Prepare and the
/// replications will do: install the block-based driver, wait for a reboot, and so on.
#[utoipa::path(
    get,
    path = "/transformations/{id}/validationResults",
    operation_id = "getTransformationValidationResults",
    tag = "transformations",
    security(("basicAuth" = [])),
    params(("id" = uuid::Uuid, Path, description = "The transformation's id")),
    responses(
        (status = 200, description = "The results", body = ValidationResultsView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
)]
pub async fn get_validation_results(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Path(id): Path<String>,
) -> Result<axum::Json<ValidationResultsView>> {
    let id = parse_id(&id, "transformation id")?;
    // Before the read handle: the catalog may read too, and a request holds one read
    // connection at a time.
    let catalog = state.db.catalog().await?;
    let mut r = state.db.reader().await?;
    let t = replications::find(&mut r, id).await?;
    let source = sources::find(&mut r, t.source_id).await?;
    let s = settings_cases::current(&mut r, &t).await?;
    let (facts, _) = replications::facts(&mut r, &t).await?;
    drop(r);
    let (results, can_prepare) = validation::validate(validation::Facts {
        source: &source,
        contract: facts,
        has_platform: t.platform_id.is_some(),
        latest_driver: catalog.latest(source.platform).map(|p| p.version),
        schedule: &s.schedule,
    });
    Ok(axum::Json(ValidationResultsView {
        results,
        can_prepare,
        links: self_link(&base, id, "validationResults"),
    }))
}
