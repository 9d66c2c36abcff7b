-- Incidents, tasks and their staffing, idempotency keys and the coordinators' audit trail.
-- Enumerations are stored as lowercase text with CHECK constraints: readable in psql and in
-- backups, and a new value is one constraint change.

CREATE TABLE incidents (
    incident_id      uuid PRIMARY KEY,
    organisation_id  text NOT NULL,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    centre_latitude  double precision NOT NULL CHECK (centre_latitude BETWEEN -90 AND 90),
    centre_longitude double precision NOT NULL CHECK (centre_longitude BETWEEN -180 AND 180),
    region_radius_km double precision NOT NULL CHECK (region_radius_km > 0),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    version          bigint NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- ListIncidents: newest first, optionally per organisation and status; keyset pagination.
CREATE INDEX incidents_listing ON incidents (organisation_id, created_at DESC, incident_id DESC);
CREATE INDEX incidents_newest ON incidents (created_at DESC, incident_id DESC);

CREATE TABLE tasks (
    task_id             uuid PRIMARY KEY,
    incident_id         uuid NOT NULL REFERENCES incidents (incident_id),
    organisation_id     text NOT NULL,
    title               text NOT NULL,
    description         text NOT NULL DEFAULT '',
    meeting_latitude    double precision NOT NULL CHECK (meeting_latitude BETWEEN -90 AND 90),
    meeting_longitude   double precision NOT NULL CHECK (meeting_longitude BETWEEN -180 AND 180),
    address             text NOT NULL,
    required_skill_ids  text[] NOT NULL DEFAULT '{}',
    preferred_skill_ids text[] NOT NULL DEFAULT '{}',
    min_age             integer NOT NULL DEFAULT 0 CHECK (min_age = 0 OR min_age BETWEEN 16 AND 99),
    headcount           integer NOT NULL CHECK (headcount BETWEEN 1 AND 500),
    window_start        timestamptz NOT NULL,
    window_end          timestamptz NOT NULL CHECK (window_end > window_start),
    -- 1 critical … 4 low, as in the proto enum, so that ORDER BY priority is most urgent first.
    priority            smallint NOT NULL CHECK (priority BETWEEN 1 AND 4),
    max_distance_km     double precision NOT NULL DEFAULT 0 CHECK (max_distance_km >= 0),
    safety_notes        text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'staffed', 'in_progress', 'completed', 'cancelled')),
    cancellation_reason text NOT NULL DEFAULT '',
    -- Optimistic concurrency: every change by a coordinator or of the status adds one.
    version             bigint NOT NULL DEFAULT 1 CHECK (version > 0),
    -- Staffing, derived from task_matches by the match-topic consumer.
    offered_count       integer NOT NULL DEFAULT 0 CHECK (offered_count >= 0),
    accepted_count      integer NOT NULL DEFAULT 0 CHECK (accepted_count >= 0),
    checked_in_count    integer NOT NULL DEFAULT 0 CHECK (checked_in_count >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- ListTasks: per incident, most urgent first, then by window start, then by id.
CREATE INDEX tasks_listing ON tasks (incident_id, priority, window_start, task_id);

-- The latest known state of every match of a task, so that staffing counts are recomputed
-- rather than incremented: a redelivered or reordered event cannot count twice. Holds no
-- volunteer id: the audit trail and this table keep no volunteer data.
CREATE TABLE task_matches (
    match_id   uuid PRIMARY KEY,
    task_id    uuid NOT NULL REFERENCES tasks (task_id),
    state      text NOT NULL,
    -- The match's aggregate version of the last applied event; older events are ignored.
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX task_matches_by_task ON task_matches (task_id);

-- Idempotency of CreateIncident and CreateTask, per organisation and creator: a retry with
-- the same key and the same request returns the same resource; the same key with another
-- request is refused.
CREATE TABLE idempotency_keys (
    organisation_id text NOT NULL,
    creator         text NOT NULL,
    idempotency_key text NOT NULL,
    operation       text NOT NULL,
    -- sha256 of the request's protobuf encoding.
    request_digest  bytea NOT NULL,
    resource_id     uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, creator, idempotency_key)
);

-- Who changed what, when. Actors are staff (subject of their token) or the system; details
-- never hold volunteer data.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    actor_subject   text NOT NULL,
    actor_role      text NOT NULL,
    organisation_id text NOT NULL,
    action          text NOT NULL,
    entity_kind     text NOT NULL CHECK (entity_kind IN ('incident', 'task')),
    entity_id       uuid NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_by_entity ON audit_log (entity_id, id);
