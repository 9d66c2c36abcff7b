-- The read model matching consumes (volunteers, incidents, tasks), the matches it owns and the
-- per-incident change log that dashboards poll.

-- Volunteers as matching needs them; no contact data. An erased volunteer keeps a row with
-- status 'erased', no data and the highest version, so that replaying the compacted topic from
-- the start can never bring them back.
CREATE TABLE volunteers (
    id               uuid PRIMARY KEY,
    skills           text[] NOT NULL DEFAULT '{}',
    languages        text[] NOT NULL DEFAULT '{}',
    age_band         smallint NOT NULL DEFAULT 0,
    -- Lowest age of the band (0 when unknown): compared with a task's min_age.
    min_age_reached  smallint NOT NULL DEFAULT 0,
    latitude         double precision,
    longitude        double precision,
    travel_radius_km double precision NOT NULL DEFAULT 0,
    -- [[start, end], ...] in RFC 3339, sorted and non-overlapping.
    availability     jsonb NOT NULL DEFAULT '[]',
    status           text NOT NULL CHECK (status IN ('active', 'paused', 'erased')),
    version          bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Incidents; `last_sequence` is the head of the incident's change log, and its row lock
-- serialises the transitions of one incident so sequences commit in order.
CREATE TABLE incidents (
    id               uuid PRIMARY KEY,
    organisation_id  text NOT NULL,
    centre_latitude  double precision,
    centre_longitude double precision,
    region_radius_km double precision,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    last_sequence    bigint NOT NULL DEFAULT 0,
    version          bigint NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    incident_id      uuid NOT NULL,
    organisation_id  text NOT NULL,
    title            text NOT NULL,
    address          text NOT NULL,
    required_skills  text[] NOT NULL DEFAULT '{}',
    preferred_skills text[] NOT NULL DEFAULT '{}',
    min_age          integer NOT NULL DEFAULT 0,
    headcount        integer NOT NULL CHECK (headcount >= 0),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    priority         smallint NOT NULL,
    latitude         double precision NOT NULL,
    longitude        double precision NOT NULL,
    max_distance_km  double precision NOT NULL DEFAULT 0,
    status           text NOT NULL
        CHECK (status IN ('open', 'staffed', 'in_progress', 'completed', 'cancelled')),
    version          bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_incident ON tasks (incident_id);
CREATE INDEX tasks_matchable ON tasks (priority, starts_at) WHERE status IN ('open', 'staffed');

-- Per-incident pseudonyms: random, so unlinkable across incidents; deleted on erasure.
CREATE TABLE volunteer_refs (
    incident_id  uuid NOT NULL,
    volunteer_id uuid NOT NULL,
    ref          text NOT NULL,
    PRIMARY KEY (incident_id, volunteer_id),
    UNIQUE (incident_id, ref)
);

CREATE TABLE matches (
    id             uuid PRIMARY KEY,
    task_id        uuid NOT NULL REFERENCES tasks (id),
    incident_id    uuid NOT NULL,
    volunteer_id   uuid NOT NULL,
    volunteer_ref  text NOT NULL,
    state          text NOT NULL CHECK (state IN ('proposed', 'offered', 'accepted', 'checked_in',
        'completed', 'declined', 'expired', 'cancelled', 'no_show')),
    slot           tstzrange NOT NULL,
    explanation    jsonb NOT NULL,
    decline_reason smallint NOT NULL DEFAULT 0,
    cancel_reason  smallint NOT NULL DEFAULT 0,
    offered_at     timestamptz,
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    version        bigint NOT NULL DEFAULT 1,
    -- A volunteer is offered one task at most once, whatever became of the offer.
    CONSTRAINT matches_once_per_task UNIQUE (task_id, volunteer_id),
    -- Never double-booked, whichever replica offers: enforced here, not in memory.
    CONSTRAINT matches_no_double_booking EXCLUDE USING gist (volunteer_id WITH =, slot WITH &&)
        WHERE (state IN ('proposed', 'offered', 'accepted', 'checked_in'))
);
CREATE INDEX matches_task_state ON matches (task_id, state);
CREATE INDEX matches_volunteer_state ON matches (volunteer_id, state);
CREATE INDEX matches_expiry ON matches (expires_at) WHERE state = 'offered';

-- The dashboard feed: no personal data, cheap to read after a cursor.
CREATE TABLE match_changes (
    incident_id    uuid NOT NULL,
    sequence       bigint NOT NULL,
    match_id       uuid NOT NULL,
    task_id        uuid NOT NULL,
    volunteer_ref  text NOT NULL,
    state          text NOT NULL,
    previous_state text,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    explanation    jsonb NOT NULL,
    PRIMARY KEY (incident_id, sequence)
);
