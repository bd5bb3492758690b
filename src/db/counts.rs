//! What keeps the long lists flat at millions of rows (issue 21): their counts, kept by the
//! triggers of migration 0006 in `row_counts`, and the clause that pages them by key.
//!
//! A count read here is exact as of the read's snapshot: the triggers change `row_counts` in
//! the transaction that adds or removes the rows, so a reader sees both or neither. A list's
//! rows and its `totalCount` are read one after the other on the same read connection, outside
//! a transaction, so a write that commits between the two reads shows in one and not the other
//! (the count may be one write ahead of the page).

use sqlx::{QueryBuilder, Sqlite};

use super::{Read, conn};
use crate::domain::paging::{Cursor, Start};
use crate::error::Result;

/// The order of a list, by its key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    OldestFirst,
    NewestFirst,
}

/// Append the page's key condition (as an `AND` term: the query's `WHERE` is already open),
/// its order, `LIMIT` and, for an offset page, `OFFSET`. `key` is the list's order column,
/// also read as the rows' first column for [`Cursor::cut`].
pub(super) fn push_keyset(
    q: &mut QueryBuilder<Sqlite>,
    key: &'static str,
    order: Order,
    cursor: Cursor,
) {
    use Order::{NewestFirst, OldestFirst};
    // A `before` page reads against the list's order, nearest its key first.
    let (condition, direction) = match (order, cursor.start) {
        (NewestFirst, Start::Offset(_)) => (None, "DESC"),
        (NewestFirst, Start::After(k)) => (Some(("<", k)), "DESC"),
        (NewestFirst, Start::Before(k)) => (Some((">", k)), "ASC"),
        (OldestFirst, Start::Offset(_)) => (None, "ASC"),
        (OldestFirst, Start::After(k)) => (Some((">", k)), "ASC"),
        (OldestFirst, Start::Before(k)) => (Some(("<", k)), "DESC"),
    };
    if let Some((op, k)) = condition {
        q.push(" AND ")
            .push(key)
            .push(" ")
            .push(op)
            .push(" ")
            .push_bind(k);
    }
    q.push(" ORDER BY ")
        .push(key)
        .push(" ")
        .push(direction)
        .push(" LIMIT ")
        .push_bind(cursor.fetch());
    if let Start::Offset(offset) = cursor.start
        && offset > 0
    {
        q.push(" OFFSET ").push_bind(offset);
    }
}

fn count(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// How many sources there are.
pub async fn sources(r: &mut impl Read) -> Result<u64> {
    let n: Option<i64> = sqlx::query_scalar("SELECT SUM(n) FROM row_counts WHERE tbl = 'sources'")
        .fetch_one(conn(r))
        .await?;
    Ok(count(n))
}

/// The sources waiting for a reboot (Windows, installed driver not the running one), and those
/// whose next replication must be a server-sync.
pub async fn sources_pending(r: &mut impl Read) -> Result<(u64, u64)> {
    let (reboot, sync): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT SUM(CASE WHEN a = '1' THEN n END), SUM(CASE WHEN b = '1' THEN n END)
         FROM row_counts WHERE tbl = 'sources'",
    )
    .fetch_one(conn(r))
    .await?;
    Ok((count(reboot), count(sync)))
}

/// How many events there are (of one kind, if given).
pub async fn events(r: &mut impl Read, kind: Option<&str>) -> Result<u64> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT SUM(n) FROM row_counts WHERE tbl = 'events' AND (?1 IS NULL OR a = ?1)",
    )
    .bind(kind)
    .fetch_one(conn(r))
    .await?;
    Ok(count(n))
}

/// How many tasks there are (in one state, of one kind, if given).
pub async fn tasks(r: &mut impl Read, state: Option<&str>, kind: Option<&str>) -> Result<u64> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT SUM(n) FROM row_counts
         WHERE tbl = 'tasks' AND (?1 IS NULL OR a = ?1) AND (?2 IS NULL OR b = ?2)",
    )
    .bind(state)
    .bind(kind)
    .fetch_one(conn(r))
    .await?;
    Ok(count(n))
}
