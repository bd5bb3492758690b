//! Group commit of agent reports.
//!
//! Each statement sent to SQLite is a round trip to the write connection's own thread, and each
//! transaction a `BEGIN IMMEDIATE` and a `COMMIT` more: with many agents these round trips, not
//! SQLite, were the cost of a report. So every report queues here, and one task writes all the
//! reports waiting at that moment (waiting at most [`GATHER`] for more) in one transaction:
//!
//! - Most reports say that nothing changed: the state reported is the one stored, no reboot is
//!   pending and no reboot task is active. Such a *steady* report only stores its time: a batch
//!   of them alone is one transaction of a one-row `UPDATE` each (`direct`), and those that
//!   join full reports are one `UPDATE … FROM (VALUES …)` in the group's transaction. A report
//!   that is not steady after all (a wrong token, an unknown source, a changed state, a second
//!   report of the same source in one batch) is not stored by it: its caller is told "not
//!   stored here" and sends it again as a full report.
//! - A *full* report (a [`GroupJob`], decided by `crate::service::sources`) runs inside a
//!   savepoint of its own: one that fails is rolled back to its savepoint and answers its own
//!   error, and the others of the group are committed all the same.
//!
//! Invariants: nothing is answered before the group's `COMMIT` returned (the write generation
//! moves on first, as for every write), so an acknowledged report is never lost; a group that
//! fails as a whole (its `BEGIN`, `COMMIT` or a savepoint statement) answers each of its reports
//! "not stored here", so that each is written again alone and gets its own outcome (507 on a
//! full disk).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use migrate_core::domain::version::{DriverVersion, VersionText};
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::sources::SourceRow;
use super::{TsText, WriteConn, WriteSide, WriteTx};
use crate::auth::TokenSha256;
use crate::error::Result;

mod direct;
mod known;
mod statement;
pub(super) use direct::Direct;
use statement::{Statement, steady_statement};

/// Why a group was not stored together (its reports are then written alone, each to its own
/// outcome): sqlx's error, or SQLite's through [`Direct`].
type GroupError = Box<dyn std::error::Error + Send + Sync>;

/// The most reports one group writes. A group is whatever is waiting, up to this.
const BATCH_MAX: usize = 64;

/// The longest a report waits for others to share its transaction: reports keep joining while
/// more arrive on each pass of the scheduler, for at most this long after the first.
const GATHER: Duration = Duration::from_millis(1);

/// One steady report: a row of its batch's statement. Held in place (no allocation): its texts
/// are written where they are bound.
#[derive(Debug)]
pub(super) struct SteadyReport {
    pub id: Uuid,
    /// The agent token's hash, or `None` for a report by a signed-in user.
    pub token: Option<TokenSha256>,
    pub installed: Option<DriverVersion>,
    pub running: Option<DriverVersion>,
    /// The controller service as reported; `None` = as stored.
    pub controller: Option<&'static str>,
    /// The report's time, as stored.
    pub now: TsText,
    /// Whether the reporter wants the source back. A batch in which no one does reads back
    /// no rows.
    pub wants_row: bool,
}

/// A report's values as its statement binds them, in order (see `statement::conditions`).
pub(super) struct Bound {
    id: [u8; uuid::fmt::Hyphenated::LENGTH],
    installed: Option<VersionText>,
    running: Option<VersionText>,
}

impl Bound {
    fn of(report: &SteadyReport) -> Self {
        let mut id = [0; uuid::fmt::Hyphenated::LENGTH];
        report.id.hyphenated().encode_lower(&mut id);
        Self {
            id,
            installed: report.installed.map(DriverVersion::text),
            running: report.running.map(DriverVersion::text),
        }
    }

    fn id(&self) -> &str {
        std::str::from_utf8(&self.id).expect("a UUID's text is ASCII")
    }
}

/// Which reports of a batch were stored.
pub(super) enum StoredSet {
    /// All of those written (one per source), their rows not read back: the usual batch.
    All,
    /// Those of these sources only, their rows not read back.
    Only(Vec<Uuid>),
    /// Those whose rows were read back, by source id.
    Read(HashMap<Uuid, Stored>),
}

impl StoredSet {
    /// None of them (the batch failed).
    fn none() -> Self {
        Self::Only(Vec::new())
    }

    /// The answer of the report of source `id`, if it was stored.
    fn take(&mut self, id: Uuid) -> Option<Stored> {
        // Whether a source has a transformation is unknown when its row was not read, and no
        // one asks then.
        let unread = Stored {
            row: None,
            has_transformation: true,
        };
        match self {
            Self::All => Some(unread),
            Self::Only(ids) => ids.contains(&id).then_some(unread),
            Self::Read(rows) => rows.remove(&id),
        }
    }
}

