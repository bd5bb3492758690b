-- Issue 17: the transformation as the real API documents it (displayName, platformId, tags) and
-- its setting groups (Storage, Networking, Schedule, TargetSettings, ReplicationSettings).

-- The workload's name unless the client named the transformation; rows made before this
-- migration take their source's host name.
ALTER TABLE transformations ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
UPDATE transformations
   SET display_name = (SELECT host_name FROM sources WHERE sources.id = transformations.source_id);
-- The target platform (a `/platforms` id), NULL when none was given.
ALTER TABLE transformations ADD COLUMN platform_id TEXT;
-- JSON array of strings, or NULL as the API shows `"tags": null`.
ALTER TABLE transformations ADD COLUMN tags TEXT;

-- One row per transformation, each group as JSON in the shape the API answers (without its
-- links). A transformation without a row (made before this migration, or by the seed file) has
-- its defaults, derived from its workload.
CREATE TABLE transformation_settings (
    transformation_id    TEXT PRIMARY KEY NOT NULL REFERENCES transformations (id) ON DELETE CASCADE,
    storage              TEXT NOT NULL,
    networking           TEXT NOT NULL,
    schedule             TEXT NOT NULL,
    target_settings      TEXT NOT NULL,
    replication_settings TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
