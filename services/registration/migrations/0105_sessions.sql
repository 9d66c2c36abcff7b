-- Volunteer sessions: one per device, with a refresh token that is stored only as its SHA-256
-- hash and replaced on every use. The previous hash is kept so that a token used after it was
-- replaced (a stolen copy, used by the thief or by the owner after the thief) ends the
-- session for both. Access tokens name their session (`sid`) and live minutes.
CREATE TABLE volunteer_sessions (
    id            uuid PRIMARY KEY,
    volunteer_id  uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    refresh_hash  bytea NOT NULL UNIQUE,
    previous_hash bytea UNIQUE,
    created_at    timestamptz NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    -- Refreshing moves this on by auth.volunteer_session_days.
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    -- Why it ended: 'signed_out', 'reused', 'signed_out_everywhere'.
    revoked_reason text
);

CREATE INDEX volunteer_sessions_by_volunteer ON volunteer_sessions (volunteer_id);

-- Access tokens issued before this instant are refused ("sign out everywhere").
ALTER TABLE volunteers ADD COLUMN tokens_not_before timestamptz;