/// What a stored steady report answers: the source as written (when some report of the batch
/// wanted it), and whether it has a transformation (whose workload the answer must show).
pub(super) struct Stored {
    pub row: Option<SourceRow>,
    pub has_transformation: bool,
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    row: SourceRow,
    transformation_id: Option<String>,
}

/// A write that joins a group transaction (see [`super::Db::write_grouped`]).
pub(super) trait GroupJob: Send {
    /// Do the work inside the group's transaction. False: it failed, and what it wrote must be
    /// rolled back (its savepoint); its error is answered once the group is done.
    fn run<'t>(&'t mut self, tx: &'t mut WriteTx) -> BoxFuture<'t, bool>;
    /// The group committed (`true`): answer the outcome. Or it did not: answer "write alone".
    fn finish(self: Box<Self>, committed: bool);
}

/// The work of [`super::Db::write_grouped`], its outcome held until the group is done.
pub(super) struct Job<T, F> {
    work: Arc<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Option<Result<T>>>,
}

impl<T, F> Job<T, F> {
    pub fn new(work: Arc<F>, reply: oneshot::Sender<Option<Result<T>>>) -> Self {
        Self {
            work,
            outcome: None,
            reply,
        }
    }
}

impl<T, F> GroupJob for Job<T, F>
where
    T: Send + 'static,
    F: for<'t> Fn(&'t mut WriteTx) -> BoxFuture<'t, Result<T>> + Send + Sync + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut WriteTx) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            let outcome = (self.work)(tx).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: bool) {
        // Not committed: `None` tells the caller to write alone. A caller gone (its request
        // cancelled) needs no answer.
        let _ = self.reply.send(if committed { self.outcome } else { None });
    }
}

enum Pending {
    Steady {
        report: SteadyReport,
        reply: oneshot::Sender<Option<Stored>>,
    },
    Full(Box<dyn GroupJob>),
}

/// The queue of reports, and the task that writes them.
#[derive(Debug, Clone)]
pub(super) struct SteadyReports {
    queue: mpsc::Sender<Pending>,
}

impl SteadyReports {
    /// Start the writing task on the current runtime. It ends when the last `Db` is dropped.
    /// `direct`: the connection that writes batches of steady reports alone (`None`, as for a
    /// database in memory: they go through the write pool like the rest).
    pub fn start(write: WriteSide, direct: Option<Direct>) -> Self {
        let (queue, pending) = mpsc::channel(4 * BATCH_MAX);
        tokio::spawn(store_batches(write, direct, pending));
        Self { queue }
    }

    /// Store `report` with the others waiting now. `None`: not stored (not steady, not this
    /// agent's, no such source, or the group failed): the caller takes the full path.
    pub async fn store(&self, report: SteadyReport) -> Option<Stored> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending::Steady { report, reply })
            .await
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Queue a full report for the next group. False when the writing task is gone (the `Db`
    /// is closing): the job was not queued and will never be finished.
    pub async fn submit(&self, job: Box<dyn GroupJob>) -> bool {
        self.queue.send(Pending::Full(job)).await.is_ok()
    }
}

async fn store_batches(
    write: WriteSide,
    mut direct: Option<Direct>,
    mut pending: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    // The write connection, kept from one batch of steady reports to the next while no other
    // writer waits for it (see `super::waiting`).
    let mut held: Option<WriteConn> = None;
    while next_batch(&write, &mut held, &mut pending, &mut batch).await > 0 {
        gather(&mut pending, &mut batch).await;
        let mut steady = Vec::with_capacity(batch.len());
        let mut jobs = Vec::new();
        for p in batch.drain(..) {
            match p {
                Pending::Steady { report, reply } => steady.push((report, reply)),
                Pending::Full(job) => jobs.push(job),
            }
        }
        let firsts = first_of_each_source(&steady);
        let reports: Vec<&SteadyReport> = (steady.iter().zip(&firsts))
            .filter_map(|((report, _), first)| first.then_some(report))
            .collect();
        let outcome = if jobs.is_empty() {
            store_steady_alone(&write, direct.as_mut(), &reports, &mut held).await
        } else {
            held = None; // the group's transaction takes the connection
            store_group(&write, &reports, &mut jobs).await
        };
        drop(reports);
        let (mut stored, committed) = match outcome {
            Ok(stored) => (stored, true),
            Err(e) => {
                tracing::debug!(error = %e, steady = steady.len(), full = jobs.len(), "reports not stored together");
                (StoredSet::none(), false)
            }
        };
        for ((report, reply), first) in steady.into_iter().zip(firsts) {
            // A second report of the same source was not written: the full path decides it.
            let _ = reply.send(if first { stored.take(report.id) } else { None });
        }
        for job in jobs {
            job.finish(committed);
        }
    }
}

