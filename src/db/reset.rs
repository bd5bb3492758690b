//! Clearing tables for a reset of the emulator's state.

use super::WriteTx;
use crate::error::Result;

/// Which tables a reset clears. A table whose rows point at another's is cleared with it or
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tables {
    pub operations: bool,
    /// Sources and their transformations.
    pub sources: bool,
    pub tasks: bool,
    pub events: bool,
    /// Target platforms (their operations go with `operations` too).
    pub platforms: bool,
}

/// Delete every row of `tables`, children first: explicit deletes of whole tables are much
/// faster than cascades row by row.
pub async fn clear(tx: &mut WriteTx, tables: Tables) -> Result<()> {
    if tables.operations || tables.platforms {
        super::platforms::clear(tx, tables.platforms).await?;
    }
    if tables.operations || tables.sources {
        sqlx::query("DELETE FROM operations")
            .execute(tx.conn())
            .await?;
    }
    if tables.sources {
        sqlx::query("DELETE FROM transformation_settings")
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM transformations")
            .execute(tx.conn())
            .await?;
    }
    if tables.tasks || tables.sources {
        sqlx::query("DELETE FROM tasks").execute(tx.conn()).await?;
    }
    if tables.sources {
        sqlx::query("DELETE FROM sources")
            .execute(tx.conn())
            .await?;
    }
    if tables.events {
        sqlx::query("DELETE FROM events").execute(tx.conn()).await?;
    }
    Ok(())
}
