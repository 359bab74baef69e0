DROP INDEX audit_events_time;
DROP INDEX audit_events_organisation;
DROP INDEX audit_events_application;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_action;
CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_organisation ON audit_events (organisation_id, occurred_at);
CREATE INDEX audit_events_application ON audit_events (application_id, occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor, actor_kind, occurred_at);
CREATE INDEX audit_events_action ON audit_events (action, occurred_at);
DROP INDEX audit_actors_search;
DROP INDEX users_subject_search;
DROP INDEX users_display_name_search;
DROP INDEX users_email_search;
DROP INDEX organisations_name_search;
DROP INDEX applications_client_id_search;
DROP INDEX applications_name_search;
-- pg_trgm stays: other objects may use it, and it costs nothing unused.
