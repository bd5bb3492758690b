-- The time of each source's latest steady report (an agent's "nothing changed", most of all
-- reports), kept apart from the source's row: rewriting this short row costs a fraction of
-- rewriting the source's fifteen columns, and a batch of reports dirties a page or two of it
-- instead of a page per few sources (issue 21).
--
-- A source's `updatedAt` and `lastReportAt` are the later of its own columns and this time
-- (`source_columns!` in `db::sources`). Written by the steady reports' own connection
-- (`db::steady::direct`) only, keyed by the source's rowid; the source's id is kept beside it,
-- and a row is only read for the source whose rowid and id it names. Deletes are the db
-- layer's, as for the search index (`migrations/0007_add_sources_search.sql`): a per-row
-- trigger would slow the clearing of a million sources, and a row left behind is read for no
-- one.
CREATE TABLE source_reports (
    source_rowid INTEGER PRIMARY KEY,
    source_id    TEXT NOT NULL,
    reported_at  TEXT NOT NULL
);
