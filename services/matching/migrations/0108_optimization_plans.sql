-- Optimisation plans (issue #19): a dry run of OptimizeIncident stores its plan here, and
-- ApplyOptimizationPlan applies it once, all of it or nothing. Plans hold internal volunteer
-- ids (never names or contacts) and are deleted an hour after they expire.
CREATE TABLE optimization_plans (
    id uuid PRIMARY KEY,
    incident_id uuid NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- The new offers: [{"task_id", "volunteer_id", "explanation"}].
    offers jsonb NOT NULL,
    -- The open offers withdrawn: [{"match_id", "task_id"}].
    withdrawals jsonb NOT NULL,
    -- The dry run's OptimizeIncidentResponse (protobuf).
    planned bytea NOT NULL,
    applied_at timestamptz,
    -- The ApplyOptimizationPlanResponse once applied (protobuf): a retry gets it again.
    applied bytea
);

CREATE INDEX optimization_plans_expires_at ON optimization_plans (expires_at);
