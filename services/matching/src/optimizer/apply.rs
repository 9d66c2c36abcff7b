//! Applying a stored plan (a part of [`crate::optimizer`]): one transaction that withdraws
//! the plan's open offers (REOPTIMIZED) and makes its new offers, each checked as incremental
//! matching checks an offer, or changes nothing at all when the incident moved on since the
//! plan was made (`PLAN_STALE`). Locks follow every other writer's order: tasks (by id),
//! then matches, then volunteers (the share lock of an offer's insert); the exclusion
//! constraint still refuses any double booking.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_proto::v1 as pb;
use uuid::Uuid;

use crate::domain::{IncidentStatus, MatchState};
use crate::events;
use crate::lifecycle::db;
use crate::matcher::Matcher;
use crate::reasons;
use crate::store::{self, Counts};

fn stale(what: &str) -> ApiError {
    ApiError::precondition(
        reasons::PLAN_STALE,
        format!("the incident changed since the plan was made ({what}): plan again"),
    )
}

fn corrupt(error: prost::DecodeError) -> ApiError {
    ApiError::Internal(anyhow::Error::new(error).context("a stored plan cannot be read"))
}

/// Applies plan `plan_id` of the incident, or returns what applying it returned before.
pub(super) async fn apply_plan(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: Uuid,
    organisation_id: &str,
    plan_id: Uuid,
) -> Result<pb::ApplyOptimizationPlanResponse, ApiError> {
    let mut tx = matcher.pool.begin().await.map_err(db)?;
    let plan = store::lock_plan(&mut tx, plan_id, incident_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound("plan"))?;
    if let Some(applied) = &plan.applied {
        return pb::ApplyOptimizationPlanResponse::decode(applied.as_slice()).map_err(corrupt);
    }
    let now = Utc::now();
    if plan.expires_at <= now {
        return Err(ApiError::precondition(
            reasons::PLAN_EXPIRED,
            "the plan expired: plan again",
        ));
    }
    let planned = pb::OptimizeIncidentResponse::decode(plan.planned.as_slice()).map_err(corrupt)?;
    if store::incident(&mut tx, incident_id)
        .await
        .map_err(db)?
        .is_none_or(|i| i.status != IncidentStatus::Open)
    {
        return Err(ApiError::precondition(
            reasons::INCIDENT_CLOSED,
            "the incident is closed",
        ));
    }

    let mut task_ids: Vec<Uuid> = plan
        .offers
        .iter()
        .map(|o| o.task_id)
        .chain(plan.withdrawals.iter().map(|w| w.task_id))
        .collect();
    task_ids.sort_unstable();
    task_ids.dedup();
    let mut tasks = HashMap::new();
    for id in task_ids {
        let task = store::lock_task(&mut tx, id)
            .await
            .map_err(db)?
            .filter(|t| t.status.is_not_started() && t.window.end > now)
            .ok_or_else(|| stale("a task of the plan started, changed or ended"))?;
        tasks.insert(id, task);
    }

    let mut withdrawals = plan.withdrawals.0.clone();
    withdrawals.sort_unstable_by_key(|w| w.match_id);
    let reoptimized = pb::MatchCancelReason::Reoptimized as i32;
    for w in &withdrawals {
        let m = store::lock_match(&mut tx, w.match_id)
            .await
            .map_err(db)?
            .filter(|m| {
                matches!(m.state, MatchState::Proposed | MatchState::Offered)
                    && m.expires_at.is_none_or(|e| e > now)
            })
            .ok_or_else(|| stale("an offer it withdraws was answered or ran out"))?;
        events::transition(
            &mut tx,
            &matcher.topic,
            &m,
            MatchState::Cancelled,
            0,
            reoptimized,
        )
        .await
        .map_err(db)?;
    }

    let timeout = Duration::from_secs(matcher.settings.offer_timeout_secs);
    let expires_at =
        now + chrono::Duration::from_std(timeout).map_err(|e| ApiError::Internal(e.into()))?;
    let mut counts: HashMap<Uuid, Counts> = HashMap::new();
    let mut made = Vec::with_capacity(plan.offers.len());
    for offer in plan.offers.iter() {
        let task = &tasks[&offer.task_id];
        let c = match counts.entry(task.id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(store::task_counts(&mut tx, task.id).await.map_err(db)?),
        };
        if matcher.need(task, *c) == 0 {
            return Err(stale("a task of the plan was staffed meanwhile"));
        }
        let row = match store::insert_offer(
            &mut tx,
            task,
            offer.volunteer_id,
            &offer.explanation,
            expires_at,
        )
        .await
        {
            Ok(Some(row)) => row,
            Ok(None) => return Err(stale("a volunteer of the plan paused or left")),
            Err(error) if store::is_conflict(&error) => {
                return Err(stale("a volunteer of the plan was booked meanwhile"));
            }
            Err(error) => return Err(db(error)),
        };
        events::record(&mut tx, &matcher.topic, &row, None)
            .await
            .map_err(db)?;
        c.offered += 1;
        made.push(row.id);
    }

    // The plan's moves name its offers in the order they are stored.
    let mut new_ids = made.iter();
    let moves = planned
        .moves
        .into_iter()
        .map(|mut m| {
            if m.kind == pb::PlanMoveKind::Offer as i32 {
                m.match_id = new_ids.next().map(Uuid::to_string).unwrap_or_default();
            }
            m
        })
        .collect();
    let response = pb::ApplyOptimizationPlanResponse {
        incident_id: incident_id.to_string(),
        plan_id: plan_id.to_string(),
        moves,
        created_match_count: made.len() as u32,
        cancelled_match_count: withdrawals.len() as u32,
        before: planned.before,
        after: planned.after,
    };
    store::mark_plan_applied(&mut tx, plan_id, &response.encode_to_vec())
        .await
        .map_err(db)?;
    let entry = store::Audited {
        organisation_id,
        incident_id,
        action: "incident.optimized",
        match_id: None,
        details: serde_json::json!({
            "plan_id": plan_id,
            "created_match_count": response.created_match_count,
            "cancelled_match_count": response.cancelled_match_count,
        }),
    };
    store::audit(&mut tx, caller, entry).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    metrics::counter!("matching_offers_total").increment(made.len() as u64);
    tracing::info!(
        %incident_id,
        %plan_id,
        offers = response.created_match_count,
        withdrawn = response.cancelled_match_count,
        "optimisation plan applied"
    );
    Ok(response)
}
