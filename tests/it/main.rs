//! Every integration test of `psserver` in one binary: the crate is linked once, not once per
//! file. One module per former test file; `common` holds the shared helpers. The agent's own
//! tests are in `crates/agent/tests/`.
//!
//! Nothing here changes process-wide state another test could see: the servers, the agent and
//! chromedriver are child processes, the log capture of `api` is the current thread's only
//! (`tracing::subscriber::set_default`), and the disk-full test mounts its tmpfs on its own
//! temporary directory.

#![allow(clippy::unwrap_used)] // a test helper that panics is how a test fails

mod common;

mod api;
mod architecture;
mod bodies;
mod browser;
mod conformance;
mod docker;
mod e2e;
mod emu;
mod fast_download;
mod fast_report;
mod faults;
mod group_commit;
mod links;
mod metrics;
mod ntlm;
mod openapi;
mod packages;
mod paging;
mod platforms;
mod prepare;
mod reliability_crash;
mod reliability_disk_full;
mod reliability_http;
mod reliability_model;
mod reliability_paths;
mod reliability_protocol;
mod replication_runs;
mod replications;
mod reset_swap;
mod schema_agreement;
mod search;
mod tls;
mod transformations;
mod web;
mod web_flows;
