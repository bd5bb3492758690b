//! The product's rules as pure functions: no I/O, no clocks, no database.

pub mod driver;
pub mod model;
pub mod paging;
pub mod platform;
pub mod replication;
pub mod settings;
pub mod target_platform;
pub mod text;
pub mod validation;
pub mod version;
pub mod workload;

pub use driver::{DriverAction, DriverState};
pub use platform::{ControllerService, OsFamily, Platform};
pub use version::DriverVersion;
