//! The use-case layer: one function per thing a user (or an agent) does. Each takes the caller
//! and validated input, does its whole write in one transaction, events included, and answers
//! domain types. The JSON API (`crate::api`) and the pages (`crate::web`) parse input and render
//! output around these functions; neither writes through `crate::db` itself.
//!
//! - `sources`: add, register, delete, report a driver state, reboot;
//! - `contracts`: configure and remove a workload's migration contract;
//! - `settings`: read and change a contract's setting groups;
//! - `operations`: run or abort an operation, recover after a restart (and `runner`, the
//!   background steps of a running one);
//! - `tasks`: execute or dismiss a task;
//! - `packages`: upload or rescan driver packages;
//! - `platforms`: add (and discover) or remove a target platform;
//! - `emulator`: reset the state, load the seed scenario.

pub mod contracts;
pub mod emulator;
pub mod operations;
pub mod packages;
pub mod platforms;
pub mod settings;
pub mod sources;
pub mod tasks;

mod runner;
pub use runner::poll;
