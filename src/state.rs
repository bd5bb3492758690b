//! The state every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::Users;
use crate::config::{Config, ReplicationSpeed};
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
    /// Settings that can change while the server runs.
    settings: Arc<RwLock<Settings>>,
    /// The cancellation token of every queued or running operation, for Abort.
    pub running_operations: Arc<Mutex<HashMap<uuid::Uuid, CancellationToken>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub replication_speed: ReplicationSpeed,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        Self {
            store: PackageStore::new(&config),
            users: Arc::new(Users::from_config(&config)),
            db,
            settings: Arc::new(RwLock::new(Settings {
                replication_speed: config.replication_speed,
            })),
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(false)),
            shutdown: CancellationToken::new(),
            started_at: Instant::now(),
            running_operations: Arc::default(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn settings(&self) -> Settings {
        // A poisoned lock only means a writer panicked mid-assignment of a Copy value.
        *self.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Settings {
        let mut guard = self.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut guard);
        *guard
    }
}
