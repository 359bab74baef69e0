-- What the portal's lists need at scale (issue 16: 10,000 applications, 10,000 people,
-- 100,000 audit events, each list page under 20 ms). Keep in step with the other
-- database's migration of the same name.

-- The applications list's default order (lower(name), then id) read from an index instead
-- of sorting every application for each page.
CREATE INDEX applications_name_order ON applications (lower(name), id);

-- The people list's default order: people with an e-mail address first, by address.
CREATE INDEX users_email_order ON users ((email IS NULL), lower(email), id);

-- The actor index gains the actor's kind, so that counting the events of the actors an
-- actor search found ("by a person named ..." is kind user and these addresses) reads the
-- index alone instead of every matching event.
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_actor ON audit_events (actor, actor_kind, occurred_at);

-- Every actor the audit trail names, once: a search for part of an actor's name reads these
-- few thousand values instead of every event (audit::query). Kept complete by the trigger
-- below; events are never changed or deleted, so an actor once listed stays.
CREATE TABLE audit_actors (
    actor TEXT PRIMARY KEY NOT NULL
);
INSERT INTO audit_actors (actor) SELECT DISTINCT actor FROM audit_events;
CREATE TRIGGER audit_events_actor_listed AFTER INSERT ON audit_events
BEGIN
    INSERT OR IGNORE INTO audit_actors (actor) VALUES (NEW.actor);
END;
