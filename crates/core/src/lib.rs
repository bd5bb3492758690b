//! What the PlateSpin Migrate Server emulator (`psserver`) and its `migrate-agent` share, so that
//! neither can drift from the other: the product's rules ([`domain`]), the driver package format
//! ([`package`]) and the HTTP contract between them ([`wire`]: paths, request and answer types).
//!
//! Pure and small: no HTTP stack, no database, no clock. The `openapi` feature adds the utoipa
//! schemas the server's OpenAPI document needs; the agent builds without it.

pub mod domain;
pub mod package;
pub mod wire;
