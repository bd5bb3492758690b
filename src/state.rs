//! The state every handler shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::Users;
use crate::config::{Config, ReplicationSpeed};
use crate::db::Db;
use crate::drivers::PackageStore;
use crate::emu::faults::Faults;
use crate::emu::journal::Journal;
use crate::metrics::Metrics;

/// Cloned for every request by each middleware and extractor that takes `State`, so it is one
/// shared allocation: a clone is one reference-count increment, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
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
    pub journal: Arc<Journal>,
    /// Polls of each operation waiting for an after-N-polls transition.
    pub polls: Arc<Mutex<HashMap<uuid::Uuid, u32>>>,
    /// Fault rules (`/_emu/faults`): configuration, kept across resets.
    pub faults: Arc<Faults>,
    pub metrics: Arc<Metrics>,
}

/// Settings a client can change at run time (`/_emu/settings`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub replication_speed: ReplicationSpeed,
    pub transition: Transition,
}

/// How an operation's steps advance, in the manner of moto's state transitions.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "camelCase", deny_unknown_fields)]
pub enum Transition {
    /// Step by step at the replication speed.
    Steps,
    /// The whole operation takes this many seconds.
    AfterSeconds {
        #[schema(minimum = 0, maximum = 86400)]
        seconds: f64,
    },
    /// The operation completes on its `polls`-th `GET operations/{id}`.
    AfterPolls {
        #[schema(minimum = 1, maximum = 2147483647)]
        polls: u32,
    },
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        Self(Arc::new(Shared {
            store: PackageStore::new(&config),
            users: Arc::new(Users::from_config(&config)),
            db,
            settings: Arc::new(RwLock::new(Settings {
                replication_speed: config.replication_speed,
                transition: Transition::Steps,
            })),
            journal: Arc::new(Journal::new(config.journal_size)),
            polls: Arc::default(),
            faults: Arc::default(),
            metrics: Arc::default(),
            config: Arc::new(config),
            ready: Arc::new(AtomicBool::new(false)),
            shutdown: CancellationToken::new(),
            started_at: Instant::now(),
            running_operations: Arc::default(),
        }))
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn settings(&self) -> Settings {
        // A poisoned lock only means a writer panicked mid-assignment of a Copy value.
        *self
            .settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Settings {
        let mut guard = self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut guard);
        *guard
    }
}
