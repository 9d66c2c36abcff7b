-- Messages from coordinators to the volunteers of a task or an incident, and reminders before
-- a task starts (issue #19, item 3). Sent through the alert queue like offers.

-- The volunteer wants no non-essential messages and no reminders (VolunteerProfile).
ALTER TABLE volunteers ADD COLUMN messages_opt_out boolean NOT NULL DEFAULT false;

-- What registration needs of a match to reach its volunteer about it: the incident (messages
-- to a whole incident), the start (reminders) and the task's title (their text). Unknown for
-- matches seen before this migration.
ALTER TABLE matches_seen
    ADD COLUMN incident_id uuid,
    ADD COLUMN starts_at timestamptz,
    ADD COLUMN task_title text;
CREATE INDEX matches_seen_task ON matches_seen (task_id, state);
CREATE INDEX matches_seen_incident ON matches_seen (incident_id, state);
CREATE INDEX matches_seen_accepted_start ON matches_seen (starts_at) WHERE state = 3;

-- Each message as sent: the record of who sent what, for which incident or task.
CREATE TABLE volunteer_messages (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    incident_id     uuid NOT NULL,
    -- NULL: every task of the incident.
    task_id         uuid,
    body            text NOT NULL,
    essential       boolean NOT NULL,
    sender_subject  text NOT NULL,
    sender_role     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX volunteer_messages_incident ON volunteer_messages (incident_id, created_at);
CREATE INDEX volunteer_messages_rate ON volunteer_messages (organisation_id, incident_id, created_at);

-- One alert per recipient of a message; offers, withdrawals and reminders stay one per match.
ALTER TABLE alerts DROP CONSTRAINT alerts_match_id_kind_key;
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('offer', 'withdrawn', 'message', 'reminder'));
ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'opted_out'));
ALTER TABLE alerts
    ADD COLUMN message_id uuid REFERENCES volunteer_messages (id) ON DELETE CASCADE,
    ADD COLUMN body text;
CREATE UNIQUE INDEX alerts_once_per_match ON alerts (match_id, kind) WHERE message_id IS NULL;
CREATE UNIQUE INDEX alerts_once_per_message ON alerts (message_id, volunteer_id)
    WHERE message_id IS NOT NULL;
