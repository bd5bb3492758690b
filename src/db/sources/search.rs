//! The Workloads page's search: a page of the sources that match a text (any part of a host
//! name or IP address, in any case), a filter and an order, and how many match. A text of three
//! characters or more goes through the trigram index `sources_search`
//! (`migrations/0007_add_sources_search.sql`), a shorter one through a scan.

use sqlx::{QueryBuilder, Sqlite};

use super::super::{Read, conn};
use super::SourceRow;
use crate::domain::model::Source;
use crate::domain::paging::Page;
use crate::error::Result;

/// Which workloads the Workloads page lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Show {
    #[default]
    All,
    /// The latest operation of their contract failed.
    Failed,
    /// A Windows machine whose installed driver is not the running one.
    RebootPending,
    /// Flagged for a server-sync replication after a full one has completed.
    ServerSync,
    /// An operation is queued or running.
    Running,
}

/// The order of the Workloads page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// As added (the API's order).
    #[default]
    Added,
    Name,
    /// By the latest replication's end; never replicated last.
    LastReplication,
}

/// The Workloads page's query: a host name or IP address fragment, a filter and an order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub text: Option<String>,
    pub show: Show,
    pub sort: Sort,
    pub descending: bool,
}

/// How a search's text picks its rows.
enum Matching {
    /// No text: every source.
    All,
    /// Through the trigram index (`sources_search`): a phrase of the text, which a row matches
    /// when the text is a part of its host name or IP address, in any case.
    Indexed(String),
    /// A scan with `LIKE`: for texts shorter than a trigram, and for a sort other than by
    /// addition when many rows match (the scan in the sort's order stops at the page's end).
    Scanned(String),
}

impl Matching {
    /// The text as an FTS5 phrase: quoted, its quotes doubled; everything else in it is literal.
    fn phrase(text: &str) -> Self {
        Self::Indexed(format!("\"{}\"", text.replace('"', "\"\"")))
    }

    /// The text as a `LIKE` pattern with our own escape character: `%` and `_` in it are literal.
    fn pattern(text: &str) -> Self {
        Self::Scanned(format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        ))
    }

    /// `FROM` and `WHERE` of the sources (as `s`) that match, and pass `show`.
    fn push_from_where(&self, q: &mut QueryBuilder<Sqlite>, show: Show) {
        match self {
            Self::All => q.push(" FROM sources s WHERE 1 = 1"),
            Self::Indexed(phrase) => q
                .push(
                    " FROM sources_search f JOIN sources s ON s.rowid = f.rowid
                      WHERE f.sources_search MATCH ",
                )
                .push_bind(phrase.clone()),
            Self::Scanned(pattern) => q
                .push(" FROM sources s WHERE (s.host_name LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR s.ip_address LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\')"),
        };
        q.push(match show {
            Show::All => "",
            Show::Failed => {
                " AND (SELECT o.status FROM transformations t JOIN operations o
                        ON o.transformation_id = t.id WHERE t.source_id = s.id
                        ORDER BY o.seq DESC LIMIT 1) = 'failed'"
            }
            Show::RebootPending => {
                " AND s.os_family = 'windows' AND s.installed_version IS NOT s.running_version"
            }
            Show::ServerSync => {
                " AND s.server_sync_required = 1 AND EXISTS (SELECT 1 FROM transformations t
                        WHERE t.source_id = s.id AND t.has_full_replication = 1)"
            }
            Show::Running => {
                " AND EXISTS (SELECT 1 FROM operations o WHERE o.source_id = s.id
                        AND o.status IN ('queued', 'running'))"
            }
        });
    }
}

/// The most matches that a search through the index sorts by name or replication; past it, the
/// scan in the sort's order is faster (it stops once the page is full, and so many matches fill
/// it soon).
const SORTED_MAX: i64 = 2_000;

/// How many sources match, counted up to `COUNT_CAP` and one.
async fn count_matching(r: &mut impl Read, matching: &Matching, show: Show) -> Result<i64> {
    let mut c = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1");
    matching.push_from_where(&mut c, show);
    c.push(" LIMIT ")
        .push_bind(i64::try_from(super::super::pages::COUNT_CAP).unwrap_or(i64::MAX) + 1)
        .push(")");
    Ok(c.build_query_scalar().fetch_one(conn(r)).await?)
}

/// A page of the workloads that match `search`, and how many match (capped as the pages' counts
/// are: `pages::COUNT_CAP`). A text of three characters or more is looked up in the trigram
/// index, so that finding one machine among a million takes milliseconds.
pub async fn search(
    r: &mut impl Read,
    search: &Search,
    page: Page,
) -> Result<(Vec<Source>, super::super::pages::Capped)> {
    let mut matching = match search.text.as_deref().filter(|t| !t.is_empty()) {
        None => Matching::All,
        Some(text) if text.chars().count() >= 3 => Matching::phrase(text),
        Some(text) => Matching::pattern(text),
    };
    let count = count_matching(r, &matching, search.show).await?;
    if let (Some(text), Matching::Indexed(_)) = (search.text.as_deref(), &matching)
        && search.sort != Sort::Added
        && count > SORTED_MAX
    {
        matching = Matching::pattern(text);
    }
    let direction = if search.descending { "DESC" } else { "ASC" };
    let order = match search.sort {
        Sort::Added => format!("s.rowid {direction}"),
        Sort::Name => format!("s.host_name COLLATE NOCASE {direction}, s.rowid"),
        Sort::LastReplication => format!(
            "(SELECT o.completed_at FROM operations o WHERE o.source_id = s.id
                AND o.operation_type = 'Migrate' ORDER BY o.seq DESC LIMIT 1) IS NULL,
              (SELECT o.completed_at FROM operations o WHERE o.source_id = s.id
                AND o.operation_type = 'Migrate' ORDER BY o.seq DESC LIMIT 1) {direction}, s.rowid"
        ),
    };
    let mut q =
        QueryBuilder::<Sqlite>::new(concat!("SELECT ", source_columns!("s"), " FROM sources s"));
    if let Matching::Indexed(_) = matching {
        // The page's rowids through the index (in the index's own rowid order when sorted by
        // addition, so that the walk stops at the page's end), then their rows: the index's
        // columns would be ambiguous beside the table's.
        let inner_order = match search.sort {
            Sort::Added => format!("f.rowid {direction}"),
            _ => order.clone(),
        };
        q.push(" WHERE s.rowid IN (SELECT f.rowid");
        matching.push_from_where(&mut q, search.show);
        q.push(format_args!(" ORDER BY {inner_order} LIMIT "))
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset)
            .push(")");
        q.push(format_args!(" ORDER BY {order}"));
    } else {
        q = QueryBuilder::<Sqlite>::new(concat!("SELECT ", source_columns!("s")));
        matching.push_from_where(&mut q, search.show);
        q.push(format_args!(" ORDER BY {order} LIMIT "))
            .push_bind(page.limit)
            .push(" OFFSET ")
            .push_bind(page.offset);
    }
    let rows: Vec<SourceRow> = q.build_query_as().fetch_all(conn(r)).await?;
    let sources = rows
        .into_iter()
        .map(SourceRow::into_source)
        .collect::<Result<_>>()?;
    Ok((sources, super::super::pages::Capped::new(count)))
}
