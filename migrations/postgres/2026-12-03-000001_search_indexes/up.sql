-- Searches for part of a name at the scale of issue 16 (10,000 applications, 10,000 people,
-- 100,000 audit events; each list page under 20 ms). Keep in step with the other database's
-- migration of the same name.
--
-- lower(column) LIKE '%text%' (paging.rs) cannot use a B-tree, and computing lower() for
-- every row of a 10,000-row table is what made a search slow. Trigram indexes (pg_trgm,
-- shipped with PostgreSQL, a trusted extension since PostgreSQL 13: the database's owner may
-- create it) answer such a LIKE from the index. Each searched column gets one; the queries
-- ask each column in its own subquery so that each can use its index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX applications_name_search ON applications USING gin (lower(name) gin_trgm_ops);
CREATE INDEX applications_client_id_search ON applications USING gin (lower(client_id) gin_trgm_ops);
CREATE INDEX organisations_name_search ON organisations USING gin (lower(name) gin_trgm_ops);
CREATE INDEX users_email_search ON users USING gin (lower(email) gin_trgm_ops);
CREATE INDEX users_display_name_search ON users USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX users_subject_search ON users USING gin (lower(subject) gin_trgm_ops);
CREATE INDEX audit_actors_search ON audit_actors USING gin (lower(actor) gin_trgm_ops);

-- The audit log reads a page's ids first (audit::query::page), newest first by
-- (occurred_at, id): with the id in each index, that read and the count use the index alone.
-- (SQLite's indexes hold the id already: it is the rowid.)
DROP INDEX audit_events_time;
DROP INDEX audit_events_organisation;
DROP INDEX audit_events_application;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_action;
CREATE INDEX audit_events_time ON audit_events (occurred_at, id);
CREATE INDEX audit_events_organisation ON audit_events (organisation_id, occurred_at, id);
CREATE INDEX audit_events_application ON audit_events (application_id, occurred_at, id);
CREATE INDEX audit_events_actor ON audit_events (actor, actor_kind, occurred_at, id);
CREATE INDEX audit_events_action ON audit_events (action, occurred_at, id);
