//! `OptimizeIncident` (a part of [`crate::optimizer`]): gathers the incident's open tasks,
//! kept matches and candidates, runs the solver over the tasks' time windows (a volunteer may
//! get several new tasks whose windows do not overlap each other or what they already hold;
//! exact when all the windows overlap) and, unless it is a dry run, offers the new pairs
//! through the same per-offer transaction as incremental matching (so the exclusion
//! constraint still has the last word). One optimisation per incident at a time, across
//! replicas, through a PostgreSQL advisory lock.

use std::collections::HashMap;
use std::time::Instant;

use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_platform::ids::IncidentId;
use spontan_proto::v1 as pb;
use uuid::Uuid;

use super::instance::{Assigned, Instance};
use super::{Pair, priority_weight, solve_periods};
use crate::domain::{IncidentStatus, Task, Window};
use crate::engine::{self, Candidate, Explanation};
use crate::lifecycle::db;
use crate::matcher::{Matcher, Offer};
use crate::reasons;
use crate::store;

/// OptimizeIncident: a coordinator of the incident's organisation, or an admin; ABORTED while
/// another replica optimises the same incident.
pub async fn optimize_incident(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: IncidentId,
    dry_run: bool,
) -> Result<pb::OptimizeIncidentResponse, ApiError> {
    let incident_id = incident_id.uuid();
    let mut lock = matcher.pool.acquire().await.map_err(db)?;
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
    let locked = store::try_lock_optimization(&mut lock, incident_id)
        .await
        .map_err(db)?;
    if !locked {
        return Err(ApiError::Aborted(
            "another optimisation of this incident is running".into(),
        ));
    }
    let result = run(matcher, incident_id, dry_run).await;
    if let Ok(applied) = &result
        && !dry_run
    {
        // The offers were made in their own transactions (as incremental matching makes
        // them); the entry follows them, on the connection that holds the lock.
        let entry = store::Audited {
            organisation_id: &incident.organisation_id,
            incident_id,
            action: "incident.optimized",
            match_id: None,
            details: serde_json::json!({
                "created_match_count": applied.created_match_count,
                "assignments": applied.assignments.len(),
            }),
        };
        if let Err(error) = store::audit(&mut lock, caller, entry).await {
            tracing::error!(%error, %incident_id, "optimisation applied but not audited");
        }
    }
    let _ = store::unlock_optimization(&mut lock, incident_id).await;
    result
}

async fn run(
    matcher: &Matcher,
    incident_id: Uuid,
    dry_run: bool,
) -> Result<pb::OptimizeIncidentResponse, ApiError> {
    let Instance {
        tasks,
        kept,
        volunteer_ids,
        pairs,
        slots,
        hours,
    } = Instance::load(matcher, incident_id).await?;
    let started = Instant::now();
    let chosen = solve_periods(volunteer_ids.len(), &slots, &pairs);
    let solve_duration = started.elapsed();

    let before = objective(&tasks, &kept, &hours);
    let mut created = 0u32;
    let mut assignments = kept;
    for i in chosen {
        let pair = &pairs[i];
        let task = &tasks[pair.task];
        let volunteer_id = volunteer_ids[pair.volunteer];
        let explanation = explain(matcher, task, volunteer_id, pair);
        let mut match_id = String::new();
        if !dry_run {
            match matcher
                .try_offer(task.id, volunteer_id, &explanation)
                .await
                .map_err(ApiError::Internal)?
            {
                Offer::Made(id) => {
                    created += 1;
                    match_id = id.to_string();
                }
                // Taken or filled meanwhile: the optimum is not applied for this pair.
                Offer::Full | Offer::Conflict => continue,
            }
        }
        let volunteer_ref = store::existing_ref(&matcher.pool, tasks[pair.task].id, volunteer_id)
            .await
            .map_err(db)?
            .unwrap_or_default();
        assignments.push(Assigned {
            task: pair.task,
            volunteer_id,
            volunteer_ref,
            match_id,
            kept: false,
            explanation,
        });
    }
    let after = objective(&tasks, &assignments, &hours);
    assignments.sort_by_key(|a| (a.task, !a.kept));
    Ok(pb::OptimizeIncidentResponse {
        incident_id: incident_id.to_string(),
        dry_run,
        assignments: assignments
            .into_iter()
            .map(|a| pb::Assignment {
                task_id: tasks[a.task].id.to_string(),
                volunteer_ref: a.volunteer_ref,
                match_id: a.match_id,
                kept: a.kept,
                explanation: Some(crate::convert::explanation(&a.explanation)),
            })
            .collect(),
        before: Some(before),
        after: Some(after),
        created_match_count: created,
        cancelled_match_count: 0,
        solve_duration: prost_types::Duration::try_from(solve_duration).ok(),
    })
}

fn explain(matcher: &Matcher, task: &Task, volunteer_id: Uuid, pair: &Pair) -> Explanation {
    let index = matcher.index();
    index
        .get(&volunteer_id)
        .and_then(|v| {
            engine::rank(
                task,
                &[Candidate::new(
                    v,
                    task,
                    pair.distance_km,
                    pair.assigned_hours,
                )],
            )
            .pop()
        })
        .map(|r| r.explanation)
        .unwrap_or_default()
}

/// The three objectives of an assignment (see `OptimizationObjective`).
fn objective(
    tasks: &[Task],
    assignments: &[Assigned],
    hours: &HashMap<Uuid, f64>,
) -> pb::OptimizationObjective {
    let mut per_task = vec![0u32; tasks.len()];
    let mut load: HashMap<Uuid, f64> = HashMap::new();
    let mut travel = 0.0;
    for a in assignments {
        per_task[a.task] += 1;
        travel += a.explanation.distance_km;
        let window: Window = tasks[a.task].window;
        *load
            .entry(a.volunteer_id)
            .or_insert_with(|| hours.get(&a.volunteer_id).copied().unwrap_or(0.0)) +=
            if a.kept { 0.0 } else { window.hours() };
    }
    let (mut covered, mut wanted) = (0i64, 0i64);
    for (t, task) in tasks.iter().enumerate() {
        let w = priority_weight(task.priority);
        covered += w * i64::from(per_task[t].min(task.headcount));
        wanted += w * i64::from(task.headcount);
    }
    let spread = if load.len() < 2 {
        0.0
    } else {
        let max = load.values().copied().fold(f64::MIN, f64::max);
        let min = load.values().copied().fold(f64::MAX, f64::min);
        max - min
    };
    pb::OptimizationObjective {
        weighted_coverage: if wanted == 0 {
            1.0
        } else {
            covered as f64 / wanted as f64
        },
        total_travel_km: travel,
        load_spread_hours: spread,
    }
}
