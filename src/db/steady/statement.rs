//! The statements that store batches of steady reports, their texts written once for each
//! size of batch.

use std::sync::LazyLock;

use sqlx::Sqlite;

use migrate_core::domain::version::VersionText;

use super::{BATCH_MAX, Bound, SteadyReport};

/// The three statements of steady reports.
#[derive(Debug, Clone, Copy)]
pub(super) enum Statement {
    /// Store each report's time on the rows whose state is the one reported.
    Store,
    /// The same, reading back the rows written.
    StoreReturning,
    /// The ids of the rows [`Self::Store`] writes (the same conditions).
    Match,
}

impl Statement {
    const ALL: [Self; 3] = [Self::Store, Self::StoreReturning, Self::Match];

    /// The statement over `rows` reports: the reports as a table `r` of `rows` rows of
    /// parameters, and the conditions of a steady report.
    fn text(self, rows: usize) -> String {
        let head = match self {
            Self::Store | Self::StoreReturning => {
                "UPDATE sources SET updated_at = r.now, last_report_at = r.now FROM "
            }
            Self::Match => "SELECT sources.id FROM sources, ",
        };
        let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
        let tail = match self {
            Self::StoreReturning => concat!(
                " RETURNING ",
                source_columns!(),
                ", (SELECT id FROM transformations WHERE source_id = sources.id) AS transformation_id"
            ),
            Self::Store | Self::Match => "",
        };
        format!(
            "{head}(SELECT column1 AS id, column2 AS token, column3 AS installed,
                     column4 AS running, column5 AS controller, column6 AS now
              FROM (VALUES {values})) AS r
             WHERE {}{tail}",
            conditions([
                "r.id",
                "r.token",
                "r.installed",
                "r.running",
                "r.controller"
            ])
        )
    }
}

/// Whether one steady report is steady, for a batch written one report at a time inside its own
/// transaction (`super::direct`): [`conditions`] over parameters 1-5 (id, token hash,
/// installed, running, controller) on the source's row. A unique id makes it one lookup; the
/// source's rowid comes back when the report is steady, nothing when it is not.
pub(super) static VERIFY_ONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT rowid FROM sources WHERE {}",
        conditions(["?1", "?2", "?3", "?4", "?5"])
    )
});

/// A steady report's time (3) beside its source of rowid 1 and id 2
/// (`migrations/0008_add_source_reports.sql`), where a time is kept already. An `UPDATE` and,
/// the first time, an `INSERT` cost far less than one `INSERT … ON CONFLICT`.
pub(super) const REFRESH: &str =
    "UPDATE source_reports SET source_id = ?2, reported_at = ?3 WHERE source_rowid = ?1";

/// [`REFRESH`], the source's first.
pub(super) const INSERT_FIRST: &str =
    "INSERT INTO source_reports (source_rowid, source_id, reported_at) VALUES (?1, ?2, ?3)";

/// A steady report whose source was verified by [`VERIFY_ONE`] since anyone else wrote
/// (`super::known`): its time (2) beside the source of rowid 1.
pub(super) const STORE_KNOWN: &str =
    "UPDATE source_reports SET reported_at = ?2 WHERE source_rowid = ?1";

/// What makes a report steady, on the row of `sources` it names: the values of the report's
/// id, token hash (NULL: a signed-in user's report), installed and running versions, and
/// controller service (NULL: as stored), in that order. The same agent's token, the same state,
/// and no active reboot task (which only a full report may close).
fn conditions([id, token, installed, running, controller]: [&str; 5]) -> String {
    format!(
        "sources.id = {id}
           AND ({token} IS NULL OR sources.agent_token_sha256 = {token})
           AND sources.installed_version IS {installed}
           AND sources.running_version IS {running}
           AND ({controller} IS NULL OR sources.controller_service = {controller})
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.source_id = sources.id
                           AND kind = 'RebootRequired' AND state = 'active')"
    )
}

/// The statements' texts, written once: by statement, then for 1, 2, 4 ... [`BATCH_MAX`] rows.
/// A batch is padded with rows of NULLs (which match no source) to a power of two: a handful of
/// texts, each prepared once on the connection, whatever the batch sizes.
static TEXTS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let sizes = || (0..=BATCH_MAX.ilog2()).map(|k| 1 << k);
    Statement::ALL
        .iter()
        .map(|s| sizes().map(|rows| s.text(rows)).collect())
        .collect()
});

/// The text of `statement` for `reports` reports (padded to the next power of two).
pub(super) fn text(statement: Statement, reports: usize) -> &'static str {
    let rows = reports.next_power_of_two();
    &TEXTS[statement as usize][rows.ilog2() as usize]
}

/// `statement` over `reports`, its parameters bound.
pub(super) fn steady_statement(
    statement: Statement,
    reports: &[&SteadyReport],
) -> sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments> {
    let rows = reports.len().next_power_of_two();
    let mut query = sqlx::query(text(statement, reports.len()));
    for i in 0..rows {
        let r = reports.get(i);
        let bound = r.map(|r| Bound::of(r));
        let text = |v: Option<&VersionText>| v.map(|v| v.to_string());
        query = query
            .bind(bound.as_ref().map(|b| b.id().to_owned()))
            .bind(r.and_then(|r| r.token.map(|t| t.to_string())))
            .bind(bound.as_ref().and_then(|b| text(b.installed.as_ref())))
            .bind(bound.as_ref().and_then(|b| text(b.running.as_ref())))
            .bind(r.and_then(|r| r.controller))
            .bind(r.map(|r| r.now.to_string()));
    }
    query
}
