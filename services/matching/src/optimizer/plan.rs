//! Making an optimisation plan (a part of [`crate::optimizer`]): solve the incident's
//! [`Instance`], turn the solution into moves (new offers, withdrawn open offers), report the
//! objectives before and after, and store the plan for [`super::apply`].

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use prost::Message;
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_proto::v1 as pb;
use uuid::Uuid;

use super::instance::{Assigned, Instance};
use super::{Pair, priority_weight, solve_periods};
use crate::convert;
use crate::domain::Task;
use crate::engine::{self, Candidate, Explanation};
use crate::lifecycle::db;
use crate::matcher::Matcher;
use crate::store::{self, NewPlan, PlannedOffer, PlannedWithdrawal};

/// Plans the incident and stores the plan; the response of a dry run.
pub(super) async fn make_plan(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: Uuid,
    move_cost_km: f64,
) -> Result<pb::OptimizeIncidentResponse, ApiError> {
    let instance = Instance::load(matcher, incident_id, move_cost_km).await?;
    // Seconds of CPU on a large incident: off the async workers, so other requests go on.
    let (instance, chosen, solve_duration) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let chosen = solve_periods(
            instance.volunteer_ids.len(),
            &instance.slots,
            &instance.pairs,
        );
        (instance, chosen, started.elapsed())
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("the solver failed")))?;
    let (new_pairs, withdrawn) = instance.moves(&chosen);

    let Instance {
        tasks,
        fixed,
        open,
        volunteer_ids,
        pairs,
        hours,
        ..
    } = instance;
    let mut conn = matcher.pool.acquire().await.map_err(db)?;
    let keys: Vec<(Uuid, Uuid)> = new_pairs
        .iter()
        .map(|&p| (tasks[pairs[p].task].id, volunteer_ids[pairs[p].volunteer]))
        .collect();
    let refs = store::volunteer_refs(&mut conn, &keys).await.map_err(db)?;

    let mut before: Vec<Assigned> = fixed;
    let fixed_count = before.len();
    before.extend(open.iter().map(|o| o.assigned()));
    let mut after: Vec<Assigned> = before[..fixed_count].to_vec();
    let withdrawn_set: HashSet<usize> = withdrawn.iter().copied().collect();
    after.extend(
        open.iter()
            .enumerate()
            .filter(|(o, _)| !withdrawn_set.contains(o))
            .map(|(_, offer)| offer.assigned()),
    );
    let mut moves = Vec::new();
    let mut offers = Vec::new();
    for (&p, key) in new_pairs.iter().zip(&keys) {
        let pair = &pairs[p];
        let task = &tasks[pair.task];
        let explanation = explain(matcher, task, key.1, pair);
        let volunteer_ref = refs.get(key).cloned().unwrap_or_default();
        moves.push(pb::PlanMove {
            kind: pb::PlanMoveKind::Offer as i32,
            task_id: task.id.to_string(),
            volunteer_ref: volunteer_ref.clone(),
            match_id: String::new(),
            explanation: Some(convert::explanation(&explanation)),
        });
        after.push(Assigned {
            task: pair.task,
            volunteer_id: key.1,
            volunteer_ref,
            match_id: String::new(),
            kept: false,
            fixed: false,
            explanation: explanation.clone(),
        });
        offers.push(PlannedOffer {
            task_id: task.id,
            volunteer_id: key.1,
            explanation,
        });
    }
    let mut withdrawals = Vec::new();
    for &o in &withdrawn {
        let offer = &open[o];
        moves.push(pb::PlanMove {
            kind: pb::PlanMoveKind::Withdraw as i32,
            task_id: tasks[offer.task].id.to_string(),
            volunteer_ref: offer.volunteer_ref.clone(),
            match_id: offer.match_id.to_string(),
            explanation: Some(convert::explanation(&offer.explanation)),
        });
        withdrawals.push(PlannedWithdrawal {
            match_id: offer.match_id,
            task_id: tasks[offer.task].id,
        });
    }
    let objective_before = objective(&tasks, &before, &hours);
    let objective_after = objective(&tasks, &after, &hours);
    after.sort_by_key(|a| (a.task, !a.kept));

    let plan_id = Uuid::now_v7();
    let minutes = matcher.settings.optimizer.plan_minutes;
    let expires_at =
        chrono::Utc::now() + chrono::Duration::minutes(i64::try_from(minutes).unwrap_or(10));
    let response = pb::OptimizeIncidentResponse {
        incident_id: incident_id.to_string(),
        dry_run: true,
        assignments: after
            .into_iter()
            .map(|a| pb::Assignment {
                task_id: tasks[a.task].id.to_string(),
                volunteer_ref: a.volunteer_ref,
                match_id: a.match_id,
                kept: a.kept,
                explanation: Some(convert::explanation(&a.explanation)),
            })
            .collect(),
        before: Some(objective_before),
        after: Some(objective_after),
        created_match_count: 0,
        cancelled_match_count: 0,
        solve_duration: prost_types::Duration::try_from(solve_duration).ok(),
        plan_id: plan_id.to_string(),
        plan_expires_at: Some(convert::ts(expires_at)),
        moves,
        move_cost_km,
    };
    store::insert_plan(
        &mut conn,
        NewPlan {
            id: plan_id,
            incident_id,
            created_by: &caller.subject,
            expires_at,
            offers: &offers,
            withdrawals: &withdrawals,
            planned: &response.encode_to_vec(),
        },
    )
    .await
    .map_err(db)?;
    Ok(response)
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
        *load
            .entry(a.volunteer_id)
            .or_insert_with(|| hours.get(&a.volunteer_id).copied().unwrap_or(0.0)) += if a.fixed {
            0.0
        } else {
            tasks[a.task].window.hours()
        };
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
