//! Group commit of steady driver-state reports.
//!
//! Most reports say that nothing changed: the state reported is the one stored, no reboot is
//! pending and no reboot task is active. Such a report only stores its time. Each statement sent
//! to SQLite is a round trip to the write connection's own thread, and with many agents these
//! round trips, not SQLite, were the cost of a report. So steady reports queue here, and one task
//! stores every report waiting at that moment with a single `UPDATE … FROM (VALUES …)`, an
//! implicit transaction of its own: all of them are committed before any of them is answered
//! (the write generation moves on first, as for every write), and a failed batch answers each
//! "not stored here" so that its report takes the full path and gets its own error there.
//!
//! A report that is not steady after all (a wrong token, an unknown source, a changed state, a
//! second report of the same source in one batch) is not stored here either; the full path in
//! [`super::sources`] decides it inside a transaction.

use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

use super::Writer;
use super::sources::SourceRow;

/// The most reports one statement stores. A batch is whatever is waiting, up to this.
const BATCH_MAX: usize = 64;

/// One steady report: the row of the statement's `VALUES` it becomes.
#[derive(Debug)]
pub(super) struct SteadyReport {
    pub id: String,
    /// The agent token's hash, or `None` for a report by a signed-in user.
    pub token: Option<String>,
    pub installed: Option<String>,
    pub running: Option<String>,
    /// The controller service as reported; `None` = as stored.
    pub controller: Option<&'static str>,
    /// The report's time, as stored.
    pub now: String,
    /// Whether the reporter wants the source back. A batch in which no one does reads back
    /// only the ids of the rows it updated.
    pub wants_row: bool,
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

struct Pending {
    report: SteadyReport,
    reply: oneshot::Sender<Option<Stored>>,
}

/// The queue of steady reports, and the task that stores them.
#[derive(Debug, Clone)]
pub(super) struct SteadyReports {
    queue: mpsc::Sender<Pending>,
}

impl SteadyReports {
    /// Start the storing task on the current runtime. It ends when the last `Db` is dropped.
    pub fn start(write: Writer) -> Self {
        let (queue, pending) = mpsc::channel(4 * BATCH_MAX);
        tokio::spawn(store_batches(write, pending));
        Self { queue }
    }

    /// Store `report` with the others waiting now. `None`: not stored (not steady, not this
    /// agent's, no such source, or the batch failed): the caller takes the full path.
    pub async fn store(&self, report: SteadyReport) -> Option<Stored> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { report, reply }).await.ok()?;
        answer.await.ok().flatten()
    }
}

async fn store_batches(write: Writer, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    while pending.recv_many(&mut batch, BATCH_MAX).await > 0 {
        if batch.len() < BATCH_MAX {
            // Let the requests read meanwhile reach the queue before the batch leaves: one more
            // pass of the scheduler, and bigger batches.
            tokio::task::yield_now().await;
            while batch.len() < BATCH_MAX
                && let Ok(p) = pending.try_recv()
            {
                batch.push(p);
            }
        }
        let mut stored = match store_batch(&write, &batch).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::debug!(error = %e, reports = batch.len(), "steady reports not stored together");
                HashMap::new()
            }
        };
        for p in batch.drain(..) {
            // A second report of the same source finds its row taken: the full path decides it.
            let _ = p.reply.send(stored.remove(&p.report.id));
        }
    }
}

/// Store one batch; the rows written, by source id. Returns only once the generation has moved.
async fn store_batch(
    write: &Writer,
    batch: &[Pending],
) -> Result<HashMap<String, Stored>, sqlx::Error> {
    // One report per source: SQLite would apply only one of two joined rows, unsaid which.
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let reports: Vec<&SteadyReport> = batch
        .iter()
        .map(|p| &p.report)
        .filter(|r| seen.insert(r.id.as_str()))
        .collect();
    // Padded with rows of NULLs (which match no source) to a power of two: a handful of
    // statement texts, each prepared once on the connection, whatever the batch sizes.
    let rows = reports.len().next_power_of_two();
    let mut query = QueryBuilder::<Sqlite>::new(
        "UPDATE sources SET updated_at = r.now, last_report_at = r.now
         FROM (SELECT column1 AS id, column2 AS token, column3 AS installed,
                      column4 AS running, column5 AS controller, column6 AS now
               FROM (",
    );
    query.push_values(0..rows, |mut row, i| match reports.get(i) {
        Some(r) => {
            row.push_bind(r.id.as_str())
                .push_bind(r.token.as_deref())
                .push_bind(r.installed.as_deref())
                .push_bind(r.running.as_deref())
                .push_bind(r.controller)
                .push_bind(r.now.as_str());
        }
        None => {
            row.push("NULL, NULL, NULL, NULL, NULL, NULL");
        }
    });
    query.push(
        ")) AS r
         WHERE sources.id = r.id
           AND (r.token IS NULL OR sources.agent_token_sha256 = r.token)
           AND sources.installed_version IS r.installed
           AND sources.running_version IS r.running
           AND (r.controller IS NULL OR sources.controller_service = r.controller)
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.source_id = sources.id
                           AND kind = 'RebootRequired' AND state = 'active')
         RETURNING ",
    );
    let wants_rows = reports.iter().any(|r| r.wants_row);
    if wants_rows {
        query.push(concat!(
            source_columns!(),
            ", (SELECT id FROM transformations WHERE source_id = sources.id) AS transformation_id"
        ));
    } else {
        // No one wants the row: read back only which rows were stored.
        query.push("sources.id");
    }
    let mut conn = write.conn().await?;
    let stored: HashMap<String, Stored> = if wants_rows {
        let rows: Vec<StoredRow> = query.build_query_as().fetch_all(&mut *conn.conn).await?;
        rows.into_iter()
            .map(|r| {
                let id = r.row.id.clone();
                let has_transformation = r.transformation_id.is_some();
                let row = Some(r.row);
                (
                    id,
                    Stored {
                        row,
                        has_transformation,
                    },
                )
            })
            .collect()
    } else {
        let ids: Vec<String> = query
            .build_query_scalar()
            .fetch_all(&mut *conn.conn)
            .await?;
        // Whether a source has a transformation is unknown here, and no one asks.
        let stored = |id| {
            (
                id,
                Stored {
                    row: None,
                    has_transformation: true,
                },
            )
        };
        ids.into_iter().map(stored).collect()
    };
    conn.settle();
    drop(conn); // the generation moves on before anyone is answered
    Ok(stored)
}