/// Wait for the next reports into `batch`; how many came (0: the queue is closed). The
/// connection `held` is let go first when another writer waits for it or the pool is closing,
/// and while waiting as soon as a writer arrives.
async fn next_batch(
    write: &WriteSide,
    held: &mut Option<WriteConn>,
    pending: &mut mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
) -> usize {
    let writer = &write.writer;
    loop {
        if writer.waiting.anyone() || writer.pool.is_closed() {
            *held = None;
        }
        if held.is_none() {
            return pending.recv_many(batch, BATCH_MAX).await;
        }
        tokio::select! {
            biased;
            () = writer.waiting.arrived() => *held = None,
            n = pending.recv_many(batch, BATCH_MAX) => return n,
        }
    }
}

/// Let the requests read meanwhile reach the queue before the group leaves: passes of the
/// scheduler while more keep arriving, up to [`BATCH_MAX`] reports and [`GATHER`] of waiting.
/// Alone (nothing else arrives on a pass), a report leaves at once.
async fn gather(pending: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    let started = Instant::now();
    while batch.len() < BATCH_MAX && started.elapsed() < GATHER {
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < BATCH_MAX
            && let Ok(p) = pending.try_recv()
        {
            batch.push(p);
        }
        if batch.len() == before {
            break;
        }
    }
}

/// Steady reports only: their one statement is a transaction of its own (no `BEGIN`, no
/// `COMMIT` to send), run by `direct` unless someone wants the row back. Returns only once the
/// generation has moved. Writes on the connection `held`, taken first when there is none; it is
/// dropped when the batch fails.
async fn store_steady_alone(
    write: &WriteSide,
    direct: Option<&mut Direct>,
    reports: &[&SteadyReport],
    held: &mut Option<WriteConn>,
) -> std::result::Result<StoredSet, GroupError> {
    let conn = match held {
        Some(conn) => conn,
        None => held.insert(write.writer.conn_uncounted().await?),
    };
    let outcome = store_steady_on(conn, direct, reports).await;
    match &outcome {
        Ok(_) => conn.written(), // the generation moves on before anyone is answered
        Err(_) => *held = None,  // and here, as it is dropped
    }
    outcome
}

/// [`store_steady_alone`] on the write connection `conn`, held while `direct` writes too: it is
/// the write lock.
async fn store_steady_on(
    conn: &mut WriteConn,
    direct: Option<&mut Direct>,
    reports: &[&SteadyReport],
) -> std::result::Result<StoredSet, GroupError> {
    Ok(match direct {
        Some(direct) if !reports.iter().any(|r| r.wants_row) => {
            let written = direct.store(reports)?;
            if written.checkpoint_due {
                checkpoint(&mut conn.conn).await;
            }
            written.stored
        }
        _ => store_steady(&mut conn.conn, reports).await?,
    })
}

/// Copy the WAL into the database (and so let the next write start it again), on the write
/// connection held: no write lands meanwhile. A failure is only logged: the batch is committed,
/// and the next checkpoint catches up.
async fn checkpoint(conn: &mut SqliteConnection) {
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(conn)
        .await
    {
        tracing::warn!(error = %e, "a checkpoint after agents' reports failed; the next one will catch up");
    }
}

/// Steady and full reports in one transaction, each full one in a savepoint. Returns only once
/// committed and the generation has moved.
async fn store_group(
    write: &WriteSide,
    reports: &[&SteadyReport],
    jobs: &mut [Box<dyn GroupJob>],
) -> std::result::Result<StoredSet, GroupError> {
    let mut tx = write.begin().await?;
    let stored = if reports.is_empty() {
        StoredSet::none()
    } else {
        store_steady(tx.conn(), reports).await?
    };
    for job in jobs.iter_mut() {
        sqlx::query("SAVEPOINT report").execute(tx.conn()).await?;
        if !job.run(&mut tx).await {
            sqlx::query("ROLLBACK TO report").execute(tx.conn()).await?;
        }
        sqlx::query("RELEASE report").execute(tx.conn()).await?;
    }
    tx.commit().await?; // the generation moves on before anyone is answered
    Ok(stored)
}

