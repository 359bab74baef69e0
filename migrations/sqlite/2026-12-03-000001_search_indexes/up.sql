-- Nothing to change on SQLite; the migration of the same name exists on PostgreSQL. There,
-- trigram indexes answer searches for part of a name, and the audit indexes gain the id.
-- SQLite has no trigram index (its search reads every row, fast enough at the scale of
-- issue 16), and each of its indexes holds the id already (the rowid).
SELECT 1;
