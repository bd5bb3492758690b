-- The Workloads page's search (any part of a host name or IP address) in a time that does not grow
-- with the number of sources: a trigram full-text index of both columns, keyed by the source's
-- rowid. Contentless: it keeps the trigrams, not the text.
--
-- Inserts and renames keep it by trigger. Deletes are the db layer's: `db::sources::delete`
-- removes the row's entry and `db::reset::clear` empties the index with the table, because a
-- per-row delete trigger would make clearing a million sources take more than a minute. A row
-- deleted any other way would leave its entry behind for the next row given its rowid.
CREATE VIRTUAL TABLE sources_search USING fts5(
    host_name, ip_address,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO sources_search (rowid, host_name, ip_address)
    SELECT rowid, host_name, ip_address FROM sources;

CREATE TRIGGER sources_searchable AFTER INSERT ON sources BEGIN
    INSERT INTO sources_search (rowid, host_name, ip_address)
        VALUES (new.rowid, new.host_name, new.ip_address);
END;

CREATE TRIGGER sources_researchable AFTER UPDATE OF host_name, ip_address ON sources BEGIN
    DELETE FROM sources_search WHERE rowid = old.rowid;
    INSERT INTO sources_search (rowid, host_name, ip_address)
        VALUES (new.rowid, new.host_name, new.ip_address);
END;
