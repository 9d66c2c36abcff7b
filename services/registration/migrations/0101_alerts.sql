-- Alerts to volunteers, written by the match consumer in the transaction that marks the event
-- processed, and sent by the dispatcher off the consumer's path (retries with backoff). No
-- contact data here: the address is decrypted at send time.
CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    volunteer_id    uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    match_id        uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('offer', 'withdrawn')),
    task_title      text NOT NULL DEFAULT '',
    offer_expires_at timestamptz,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    channel         smallint,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (match_id, kind)
);

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'pending';

-- The matches registration was told about, for GetVolunteerContact and the export.
CREATE TABLE matches_seen (
    match_id        uuid PRIMARY KEY,
    volunteer_id    uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    task_id         uuid NOT NULL,
    organisation_id text NOT NULL,
    state           smallint NOT NULL,
    version         bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every read of a volunteer's contact by staff (who, which match, when).
CREATE TABLE contact_access_audit (
    id           bigserial PRIMARY KEY,
    match_id     uuid NOT NULL,
    volunteer_id uuid NOT NULL,
    accessor     text NOT NULL,
    accessed_at  timestamptz NOT NULL DEFAULT now()
);
