-- Expiry reminders: where each organisation wants them besides its credential managers, and
-- every reminder e-mail to be sent, claimed and tracked here so that it goes out exactly once
-- across instances and restarts. Keep in step with migrations/postgres.

-- An optional shared mailbox (say, the partner's integration team) that also gets reminders.
ALTER TABLE organisations ADD COLUMN notification_email TEXT;

-- The role a person's ID token claimed at their latest sign-in (when roles come from the
-- identity provider), so reminders reach credential managers Clavis has no assignment for.
ALTER TABLE users ADD COLUMN claimed_role TEXT;
ALTER TABLE users ADD COLUMN claimed_organisation_id TEXT;

-- One row per (secret, stage, recipient): the unique key is what makes each reminder go out
-- once. No foreign keys: the record of what was sent outlives a deleted secret.
-- status: pending (waiting for next_attempt_at), sending (claimed by an instance at
-- claimed_at), sent, failed (gave up), superseded (a later reminder of the same secret was
-- due before this one went out) or cancelled (the secret was deleted or replaced).
CREATE TABLE reminder_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    secret_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_order INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'superseded', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_at TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX reminder_deliveries_key ON reminder_deliveries (secret_id, stage, recipient);
CREATE INDEX reminder_deliveries_due ON reminder_deliveries (status, next_attempt_at);
CREATE INDEX reminder_deliveries_recipient ON reminder_deliveries (recipient, last_attempt_at);

INSERT INTO job_locks (name) VALUES ('expiry_reminders');
