//! `OptimizeIncident` and `ApplyOptimizationPlan` (a part of [`crate::optimizer`]): access,
//! the incident's state and the per-incident lock around [`make_plan`] and [`apply_plan`].
//! One optimisation per incident at a time, across replicas, through a PostgreSQL advisory
//! lock held on its own connection for the whole call.

use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_platform::ids::IncidentId;
use spontan_proto::v1 as pb;
use uuid::Uuid;

use super::apply::apply_plan;
use super::plan::make_plan;
use crate::domain::IncidentStatus;
use crate::lifecycle::db;
use crate::matcher::Matcher;
use crate::reasons;
use crate::store::{self, IncidentRow};

/// How often a plan applied at once is made again when the incident changed meanwhile.
const ATTEMPTS: usize = 3;

/// OptimizeIncident: a dry run stores a plan; otherwise the plan is applied at once.
pub async fn optimize_incident(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: IncidentId,
    dry_run: bool,
    move_cost_km: Option<f64>,
) -> Result<pb::OptimizeIncidentResponse, ApiError> {
    let move_cost_km = move_cost_km.unwrap_or(matcher.settings.optimizer.move_cost_km);
    locked(matcher, caller, incident_id.uuid(), async |incident| {
        if dry_run {
            return make_plan(matcher, caller, incident.id, move_cost_km).await;
        }
        let mut attempt = 1;
        loop {
            let mut plan = make_plan(matcher, caller, incident.id, move_cost_km).await?;
            let plan_id: Uuid = plan.plan_id.parse().map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
            match apply_plan(matcher, caller, incident.id, &incident.organisation_id, plan_id).await {
                Ok(applied) => {
                    plan.dry_run = false;
                    plan.created_match_count = applied.created_match_count;
                    plan.cancelled_match_count = applied.cancelled_match_count;
                    // The new assignments get the ids of the matches made for them.
                    for a in plan.assignments.iter_mut().filter(|a| !a.kept) {
                        if let Some(m) = applied.moves.iter().find(|m| {
                            m.kind == pb::PlanMoveKind::Offer as i32
                                && m.task_id == a.task_id
                                && m.volunteer_ref == a.volunteer_ref
                        }) {
                            a.match_id.clone_from(&m.match_id);
                        }
                    }
                    plan.moves = applied.moves;
                    return Ok(plan);
                }
                Err(ApiError::FailedPrecondition(reason, message))
                    if reason == reasons::PLAN_STALE && attempt < ATTEMPTS =>
                {
                    tracing::info!(%message, attempt, "plan stale before it was applied, planning again");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    })
    .await
}

/// ApplyOptimizationPlan.
pub async fn apply_optimization_plan(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: IncidentId,
    plan_id: Uuid,
) -> Result<pb::ApplyOptimizationPlanResponse, ApiError> {
    locked(matcher, caller, incident_id.uuid(), async |incident| {
        apply_plan(
            matcher,
            caller,
            incident.id,
            &incident.organisation_id,
            plan_id,
        )
        .await
    })
    .await
}

/// Runs `work` for an open incident of the caller's organisation under the incident's
/// optimisation lock; ABORTED while another replica holds it.
async fn locked<T>(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: Uuid,
    work: impl AsyncFnOnce(&IncidentRow) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut lock = matcher.pool.acquire().await.map_err(db)?;
    // The session holds the lock: should this call be dropped half way (the request's
    // deadline, a client that went away), the connection is closed rather than returned to
    // the pool still holding it, and PostgreSQL releases the lock with the session.
    lock.close_on_drop();
    let incident = store::incident(&mut lock, incident_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("incident"))?;
    caller.require_coordinator_of(&incident.organisation_id)?;
    if incident.status != IncidentStatus::Open {
        return Err(ApiError::precondition(
            reasons::INCIDENT_CLOSED,
            "the incident is closed",
        ));
    }
    if !store::try_lock_optimization(&mut lock, incident_id)
        .await
        .map_err(db)?
    {
        return Err(ApiError::Aborted(
            "another optimisation of this incident is running".into(),
        ));
    }
    let result = work(&incident).await;
    if let Err(error) = store::unlock_optimization(&mut lock, incident_id).await {
        // The lock goes with the connection, which is closed on drop.
        tracing::warn!(%error, %incident_id, "optimisation lock not released, closing its connection");
    }
    result
}
