-- Confirmed contact: a volunteer proves that a phone number or e-mail address is theirs with a
-- one-time code (SendContactCode, ConfirmContact). Where privacy.require_confirmed_contact is
-- on, matching learns of a volunteer only once this is set.
ALTER TABLE volunteers ADD COLUMN contact_confirmed_at timestamptz;
-- 1 SMS, 2 e-mail (AlertChannel): which contact was confirmed.
ALTER TABLE volunteers ADD COLUMN contact_confirmed_channel smallint;

-- The one open code of a volunteer: only its keyed hash (HMAC-SHA256 under the lookup key,
-- bound to the volunteer), deleted once confirmed or replaced by the next code.
CREATE TABLE contact_codes (
    volunteer_id    uuid PRIMARY KEY REFERENCES volunteers (id) ON DELETE CASCADE,
    channel         smallint NOT NULL,
    code_hash       bytea NOT NULL,
    expires_at      timestamptz NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    sent_at         timestamptz NOT NULL,
    -- Codes sent since window_started_at (at most 5 a day).
    sends_in_window integer NOT NULL,
    window_started_at timestamptz NOT NULL
);
