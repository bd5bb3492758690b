-- Who started an operation (the signed-in user, or the runner that chained it): Command Details
-- shows it. Operations stored before have none.
ALTER TABLE operations ADD COLUMN started_by TEXT;
