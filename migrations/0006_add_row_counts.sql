-- Counts of the listed tables, kept by triggers in the transaction of each write (issue 21): a
-- list's totalCount and the dashboard's numbers read a few rows here instead of counting
-- millions. They never drift: a trigger's change commits or rolls back with the row's.
--
-- One row per (table, a, b), a and b being the columns the lists filter on:
--   sources: a = '1' when the workload waits for a reboot (Windows, installed IS NOT running),
--            b = '1' when a server-sync replication is required;
--   events:  a = kind;
--   tasks:   a = state, b = kind.
-- A filtered count is the sum of the few rows that match; the total, the sum of the table's.
CREATE TABLE row_counts (
    tbl TEXT NOT NULL,
    a   TEXT NOT NULL,
    b   TEXT NOT NULL,
    n   INTEGER NOT NULL,
    PRIMARY KEY (tbl, a, b)
) WITHOUT ROWID;

INSERT INTO row_counts (tbl, a, b, n)
SELECT 'sources',
       CASE WHEN os_family = 'windows' AND installed_version IS NOT running_version THEN '1' ELSE '0' END,
       CASE WHEN server_sync_required = 1 THEN '1' ELSE '0' END,
       COUNT(*)
FROM sources GROUP BY 2, 3;
INSERT INTO row_counts (tbl, a, b, n) SELECT 'events', kind, '', COUNT(*) FROM events GROUP BY kind;
INSERT INTO row_counts (tbl, a, b, n) SELECT 'tasks', state, kind, COUNT(*) FROM tasks GROUP BY state, kind;

CREATE TRIGGER sources_counted AFTER INSERT ON sources BEGIN
    INSERT INTO row_counts (tbl, a, b, n) VALUES ('sources',
        CASE WHEN NEW.os_family = 'windows' AND NEW.installed_version IS NOT NEW.running_version THEN '1' ELSE '0' END,
        CASE WHEN NEW.server_sync_required = 1 THEN '1' ELSE '0' END, 1)
    ON CONFLICT (tbl, a, b) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER sources_uncounted AFTER DELETE ON sources BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'sources'
        AND a = CASE WHEN OLD.os_family = 'windows' AND OLD.installed_version IS NOT OLD.running_version THEN '1' ELSE '0' END
        AND b = CASE WHEN OLD.server_sync_required = 1 THEN '1' ELSE '0' END;
END;
-- Only the columns the keys are made of: a steady report (its times only) fires nothing.
CREATE TRIGGER sources_recounted
AFTER UPDATE OF os_family, installed_version, running_version, server_sync_required ON sources BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'sources'
        AND a = CASE WHEN OLD.os_family = 'windows' AND OLD.installed_version IS NOT OLD.running_version THEN '1' ELSE '0' END
        AND b = CASE WHEN OLD.server_sync_required = 1 THEN '1' ELSE '0' END;
    INSERT INTO row_counts (tbl, a, b, n) VALUES ('sources',
        CASE WHEN NEW.os_family = 'windows' AND NEW.installed_version IS NOT NEW.running_version THEN '1' ELSE '0' END,
        CASE WHEN NEW.server_sync_required = 1 THEN '1' ELSE '0' END, 1)
    ON CONFLICT (tbl, a, b) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER events_counted AFTER INSERT ON events BEGIN
    INSERT INTO row_counts (tbl, a, b, n) VALUES ('events', NEW.kind, '', 1)
    ON CONFLICT (tbl, a, b) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER events_uncounted AFTER DELETE ON events BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'events' AND a = OLD.kind AND b = '';
END;

CREATE TRIGGER tasks_counted AFTER INSERT ON tasks BEGIN
    INSERT INTO row_counts (tbl, a, b, n) VALUES ('tasks', NEW.state, NEW.kind, 1)
    ON CONFLICT (tbl, a, b) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_uncounted AFTER DELETE ON tasks BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'tasks' AND a = OLD.state AND b = OLD.kind;
END;
CREATE TRIGGER tasks_recounted AFTER UPDATE OF state, kind ON tasks BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'tasks' AND a = OLD.state AND b = OLD.kind;
    INSERT INTO row_counts (tbl, a, b, n) VALUES ('tasks', NEW.state, NEW.kind, 1)
    ON CONFLICT (tbl, a, b) DO UPDATE SET n = n + 1;
END;

-- The Tasks page's workload menu: the first 500 host names in order, read from an index rather
-- than sorting every source.
CREATE INDEX sources_by_host_name ON sources (host_name COLLATE NOCASE);
