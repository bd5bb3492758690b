//! The state every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::Users;
use crate::config::Config;
use crate::db::Db;
use crate::drivers::PackageStore;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub store: PackageStore,
    pub users: Arc<Users>,
    /// Set once migrations ran and the packages are indexed; `/_emu/ready` answers 503 until then.
    ready: Arc<AtomicBool>,
    /// Cancelled when the server shuts down; long-running work ends on it.
    pub shutdown: CancellationToken,
    pub started_at: Instant,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        Self {
            store: PackageStore::new(&config),
            users: Arc::new(Users::from_config(&config)),
            db,
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(false)),
            shutdown: CancellationToken::new(),
            started_at: Instant::now(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}