/// Whether each report of a batch is the first of its source: only those are written. SQLite
/// would apply only one of two joined rows, unsaid which. The others are answered "not stored
/// here" (the full path decides). By sorting the ids as numbers: no hashing of texts.
fn first_of_each_source(batch: &[(SteadyReport, oneshot::Sender<Option<Stored>>)]) -> Vec<bool> {
    let mut order: Vec<(u128, usize)> = (batch.iter().enumerate())
        .map(|(i, (report, _))| (report.id.as_u128(), i))
        .collect();
    order.sort_unstable();
    let mut first = vec![false; batch.len()];
    for (k, &(key, i)) in order.iter().enumerate() {
        first[i] = k == 0 || order[k - 1].0 != key;
    }
    first
}

/// Store the steady reports of a group with one statement; the rows written, by source id.
async fn store_steady(
    conn: &mut SqliteConnection,
    reports: &[&SteadyReport],
) -> std::result::Result<StoredSet, sqlx::Error> {
    if reports.iter().any(|r| r.wants_row) {
        return store_reading_rows(conn, reports).await;
    }
    // No one wants the row: the statement returns no rows (each would be a message from the
    // connection's thread, and a wake-up of this one).
    let stored = steady_statement(Statement::Store, reports)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if usize::try_from(stored).is_ok_and(|n| n == reports.len()) {
        return Ok(StoredSet::All);
    }
    // Some were not stored. Which were: the same conditions, read again. They read none of the
    // columns the update wrote, and nothing writes in between (this is the write connection),
    // so they hold for exactly the rows it wrote.
    let ids = steady_statement(Statement::Match, reports)
        .try_map(|row: sqlx::sqlite::SqliteRow| sqlx::Row::try_get::<String, _>(&row, 0))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    Ok(StoredSet::Only(ids))
}

/// Store the steady reports, reading back the rows written (some reporter wants its source).
async fn store_reading_rows(
    conn: &mut SqliteConnection,
    reports: &[&SteadyReport],
) -> std::result::Result<StoredSet, sqlx::Error> {
    let rows: Vec<StoredRow> = steady_statement(Statement::StoreReturning, reports)
        .try_map(|row: sqlx::sqlite::SqliteRow| sqlx::FromRow::from_row(&row))
        .fetch_all(&mut *conn)
        .await?;
    // The rows matched the reports' ids, each a UUID's text.
    let stored = |r: StoredRow| {
        let id = Uuid::parse_str(&r.row.id).ok()?;
        let has_transformation = r.transformation_id.is_some();
        let row = Some(r.row);
        Some((
            id,
            Stored {
                row,
                has_transformation,
            },
        ))
    };
    Ok(StoredSet::Read(
        rows.into_iter().filter_map(stored).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(key: u128) -> (SteadyReport, oneshot::Sender<Option<Stored>>) {
        let (reply, _) = oneshot::channel();
        let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("a time");
        let report = SteadyReport {
            id: Uuid::from_u128(key),
            token: None,
            installed: None,
            running: None,
            controller: None,
            now: super::super::ts_text(now),
            wants_row: false,
        };
        (report, reply)
    }

    #[test]
    fn only_the_first_report_of_each_source_is_written() {
        let batch: Vec<_> = [7, 3, 7, 9, 3, 3, 1].into_iter().map(report).collect();
        assert_eq!(
            first_of_each_source(&batch),
            [true, true, false, true, false, false, true]
        );
        assert!(first_of_each_source(&[]).is_empty());
        let distinct: Vec<_> = (0..64).rev().map(report).collect();
        assert!(
            first_of_each_source(&distinct)
                .into_iter()
                .all(|first| first)
        );
    }

    #[test]
    fn a_report_binds_the_texts_the_database_stores() {
        let (mut r, _) = report(0x0b9e_6a4e_4a86_4c1b_9d0a_3c0e_1f2a_3b4c);
        r.installed = Some("8.0.0.11".parse().expect("a version"));
        let bound = Bound::of(&r);
        assert_eq!(bound.id(), "0b9e6a4e-4a86-4c1b-9d0a-3c0e1f2a3b4c");
        assert_eq!(bound.installed.as_deref(), Some("8.0.0.11"));
        assert!(bound.running.is_none());
        assert_eq!(&*r.now, "2026-05-28T20:26:40.000000Z");
    }

    #[test]
    fn a_stored_set_answers_the_reports_it_holds() {
        let (a, b) = (report(1).0.id, report(2).0.id);
        assert!(StoredSet::All.take(a).is_some());
        let mut only = StoredSet::Only(vec![a]);
        assert!(only.take(a).is_some());
        assert!(only.take(b).is_none());
        assert!(StoredSet::none().take(a).is_none());
        let mut read = StoredSet::Read(HashMap::new());
        assert!(read.take(a).is_none());
    }
}
