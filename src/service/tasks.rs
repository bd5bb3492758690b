//! Operator tasks: dismiss one, or execute a "Mark Test as Success/Failure" task.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::operations::{self, Options};
use crate::auth::Caller;
use crate::db::events::{self, kind};
use crate::db::{Db, replications, tasks};
use crate::domain::model::{Operation, Task, TaskKind, TaskState};
use crate::domain::replication::OperationType;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// An operator dismisses an active task.
pub async fn dismiss(db: &Db, by: &Caller, id: Uuid) -> Result<Task> {
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    let task = tasks::get(&mut tx, id).await?;
    if task.state != TaskState::Active {
        return Err(AppError::conflict(
            "TaskNotActive",
            format!(
                "task {id} is {} and cannot be dismissed",
                task.state.as_str()
            ),
        ));
    }
    let task = tasks::dismiss(&mut tx, task, &by.user, now).await?;
    tx.commit().await?;
    Ok(task)
}

/// Execute a "Mark Test as Success/Failure" task: record the test's result and end the test
/// cutover. The EndTestCutover operation and the event of the result are written together.
pub async fn execute(state: &AppState, by: &Caller, id: Uuid) -> Result<Operation> {
    let now = Utc::now();
    let mut tx = state.db.begin_write().await?;
    let task = tasks::get(&mut tx, id).await?;
    let result = match task.kind {
        TaskKind::MarkTestSuccess => "success",
        TaskKind::MarkTestFailure => "failure",
        TaskKind::RebootRequired => {
            return Err(AppError::conflict(
                "NotExecutable",
                "a reboot notification is completed by rebooting the source machine; it can only be dismissed",
            ));
        }
    };
    if task.state != TaskState::Active {
        return Err(AppError::conflict(
            "TaskNotActive",
            format!(
                "task {id} is {} and cannot be executed",
                task.state.as_str()
            ),
        ));
    }
    let transformation = replications::for_source(&mut tx, task.source_id)
        .await?
        .ok_or_else(|| {
            AppError::conflict(
                "NoTransformation",
                "the task's workload has no transformation",
            )
        })?;
    let marked = Map::from_iter([
        ("testResult".to_owned(), Value::from(result)),
        ("markedBy".to_owned(), Value::from(by.user.as_str())),
    ]);
    let operation = operations::queue(
        &mut tx,
        transformation.id,
        OperationType::EndTestCutover,
        &Options::default(),
        marked,
        &by.user,
    )
    .await?;
    let message = format!("Test cutover marked as a {result} by {}", by.user);
    events::insert(
        &mut tx,
        kind::TEST_CUTOVER_MARKED,
        Some(task.source_id),
        &message,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(operations::spawn(state, operation))
}
