//! The OpenAPI 3.1 document of the whole surface (SPEC 4): the Migrate REST API at
//! `/MigrateApi/2019.8` and the emulator's control plane at `/_emu`, generated with utoipa from
//! the handlers' `#[utoipa::path]` annotations and the views' `ToSchema` derives. Served without
//! credentials at `{base}/openapi.json`, with a small hand-written docs page at `{base}/docs`.
//!
//! `tests/it/openapi.rs` keeps it honest: every route of [`super::ROUTES`] and
//! [`crate::emu::ROUTES`] is documented, every documented operation is served, the document is
//! structurally valid OpenAPI 3.1, describes what the handlers really answer, and matches its
//! committed snapshot (`tests/it/snapshots/it__openapi__openapi.snap`; after a deliberate change, run
//! `INSTA_UPDATE=always cargo test --test openapi` and commit the new snapshot).
//!
//! Adding a route: put it in the route table (`api::routes` or `emu::routes`), annotate its
//! handler with `#[utoipa::path]` and list it in `MigrateApi` or `EmuApi` below. A route outside
//! both bases (such as `/metrics`) goes in `Frame`'s `paths(...)` with its full path. The
//! schemas and responses that are only described (no handler builds them) are in [`schemas`].

mod schemas;

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{Link, operations, packages, platforms, root, sources, tasks, transformations};
use crate::domain::model::{Step, Warning};
use crate::error::ErrorBody;
pub use schemas::*;

/// The Migrate API's operations, with paths relative to its base.
#[derive(OpenApi)]
#[openapi(
    paths(
        root::root,
        spec,
        docs_page,
        docs_script,
        sources::list,
        sources::create,
        sources::get,
        sources::delete,
        sources::operation,
        sources::report::report_driver_state,
        platforms::list,
        platforms::add,
        platforms::get,
        platforms::delete,
        packages::platforms,
        packages::list,
        packages::upload_or_rescan,
        packages::latest,
        packages::latest_content,
        packages::get,
        packages::content,
        packages::content_by_version,
        tasks::list,
        tasks::get,
        tasks::operation,
        tasks::events,
        transformations::list,
        transformations::create,
        transformations::get,
        transformations::delete,
        transformations::operation,
        transformations::settings::get_storage,
        transformations::settings::put_storage,
        transformations::settings::get_networking,
        transformations::settings::put_networking,
        transformations::settings::get_schedule,
        transformations::settings::put_schedule,
        transformations::settings::get_target_settings,
        transformations::settings::put_target_settings,
        transformations::settings::get_replication_settings,
        transformations::settings::put_replication_settings,
        transformations::settings::get_validation_results,
        operations::list,
        operations::get,
    ),
    components(
        schemas(ErrorBody, Link, Warning, Step, Accepted),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            RangeNotSatisfiable,
            Unprocessable,
            InsufficientStorage,
        )
    )
)]
struct MigrateApi;

/// The control plane's operations, with paths relative to `/_emu`.
#[derive(OpenApi)]
#[openapi(paths(
    crate::emu::health,
    crate::emu::ready,
    crate::emu::info,
    crate::emu::reset::reset,
    crate::emu::get_settings,
    crate::emu::put_settings,
    crate::emu::faults::list,
    crate::emu::faults::add,
    crate::emu::faults::clear,
    crate::emu::faults::remove,
    crate::emu::requests,
    crate::emu::unimplemented,
))]
struct EmuApi;

/// The document's frame: information, tags and security schemes.
#[derive(OpenApi)]
#[openapi(
    paths(crate::metrics::scrape),
    info(
        title = "PlateSpin Migrate Server (emulated)",
        description = include_str!("openapi.md"),
        license(name = "MIT", identifier = "MIT"),
    ),
    tags(
        (name = "root", description = "The API's entry point and its description"),
        (name = "sources", description = "Source machines (workloads) and their driver state"),
        (name = "platforms", description = "Target platforms (such as an Azure location) that transformations migrate to"),
        (name = "driverPackages", description = "Driver packages per OS platform: list, latest, upload, download, and the OS platforms"),
        (name = "tasks", description = "Tasks that need an operator, and the event log"),
        (name = "transformations", description = "Migration contracts and the operations run on them"),
        (name = "operations", description = "Operations (replications, cutovers, platform discoveries) and their progress"),
        (name = "emulator", description = "The emulator's control plane, apart from the emulated API"),
    ),
    modifiers(&SecuritySchemes)
)]
struct Frame;

/// The whole document: the API under its base (the `/MigrateApi/2019.5` alias serves the same
/// operations and is not listed again) and the control plane under `/_emu`.
pub fn document() -> utoipa::openapi::OpenApi {
    let join = |base: &str, path: &str| {
        if path == "/" {
            base.to_owned()
        } else {
            format!("{base}{path}")
        }
    };
    let mut document = Frame::openapi()
        .nest_with_path_composer(super::BASE, MigrateApi::openapi(), join)
        .nest_with_path_composer("/_emu", EmuApi::openapi(), join);
    if let Some(components) = document.components.as_mut() {
        close_variants(components, "Transition");
    }
    document
}

/// The document as JSON, made once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serializing a tree of strings, maps and numbers cannot fail; keep a valid body anyway.
        document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basicAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A user of the server: `administrator` (everything) or `operator` \
                         (read, run operations, dismiss tasks). The same users sign in with \
                         NTLM, as on the real server (the 401 offers it first).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agentToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `agentToken` a registration answered once; good for that source's \
                         driver-state report only",
                    ))
                    .build(),
            ),
        );
    }
}

/// `additionalProperties: false` on each variant of a tagged enum whose serde attributes deny
/// unknown fields: utoipa writes it for such structs but not for an enum's variants, and the
/// server refuses their unknown members (`state::Transition`), so the document says so.
fn close_variants(components: &mut utoipa::openapi::Components, name: &str) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    // The document's snapshot (tests/it/openapi.rs) shows the variants closed.
    let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) else {
        return;
    };
    for item in &mut one_of.items {
        if let RefOr::T(Schema::Object(variant)) = item {
            variant.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// This OpenAPI 3.1 document (no credentials needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "root",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
)]
pub async fn spec() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document_json(),
    )
        .into_response()
}

/// A readable page of this document (no credentials needed).
#[utoipa::path(
    get,
    path = "/docs",
    operation_id = "getDocsPage",
    tag = "root",
    responses((status = 200, description = "The API documentation page", content_type = "text/html")),
)]
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../../static/api-docs.html"))
}

/// The docs page's script.
#[utoipa::path(
    get,
    path = "/docs/api-docs.js",
    operation_id = "getDocsScript",
    tag = "root",
    responses((status = 200, description = "The docs page's script", content_type = "text/javascript")),
)]
pub async fn docs_script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        include_str!("../../../static/api-docs.js"),
    )
        .into_response()
}
