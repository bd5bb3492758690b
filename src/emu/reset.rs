//! `POST /_emu/state/reset[?scope=sources|tasks|operations|journal]`: back to a clean state in
//! milliseconds, also while downloads and replications run (running operations are cancelled;
//! downloads keep their open file and finish).

use std::time::Instant;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ControlPlaneAdmin;
use crate::api::extract::{Query, truncate};
use crate::db::packages;
use crate::error::{AppError, Result};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Sources, tasks, events, transformations, operations, uploaded packages and the journal.
    All,
    /// Sources and what hangs off them (tasks, transformations, operations).
    Sources,
    Tasks,
    Operations,
    Journal,
}

impl Scope {
    fn parse(text: Option<&str>) -> Result<Self> {
        match text.unwrap_or("all") {
            "" | "all" => Ok(Self::All),
            "sources" => Ok(Self::Sources),
            "tasks" => Ok(Self::Tasks),
            "operations" => Ok(Self::Operations),
            "journal" => Ok(Self::Journal),
            other => Err(AppError::bad_request(
                "InvalidScope",
                format!(
                    "unknown scope {:?}; expected sources, tasks, operations or journal (or none for everything)",
                    truncate(other)
                ),
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Sources => "sources",
            Self::Tasks => "tasks",
            Self::Operations => "operations",
            Self::Journal => "journal",
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResetQuery {
    /// What to clear: `sources` (with their tasks, transformations and operations), `tasks`,
    /// `operations` or `journal`; none for everything (also uploaded packages and events).
    #[param(example = "sources")]
    scope: Option<String>,
}

/// Back to a clean state
///
/// Clears everything, or one scope, in milliseconds, also while downloads and replications run
/// (running operations are cancelled; downloads finish). With `--seed-file`, its scenario is
/// loaded again.
#[utoipa::path(
    post,
    path = "/state/reset",
    operation_id = "resetState",
    tag = "emulator",
    security(("basicAuth" = [])),
    params(ResetQuery),
    responses(
        (status = 200, description = "Reset", body = crate::api::openapi::ResetReport),
        (status = 400, response = crate::api::openapi::BadRequest),
        (status = 401, response = crate::api::openapi::Unauthorized),
        (status = 403, response = crate::api::openapi::Forbidden),
    ),
)]
pub async fn reset(
    State(state): State<AppState>,
    ControlPlaneAdmin(caller): ControlPlaneAdmin,
    Query(q): Query<ResetQuery>,
) -> Result<axum::Json<Value>> {
    let scope = Scope::parse(q.scope.as_deref())?;
    let started = Instant::now();
    run(&state, scope).await?;
    let seeded = if matches!(scope, Scope::All | Scope::Sources) && state.config.seed_file.is_some()
    {
        super::seed::load(&state).await?
    } else {
        0
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(by = %caller.user, scope = scope.as_str(), seeded, ms, "state reset");
    Ok(axum::Json(
        json!({"scope": scope.as_str(), "seededSources": seeded, "durationMs": ms}),
    ))
}

/// Clear a scope of the state.
pub async fn run(state: &AppState, scope: Scope) -> Result<()> {
    if matches!(scope, Scope::All | Scope::Sources | Scope::Operations) {
        // Stop the runners first; they find their rows gone and end quietly.
        let tokens: Vec<_> = super::super::replication::running_tokens(state);
        for token in tokens {
            token.cancel();
        }
        state
            .polls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
    // Explicit deletes in child-first order are much faster than cascades row by row.
    let (operations, sources_too, tasks, events) = match scope {
        Scope::All => (true, true, true, true),
        Scope::Sources => (true, true, true, false),
        Scope::Tasks => (false, false, true, false),
        Scope::Operations => (true, false, false, false),
        Scope::Journal => (false, false, false, false),
    };
    let mut uploads = Vec::new();
    if scope != Scope::Journal {
        let mut tx = state.db.begin_write().await?;
        if operations {
            sqlx::query("DELETE FROM operations")
                .execute(&mut *tx)
                .await?;
        }
        if sources_too {
            sqlx::query("DELETE FROM transformations")
                .execute(&mut *tx)
                .await?;
        }
        if tasks {
            sqlx::query("DELETE FROM tasks").execute(&mut *tx).await?;
        }
        if sources_too {
            sqlx::query("DELETE FROM sources").execute(&mut *tx).await?;
        }
        if events {
            sqlx::query("DELETE FROM events").execute(&mut *tx).await?;
        }
        if scope == Scope::All {
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
