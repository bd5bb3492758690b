//! The emulator's own use cases: back to a clean state (a reset), and the seed scenario loaded
//! into it.

use chrono::Utc;

use super::{operations, sources as source_cases};
use crate::auth;
use crate::db::reset::{self, Tables};
use crate::db::sources::{ReportedBy, Wanted};
use crate::db::{packages, replications, sources};
use crate::domain::driver::DriverState;
use crate::domain::model::NewSource;
use crate::domain::platform::Platform;
use crate::domain::replication::ContractState;
use crate::emu::seed::Scenario;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// What a reset clears (`?scope=`, an enum in the OpenAPI document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Scope {
    /// Sources, tasks, events, transformations, operations, platforms, uploaded packages and the
    /// journal.
    All,
    /// Sources and what hangs off them (tasks, transformations, operations).
    Sources,
    Tasks,
    Operations,
    Journal,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Sources => "sources",
            Self::Tasks => "tasks",
            Self::Operations => "operations",
            Self::Journal => "journal",
        }
    }

    /// Whether the seed scenario is loaded again after a reset of this scope.
    pub fn reseeds(self) -> bool {
        matches!(self, Self::All | Self::Sources)
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "all" => Ok(Self::All),
            "sources" => Ok(Self::Sources),
            "tasks" => Ok(Self::Tasks),
            "operations" => Ok(Self::Operations),
            "journal" => Ok(Self::Journal),
            _ => Err(
                "expected all, sources, tasks, operations or journal (or no scope for everything)"
                    .into(),
            ),
        }
    }
}

/// Clear a scope of the state, also while downloads and replications run: running operations
/// are cancelled (their runners find their rows gone and end quietly); downloads keep their open
/// file and finish.
pub async fn reset(state: &AppState, scope: Scope) -> Result<()> {
    if matches!(scope, Scope::All | Scope::Sources | Scope::Operations) {
        operations::cancel_all(state);
    }
    let tables = match scope {
        Scope::All => Some((
            Tables {
                operations: true,
                sources: true,
                tasks: true,
                events: true,
                platforms: true,
            },
            true,
        )),
        Scope::Sources => Some((
            Tables {
                operations: true,
                sources: true,
                tasks: true,
                events: false,
                platforms: false,
            },
            false,
        )),
        Scope::Tasks => Some((
            Tables {
                operations: false,
                sources: false,
                tasks: true,
                events: false,
                platforms: false,
            },
            false,
        )),
        Scope::Operations => Some((
            Tables {
                operations: true,
                sources: false,
                tasks: false,
                events: false,
                platforms: false,
            },
            false,
        )),
        Scope::Journal => None,
    };
    let mut uploads = Vec::new();
    let mut tables = tables;
    if scope == Scope::All
        && let Some(dropped) = state.db.replace_with_fresh().await?
    {
        // The whole database at once, in a time that does not grow with its rows.
        uploads = dropped;
        tables = None;
    }
    if let Some((tables, with_uploads)) = tables {
        let mut tx = state.db.begin_write().await?;
        reset::clear(&mut tx, tables).await?;
        if with_uploads {
            uploads = packages::delete_uploads(&mut tx).await?;
        }
        tx.commit().await?;
    }
    for pkg in uploads {
        state.store.forget_kept(&pkg);
        if let Ok(path) = state.store.path_of(&pkg)
            && let Err(e) = tokio::fs::remove_file(&path).await
        {
            tracing::warn!(file = %path.display(), error = %e, "could not remove an uploaded package on reset");
        }
    }
    if matches!(scope, Scope::All | Scope::Journal) {
        state.journal.clear();
    }
    Ok(())
}

/// Load a seed scenario through the same rules as live traffic (so a seeded pending reboot has
/// its task and its events). Answers how many sources it added.
pub async fn seed(state: &AppState, scenario: &Scenario) -> Result<usize> {
    let now = Utc::now();
    for s in &scenario.sources {
        let new = NewSource {
            host_name: s.host_name.clone(),
            os_family: s.os_family,
            platform: s.platform.unwrap_or(Platform::default_for(s.os_family)),
            ip_address: s.ip_address.to_string(),
        };
        let source = match &s.machine_id {
            Some(machine_id) => {
                let token = s.agent_token.clone().unwrap_or_else(auth::new_agent_token);
                source_cases::register(&state.db, machine_id, &new, &auth::token_sha256(&token))
                    .await?
                    .source
            }
            None => source_cases::add(&state.db, &new).await?,
        };
        let driver = DriverState {
            installed: s.installed_version,
            running: s.running_version,
        };
        source_cases::report_driver_state(
            &state.db,
            source.id,
            ReportedBy::User,
            driver,
            Some(s.controller_service),
            Wanted::Nothing,
        )
        .await?;
        let mut tx = state.db.begin_write().await?;
        if s.server_sync_required {
            sources::require_server_sync(&mut tx, source.id).await?;
        }
        if let Some(t) = &s.transformation {
            let new = replications::NewTransformation::for_source(source.id);
            let contract = replications::create(&mut tx, &new, now).await?;
            let contract_state = t
                .state
                .parse::<ContractState>()
                .map_err(AppError::Unprocessable)?;
            replications::set_state(
                &mut tx,
                contract.id,
                contract_state,
                t.has_full_replication,
                now,
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(scenario.sources.len())
}

/// Seed an empty database with the configured scenario, at start (a restart keeps the data).
/// Answers how many sources it added.
pub async fn seed_if_empty(state: &AppState) -> Result<usize> {
    let Some(path) = &state.config.seed_file else {
        return Ok(0);
    };
    if sources::count(&mut state.db.reader().await?).await? > 0 {
        return Ok(0);
    }
    seed(state, &crate::emu::seed::read(path)?).await
}
