-- What staff did to matches (check-in for a volunteer, check-out, completion, no-show) and to
-- an incident's matching (an applied optimisation), by whom and when. Volunteers' own answers
-- are in match_changes. Details never hold volunteer data; matches are named by id.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    actor_subject   text NOT NULL,
    actor_role      text NOT NULL,
    organisation_id text NOT NULL,
    incident_id     uuid NOT NULL,
    action          text NOT NULL,
    match_id        uuid,
    details         jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_by_incident ON audit_log (incident_id, id);
