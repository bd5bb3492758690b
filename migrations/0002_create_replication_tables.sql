-- Replications: migration contracts (transformations) and their operations.

CREATE TABLE transformations (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    -- one contract per workload, as in the product
    source_id            TEXT NOT NULL UNIQUE REFERENCES sources (id) ON DELETE CASCADE,
    state                TEXT NOT NULL CHECK (state IN ('Configured', 'Prepared', 'TestCutover', 'CutOver')),
    has_full_replication INTEGER NOT NULL DEFAULT 0 CHECK (has_full_replication IN (0, 1)),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

CREATE TABLE operations (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    transformation_id   TEXT NOT NULL REFERENCES transformations (id) ON DELETE CASCADE,
    source_id           TEXT NOT NULL,
    operation_type      TEXT NOT NULL,
    migration_type      TEXT,
    performed_as        TEXT,
    status              TEXT NOT NULL
                        CHECK (status IN ('queued', 'running', 'succeeded', 'succeededWithWarnings', 'failed', 'aborted')),
    progress            INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    steps               TEXT NOT NULL,              -- JSON: [{name, status, progress, startedAt, completedAt}]
    driver_version_used TEXT,
    transfer_method     TEXT,
    warnings            TEXT NOT NULL DEFAULT '[]', -- JSON: [{code, message}]
    clears_server_sync  INTEGER NOT NULL DEFAULT 0,
    options             TEXT NOT NULL DEFAULT '{}', -- JSON: the options the client gave
    error               TEXT,
    created_at          TEXT NOT NULL,
    started_at          TEXT,
    completed_at        TEXT,
    updated_at          TEXT NOT NULL
);
-- At most one queued or running operation per contract, whatever the races.
CREATE UNIQUE INDEX operations_one_active ON operations (transformation_id)
    WHERE status IN ('queued', 'running');
CREATE INDEX operations_by_transformation ON operations (transformation_id, seq);
CREATE INDEX operations_by_source ON operations (source_id, seq);
