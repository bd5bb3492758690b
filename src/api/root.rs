//! `GET /MigrateApi/2019.8`: links to every collection.

use serde::Serialize;

use super::{ApiBase, Link};
use crate::auth::Operator;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RootView {
    #[schema(examples("PlateSpin Migrate Server (emulated)"))]
    product: &'static str,
    /// The version in the path the request came in on: `2019.8` or its alias `2019.5`.
    #[schema(examples("2019.8"))]
    api_version: &'static str,
    emulator_version: &'static str,
    /// One link per collection.
    links: Vec<Link>,
}

/// The API's root: links to every collection.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "getRoot",
    tag = "root",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "Links to every collection", body = RootView),
        (status = 401, response = super::openapi::Unauthorized),
    ),
)]
pub async fn root(_: Operator, base: ApiBase) -> axum::Json<RootView> {
    let b = &*base.0;
    let links = vec![
        Link::new(b.to_owned(), "self", &["GET"]),
        Link::new(format!("{b}/sources"), "sources", &["GET", "POST"]),
        Link::new(format!("{b}/platforms"), "platforms", &["GET", "POST"]),
        Link::new(
            format!("{b}/driverPackages"),
            "driverPackages",
            &["GET", "POST"],
        ),
        Link::new(
            format!("{b}/driverPackages/latest"),
            "latestDriverPackages",
            &["GET"],
        ),
        Link::new(
            format!("{b}/driverPackages/platforms"),
            "driverPackagePlatforms",
            &["GET"],
        ),
        Link::new(
            format!("{b}/transformations"),
            "transformations",
            &["GET", "POST"],
        ),
        Link::new(format!("{b}/operations"), "operations", &["GET"]),
        Link::new(format!("{b}/tasks"), "tasks", &["GET"]),
        Link::new(format!("{b}/events"), "events", &["GET"]),
    ];
    axum::Json(RootView {
        product: "PlateSpin Migrate Server (emulated)",
        api_version: base.version(),
        emulator_version: env!("CARGO_PKG_VERSION"),
        links,
    })
}
