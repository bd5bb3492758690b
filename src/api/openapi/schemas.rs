//! The document's schemas and reusable responses that are only described: types the handlers
//! do not build themselves (their JSON is made elsewhere, or read by hand), named here so that
//! the document can point at them.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::{Content, Ref, RefOr};

use super::super::{Link, operations, packages, platforms, sources, tasks, transformations};

/// The answer to a long action: not done yet, here is where to look.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// Always false: the action runs as an operation.
    pub completed_synchronously: bool,
    /// The operation to poll (rel `self`, as the product's documented answers show it).
    pub operation: Link,
    /// The resource the operation works on (rel `resource`).
    pub resource: Link,
}

/// The list pages, `{"<plural>": [...], "totalCount": N, "links": [...]}`. Only described:
/// [`super::list_body`] makes the JSON (and `tests/it/openapi.rs` checks answers against these).
macro_rules! list_schemas {
    ($($name:ident { $field:ident: $item:ty } $doc:literal,)*) => {$(
        #[doc = $doc]
        #[derive(Serialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $field: Vec<$item>,
            /// How many match, over all pages.
            total_count: u64,
            /// `self`, and `next`/`prev` when there are more pages; they keep the filters.
            links: Vec<Link>,
        }
    )*};
}

list_schemas! {
    SourceList { sources: sources::SourceView } "A page of sources",
    PackageList { driver_packages: packages::PackageView } "A page of driver packages",
    PlatformList { platforms: platforms::PlatformView } "A page of target platforms",
    DriverPlatformList { platforms: packages::DriverPlatformView } "The OS platforms driver packages are built for",
    TaskList { tasks: tasks::TaskView } "A page of tasks, newest first",
    EventList { events: tasks::EventView } "A page of events, newest first",
    TransformationList { transformations: transformations::TransformationView } "A page of transformations",
    OperationList { operations: operations::OperationView } "A page of operations, newest first",
}

/// `driverPackages/latest`: one package with `?platform=`, the list of every platform's latest
/// without.
///
/// In the document an `anyOf`, not utoipa's `oneOf` for an untagged enum: the two shapes
/// cannot be confused, and schemathesis 4.32's stateful phase checks a `oneOf` answer against
/// its first branch alone (reporting the list as a package without `id`).
#[derive(Serialize)]
#[serde(untagged)]
#[allow(dead_code)] // Only described: the handler answers either shape itself.
pub enum LatestPackages {
    One(packages::PackageView),
    All(PackageList),
}

impl utoipa::PartialSchema for LatestPackages {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(Ref::from_schema_name("PackageView"))
            .item(Ref::from_schema_name("PackageList"))
            .description(Some(
                "`driverPackages/latest`: one package with `?platform=`, the list of every \
                 platform's latest without.",
            ))
            .into()
    }
}

impl ToSchema for LatestPackages {
    fn schemas(schemas: &mut Vec<(String, RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            "PackageView".into(),
            <packages::PackageView as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            "PackageList".into(),
            <PackageList as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// A driver package file as a request body: bytes (a zip), not a JSON array of numbers.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Only described: the handler streams the body.
pub struct PackageFile(Vec<u8>);

/// `?operation=` of `POST transformations/{id}`, as the document gives it (the server compares
/// without case, as the product does).
#[derive(ToSchema)]
#[allow(dead_code)] // Only described: the handlers parse the text.
pub enum TransformationOperation {
    Prepare,
    Migrate,
    TestCutover,
    EndTestCutover,
    Cutover,
    Abort,
}

/// `?operation=` of `POST tasks/{id}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum TaskOperation {
    Dismiss,
    Execute,
}

/// `?operation=` of `POST sources/{id}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum SourceOperation {
    Reboot,
}

/// `?operation=` of `POST sources`: an agent's registration.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum RegisterOperation {
    Register,
}

/// `?operation=` of `POST driverPackages`: a rescan instead of an upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum PackagesOperation {
    Rescan,
}

/// The conditional and range request headers of a package download (SPEC 4).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Only described: the handlers read the headers themselves.
pub struct RangeHeaders {
    /// `bytes=start-end` (one range): answered 206 with that part, or 416 outside the file.
    #[param(rename = "Range", example = "bytes=0-1023")]
    range: Option<String>,
    /// An ETag: the range is served only if the file still has it, else the whole file.
    #[param(rename = "If-Range")]
    if_range: Option<String>,
    /// ETags the client has: 304 when the file's matches.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

/// The reusable error responses, each `{"error": {"code", "message"}}`.
macro_rules! error_responses {
    ($($name:ident: $description:literal,)*) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'s> utoipa::ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<OaResponse>) {
                (
                    stringify!($name),
                    ResponseBuilder::new()
                        .description($description)
                        .content(
                            "application/json",
                            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                        )
                        .into(),
                )
            }
        }
    )*};
}

