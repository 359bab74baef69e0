DROP TRIGGER audit_events_actors_listed ON audit_events;
DROP FUNCTION audit_events_list_actors();
DROP TABLE audit_actors;
DROP INDEX users_email_order;
DROP INDEX applications_name_order;
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at);
