-- Who started an operation (the signed-in user, or the runner that chained it): Command Details
-- shows it. Operations stored before have none.
ALTER TABLE operations ADD COLUMN started_by TEXT;

-- The Workloads page sorted by name walks this index rather than sorting every source.
CREATE INDEX sources_by_name ON sources (host_name COLLATE NOCASE);
