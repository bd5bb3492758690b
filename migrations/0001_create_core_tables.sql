-- The server core: source machines, driver packages, tasks and events.
-- Times are RFC 3339 UTC text, ids UUID text. Lists are ordered by `seq`, newest first.

CREATE TABLE sources (
    id                   TEXT PRIMARY KEY NOT NULL,
    machine_id           TEXT UNIQUE,          -- the agent's own machine id; NULL when added through the API
    host_name            TEXT NOT NULL,
    os_family            TEXT NOT NULL CHECK (os_family IN ('windows', 'linux')),
    platform             TEXT NOT NULL CHECK (platform IN ('windows-x64', 'windows-x86', 'linux-x64')),
    ip_address           TEXT NOT NULL,
    added_by             TEXT NOT NULL CHECK (added_by IN ('agent', 'api')),
    controller_service   TEXT NOT NULL DEFAULT 'notInstalled'
                         CHECK (controller_service IN ('notInstalled', 'installed', 'running')),
    installed_version    TEXT,
    running_version      TEXT,
    server_sync_required INTEGER NOT NULL DEFAULT 0 CHECK (server_sync_required IN (0, 1)),
    agent_token_sha256   TEXT,                 -- only the token's hash is kept
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    last_report_at       TEXT
);

CREATE TABLE driver_packages (
    id          TEXT PRIMARY KEY NOT NULL,
    platform    TEXT NOT NULL CHECK (platform IN ('windows-x64', 'windows-x86', 'linux-x64')),
    version     TEXT NOT NULL,
    version_key TEXT NOT NULL,   -- zero-padded, sorts like the version
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('sample', 'upload')),
    file_name   TEXT NOT NULL,   -- relative to its origin's directory; never from a client
    file_mtime  TEXT NOT NULL,   -- the file's modification time when it was hashed
    created_at  TEXT NOT NULL,
    UNIQUE (platform, version)
);
CREATE INDEX driver_packages_latest ON driver_packages (platform, version_key DESC);

CREATE TABLE tasks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('RebootRequired', 'MarkTestSuccess', 'MarkTestFailure')),
    source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    message     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'dismissed', 'resolved')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT
);
-- SPEC 3.2: exactly one active reboot-notification task per machine, whatever the races.
CREATE UNIQUE INDEX tasks_one_active_reboot ON tasks (source_id)
    WHERE kind = 'RebootRequired' AND state = 'active';
CREATE INDEX tasks_by_source ON tasks (source_id, seq);
CREATE INDEX tasks_by_state ON tasks (state, seq);

-- Events outlive their source: the history of a deleted machine stays readable.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    source_id  TEXT,
    message    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX events_by_source ON events (source_id, seq);
CREATE INDEX events_by_kind ON events (kind, seq);
