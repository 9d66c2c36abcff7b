-- Volunteers. Contact data (name, phone, e-mail, messenger ids, push token, exact home
-- location) exists only inside `contact_ciphertext`, sealed with the volunteer's own data key;
-- that key exists only wrapped by the master key (`wrapped_key`, `key_id`). Erasure sets every
-- personal column to NULL and keeps the id, status and erasure time, so that old tokens are
-- refused and a retried EraseMe answers the same.
CREATE TABLE volunteers (
    id                   uuid PRIMARY KEY,
    status               text NOT NULL CHECK (status IN ('active', 'paused', 'erased')),
    -- Matching data (what events carry, apart from the exact birth year).
    skill_ids            text[] NOT NULL DEFAULT '{}',
    languages            text[] NOT NULL DEFAULT '{}',
    birth_year           integer,
    approx_latitude      double precision,
    approx_longitude     double precision,
    travel_radius_km     double precision,
    preferred_channel    smallint,
    -- Envelope encryption (XChaCha20-Poly1305): contact sealed with the data key, data key
    -- sealed with the master key named by key_id.
    contact_ciphertext   bytea,
    contact_nonce        bytea,
    wrapped_key          bytea,
    wrapped_key_nonce    bytea,
    key_id               text,
    -- HMAC-SHA256 of the normalised phone / e-mail under the lookup key: finds duplicates
    -- without storing either in clear.
    phone_hash           bytea,
    email_hash           bytea,
    -- The earlier volunteer with the same phone or e-mail, if any (see docs/privacy.md).
    duplicate_of         uuid,
    consent_text_version text,
    consent_given_at     timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    erased_at            timestamptz,
    version              bigint NOT NULL DEFAULT 1,
    CHECK (status <> 'erased' OR (contact_ciphertext IS NULL AND wrapped_key IS NULL
                                  AND phone_hash IS NULL AND email_hash IS NULL
                                  AND birth_year IS NULL))
);

CREATE INDEX volunteers_phone_hash ON volunteers (phone_hash) WHERE phone_hash IS NOT NULL;
CREATE INDEX volunteers_email_hash ON volunteers (email_hash) WHERE email_hash IS NOT NULL;

CREATE TABLE availability (
    volunteer_id uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    start_time   timestamptz NOT NULL,
    end_time     timestamptz NOT NULL CHECK (end_time > start_time),
    PRIMARY KEY (volunteer_id, start_time)
);

-- Register's idempotency: a key names one volunteer and the fingerprint (keyed hash) of the
-- request that created it. Deleted with the volunteer's personal data.
CREATE TABLE idempotency_keys (
    idempotency_key uuid PRIMARY KEY,
    volunteer_id    uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    fingerprint     bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Tokens handed out (times only, never the token), for the export.
CREATE TABLE tokens_issued (
    id           bigserial PRIMARY KEY,
    volunteer_id uuid NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- The skill taxonomy, upserted from spontan_platform::skills::TAXONOMY at every start.
CREATE TABLE skills (
    id       text PRIMARY KEY,
    label_de text NOT NULL,
    label_en text NOT NULL,
    category text NOT NULL
);

-- Proof that an erasure happened, without any personal data: the (pseudonymous) id whose
-- data was destroyed, when, and why.
CREATE TABLE erasure_audit (
    id           bigserial PRIMARY KEY,
    volunteer_id uuid NOT NULL,
    erased_at    timestamptz NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('request', 'retention'))
);