error_responses! {
    BadRequest: "The request is malformed: a bad id, version, query value or body (`code` names the kind, e.g. `InvalidId`, `InvalidVersion`, `MalformedJson`)",
    Unauthorized: "No credentials, or wrong ones (`WWW-Authenticate: NTLM`, then `Basic`), or an NTLM handshake's CHALLENGE (`WWW-Authenticate: NTLM <token>`)",
    Forbidden: "The user's role may not do this (an operator where an administrator is needed), or the control plane refuses a remote caller",
    NotFound: "No such resource",
    Conflict: "The request conflicts with the current state (e.g. an operation the contract does not allow now)",
    PayloadTooLarge: "The body is larger than the server accepts (`--max-upload-mb` for packages)",
    UnsupportedMediaType: "The body says it is something other than JSON",
    RangeNotSatisfiable: "The requested range lies outside the file (`Content-Range: bytes */size`)",
    Unprocessable: "Well formed, but describes an impossible state (e.g. a Linux driver pending a reboot)",
    InsufficientStorage: "The server's data volume is full",
}

/// A boolean option: a JSON boolean, or the strings the real API's documentation uses.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(FlagText),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlagText {
    True,
    False,
}

/// `Migrate`'s options; also `Prepare`'s, as the product's documented Prepare sends them (there
/// `migrationType` is kept with the operation and changes nothing).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigrateOptions {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: Option<MigrateOptionsType>,
    /// Default: `full` for the first replication, `incremental` after it.
    migration_type: Option<crate::domain::replication::MigrationType>,
}

#[derive(Serialize, ToSchema)]
pub enum MigrateOptionsType {
    MigrateOptions,
}

/// `TestCutover`'s options.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestCutoverOptions {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: Option<TestCutoverOptionsType>,
    /// Shut the target workload down after the test. Default: false.
    shutdown_target: Option<Flag>,
    /// Run an incremental replication first. Default: false.
    perform_incremental: Option<Flag>,
}

#[derive(Serialize, ToSchema)]
pub enum TestCutoverOptionsType {
    TestCutoverOptions,
}

/// `Cutover`'s options.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CutoverOptions {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: Option<CutoverOptionsType>,
    /// Shut the source workload down. Default: true.
    shutdown_source: Option<Flag>,
    /// Shut the target workload down after the cutover. Default: false.
    shutdown_target: Option<Flag>,
    /// Run a last incremental replication first. Default: true.
    perform_incremental: Option<Flag>,
}

#[derive(Serialize, ToSchema)]
pub enum CutoverOptionsType {
    CutoverOptions,
}

/// An operation's options, as the real API sends them; `EndTestCutover` takes a body of type
/// `EndTestCutoverOptions` whose members are not read, `Abort` none. Only described:
/// `transformations::parse_options` reads them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OperationOptions {
    Migrate(MigrateOptions),
    TestCutover(TestCutoverOptions),
    Cutover(CutoverOptions),
}

/// `/_emu/health` and `/_emu/ready`.
#[derive(Serialize, ToSchema)]
pub struct EmuHealth {
    /// `ok` (health), `ready`, or `starting` (ready's 503).
    #[schema(examples("ok"))]
    status: String,
    /// While starting: what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// `/_emu/info`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmuInfo {
    product: String,
    /// The emulator's version.
    version: String,
    #[schema(examples("2019.8"))]
    emulated_api_version: String,
    /// The API's base paths: the version and its alias.
    api_bases: Vec<String>,
    database: EmuDatabase,
    uptime_seconds: u64,
    ready: bool,
    config: EmuConfig,
    settings: crate::state::Settings,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmuDatabase {
    url: String,
    /// The latest migration applied.
    schema_version: Option<i64>,
}

/// The configuration the emulator started with; passwords show as `***` (or null when unset).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmuConfig {
    listen: String,
    data_dir: String,
    driver_packages: String,
    max_upload_mb: u64,
    /// MiB of memory for the bytes of packages downloaded whole (`--package-cache-mb`).
    package_cache_mb: u64,
    #[schema(examples("***"))]
    admin_password: String,
    operator_password: Option<String>,
    #[schema(examples("text"))]
    log_format: String,
    journal_size: u64,
    control_plane: crate::config::ControlPlane,
    seed_file: Option<String>,
    /// Seconds a client has to send a request's headers (`--header-timeout-secs`).
    header_timeout_secs: u64,
    /// Seconds a request body may pause before the request is answered 408
    /// (`--body-timeout-secs`).
    body_timeout_secs: u64,
    /// Bytes a second a request body must average after `bodyTimeoutSecs`
    /// (`--body-min-rate`; 0: none).
    body_min_rate: u64,
    /// Connections open at once; one more is answered 503 (`--max-connections`).
    max_connections: u64,
    /// `self-signed` or `certificate` when the server speaks HTTPS; null for plain HTTP.
    #[schema(examples("self-signed"))]
    tls: Option<String>,
}

/// What a reset did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetReport {
    /// `all`, `sources`, `tasks`, `operations` or `journal`.
    #[schema(examples("all"))]
    scope: String,
    /// Sources loaded again from `--seed-file`.
    seeded_sources: u64,
    duration_ms: f64,
}

/// A page of the request journal.
#[derive(Serialize, ToSchema)]
pub struct JournalPage {
    requests: Vec<crate::emu::journal::Entry>,
    /// How many the journal holds.
    kept: u64,
    /// How many it holds at most (`--journal-size`).
    capacity: u64,
}
