//! The PlateSpin Migrate Server emulator: the library behind `psserver`.
//!
//! An index of the modules, from the inside out: `domain` (pure rules, shared with the agent
//! from `migrate_core`), `db` (all SQL), `drivers` (the package store), `service` (the use
//! cases), `api` (JSON handlers), `web` (the operator's pages) and `emu` (control plane), served
//! as one [`App`] (`http`), built by [`app`] and run by
//! [`server::run`].

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod drivers;
pub mod emu;
pub mod error;
pub mod http;
pub mod metrics;
pub mod server;
pub mod service;
pub mod state;
pub mod tls;
pub mod tools;
pub mod web;

pub use config::Config;
pub use http::App;
/// The product's rules, shared with `migrate-agent`.
pub use migrate_core::domain;
pub use state::AppState;

/// The whole HTTP surface. `main` serves it; tests call it with `oneshot`.
pub fn app(state: AppState) -> App {
    let routes = api::routes()
        .merge(emu::routes())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(web::routes());
    App::new(routes, state)
}
