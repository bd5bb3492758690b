//! `GET /MigrateApi/2019.8`: links to every collection.

use serde_json::{Value, json};

use super::{ApiBase, Link};
use crate::auth::Operator;

pub async fn root(_: Operator, base: ApiBase) -> axum::Json<Value> {
    let b = base.0;
    let links = vec![
        Link::new(b, "self", &["GET"]),
        Link::new(format!("{b}/sources"), "sources", &["GET", "POST"]),
        Link::new(format!("{b}/platforms"), "platforms", &["GET"]),
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
            format!("{b}/transformations"),
            "transformations",
            &["GET", "POST"],
        ),
        Link::new(format!("{b}/operations"), "operations", &["GET"]),
        Link::new(format!("{b}/tasks"), "tasks", &["GET"]),
        Link::new(format!("{b}/events"), "events", &["GET"]),
    ];
    axum::Json(json!({
        "product": "PlateSpin Migrate Server (emulated)",
        "apiVersion": b.rsplit('/').next().unwrap_or("2019.8"),
        "emulatorVersion": env!("CARGO_PKG_VERSION"),
        "links": links,
    }))
}
