//! The agent's end-to-end tests in one binary (the server's library is linked once): the built
//! `migrate-agent` in a temporary state directory, against the server run in-process on a free
//! port (`common`), or a tiny fake server that misbehaves on purpose.

#![allow(clippy::unwrap_used)] // a test helper that panics is how a test fails

mod common;

mod agent;
mod faults;
mod tls;
