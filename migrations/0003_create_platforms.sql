-- Target platforms (what a transformation migrates to, such as an Azure location) and their
-- operations (the PreDiscovery that follows an add). A platform's operations are kept apart from
-- the contracts' `operations`, whose rows always belong to a transformation and a source.
-- No password is stored: the emulator connects to nothing.

CREATE TABLE platforms (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    platform_type    TEXT NOT NULL CHECK (platform_type IN ('AzureCloud')),
    username         TEXT NOT NULL,
    azure_cloud_name TEXT NOT NULL
                     CHECK (azure_cloud_name IN ('AzureCloud', 'AzureChinaCloud', 'AzureUSGovernment', 'AzureGermanCloud')),
    location_name    TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    application_id   TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('Discovering', 'Discovered', 'DiscoveryFailed')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE platform_operations (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    platform_id    TEXT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    operation_type TEXT NOT NULL CHECK (operation_type IN ('PreDiscovery')),
    status         TEXT NOT NULL
                   CHECK (status IN ('queued', 'running', 'succeeded', 'succeededWithWarnings', 'failed', 'aborted')),
    progress       INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    sub_operations TEXT NOT NULL,   -- JSON: [{name, status, progress, subOperations: [...]}]
    error          TEXT,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    completed_at   TEXT,
    updated_at     TEXT NOT NULL
);
-- At most one queued or running operation per platform, whatever the races.
CREATE UNIQUE INDEX platform_operations_one_active ON platform_operations (platform_id)
    WHERE status IN ('queued', 'running');
CREATE INDEX platform_operations_by_platform ON platform_operations (platform_id, seq);
