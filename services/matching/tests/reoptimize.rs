//! Re-optimisation over real gRPC, PostgreSQL and the broker: a plan moves open offers only
//! when it gains more than the move cost (or gains coverage), changes nothing until it is
//! applied, applies as planned or not at all, and never double-books under racing accepts.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::TestApp;
use spontan_platform::testkit::{authed, error_reason, try_eventually, violated_fields};
use spontan_proto::v1::*;
use uuid::Uuid;

fn plan_request(incident: Uuid, move_cost_km: Option<f64>) -> OptimizeIncidentRequest {
    OptimizeIncidentRequest {
        incident_id: incident.to_string(),
        dry_run: true,
        move_cost_km,
    }
}

impl TestApp {
    async fn plan(
        &self,
        incident: Uuid,
        move_cost_km: Option<f64>,
    ) -> anyhow::Result<OptimizeIncidentResponse> {
        let mut client = self.client(0).await?;
        Ok(client
            .optimize_incident(authed(
                plan_request(incident, move_cost_km),
                &self.coordinator_token(),
            ))
            .await?
            .into_inner())
    }

    async fn apply(
        &self,
        incident: Uuid,
        plan_id: &str,
    ) -> Result<ApplyOptimizationPlanResponse, tonic::Status> {
        let mut client = self
            .client(0)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        client
            .apply_optimization_plan(authed(
                ApplyOptimizationPlanRequest {
                    incident_id: incident.to_string(),
                    plan_id: plan_id.into(),
                },
                &self.coordinator_token(),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Waits until matching knows the task.
    async fn wait_for_task(&self, task_id: &str) -> anyhow::Result<()> {
        try_eventually(Duration::from_secs(30), "the task in matching", || async {
            Ok(self.staffing(task_id).await.ok())
        })
        .await?;
        Ok(())
    }

    /// State and cancel reason of a match, as stored.
    async fn match_state(&self, match_id: &str) -> anyhow::Result<(String, i32)> {
        Ok(sqlx::query_as(
            "SELECT state::text, cancel_reason::int FROM matches WHERE id = $1::uuid",
        )
        .bind(match_id)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// (kind, task, volunteer ref) of each move, sorted.
fn moves(moves: &[PlanMove]) -> Vec<(PlanMoveKind, String, String)> {
    let mut m: Vec<_> = moves
        .iter()
        .map(|m| (m.kind(), m.task_id.clone(), m.volunteer_ref.clone()))
        .collect();
    m.sort();
    m
}

fn objective(o: &Option<OptimizationObjective>) -> &OptimizationObjective {
    o.as_ref().expect("objective")
}

#[tokio::test]
async fn an_open_offer_moves_to_a_closer_volunteer_only_above_the_move_cost() -> anyhow::Result<()>
{
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let far = h.add_volunteer(9.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let held = h.current_offer(far).await?;
    // Someone 8 km closer arrives; the task holds its one offer, so nobody offers them it.
    let near = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;

    // Moving saves 8 km: not worth a move cost of 10 km.
    let costly = h.plan(incident, Some(10.0)).await?;
    assert!(costly.moves.is_empty(), "{:?}", costly.moves);
    assert_eq!(costly.before, costly.after);
    assert_eq!(costly.move_cost_km, 10.0);

    // With the default move cost (5 km) it is.
    let plan = h.plan(incident, None).await?;
    assert!(plan.dry_run);
    assert_eq!(plan.move_cost_km, 5.0);
    assert!(!plan.plan_id.is_empty());
    assert!(plan.plan_expires_at.is_some());
    let withdraw = plan
        .moves
        .iter()
        .find(|m| m.kind() == PlanMoveKind::Withdraw)
        .expect("a withdrawal");
    assert_eq!(withdraw.match_id, held.match_id);
    let offer = plan
        .moves
        .iter()
        .find(|m| m.kind() == PlanMoveKind::Offer)
        .expect("a new offer");
    assert_eq!(offer.task_id, task.task_id);
    assert!(offer.match_id.is_empty(), "not applied yet");
    assert_eq!(plan.moves.len(), 2);
    let (before, after) = (objective(&plan.before), objective(&plan.after));
    assert_eq!(before.weighted_coverage, 1.0);
    assert_eq!(after.weighted_coverage, 1.0);
    assert!((before.total_travel_km - 9.0).abs() < 0.2, "{before:?}");
    assert!((after.total_travel_km - 1.0).abs() < 0.2, "{after:?}");
    assert_eq!(plan.assignments.len(), 1);
    assert!(!plan.assignments[0].kept);

    // A plan changes nothing until it is applied.
    assert_eq!(
        h.match_state(&held.match_id).await?,
        ("offered".to_owned(), 0)
    );
    assert!(h.offers(near, false).await?.is_empty());

    let applied = h.apply(incident, &plan.plan_id).await?;
    assert_eq!(applied.created_match_count, 1);
    assert_eq!(applied.cancelled_match_count, 1);
    assert_eq!(moves(&applied.moves), moves(&plan.moves));
    assert_eq!(applied.after, plan.after);
    let new_match = applied
        .moves
        .iter()
        .find(|m| m.kind() == PlanMoveKind::Offer)
        .map(|m| m.match_id.clone())
        .expect("the new offer");
    assert_eq!(h.current_offer(near).await?.match_id, new_match);
    assert_eq!(
        h.match_state(&held.match_id).await?,
        (
            "cancelled".to_owned(),
            MatchCancelReason::Reoptimized as i32
        )
    );
    let late = h
        .respond(far, &held.match_id, OfferDecision::Accept)
        .await
        .expect_err("the withdrawn offer cannot be accepted");
    assert_eq!(error_reason(&late).as_deref(), Some("OFFER_WITHDRAWN"));

    // Applying again is safe: the same answer, nothing more changes.
    let again = h.apply(incident, &plan.plan_id).await?;
    assert_eq!(again, applied);
    assert_eq!(h.task_states(&task.task_id).await?.len(), 2);

    let audited: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT action, details FROM audit_log WHERE incident_id = $1 ORDER BY id")
            .bind(incident)
            .fetch_all(&h.pool)
            .await?;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].0, "incident.optimized");
    assert_eq!(audited[0].1["plan_id"], plan.plan_id.as_str());
    assert_eq!(audited[0].1["cancelled_match_count"], 1);
    Ok(())
}

#[tokio::test]
async fn coverage_moves_an_open_offer_whatever_the_move_cost() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    // Only `sawyer` can do the critical task, but holds an offer for a low one at the same time.
    let sawyer = h
        .add_volunteer(2.0, |v| v.skill_ids.push("chainsaw".into()))
        .await?;
    h.wait_for_volunteers(incident, 1).await?;
    let low = TaskSnapshot {
        priority: Priority::Low as i32,
        ..h.task(incident, 1)
    };
    h.publish_task(&low).await?;
    let held = h.current_offer(sawyer).await?;
    assert_eq!(held.task_id, low.task_id);
    let helper = h.add_volunteer(6.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let critical = TaskSnapshot {
        priority: Priority::Critical as i32,
        required_skill_ids: vec!["chainsaw".into()],
        ..h.task(incident, 1)
    };
    h.publish_task(&critical).await?;
    h.wait_for_task(&critical.task_id).await?;

    let plan = h.plan(incident, Some(1000.0)).await?;
    // Weighted coverage: low 1 of 1 (weight 1) of 9 before; both after.
    let (before, after) = (objective(&plan.before), objective(&plan.after));
    assert!(
        (before.weighted_coverage - 1.0 / 9.0).abs() < 1e-9,
        "{before:?}"
    );
    assert_eq!(after.weighted_coverage, 1.0);
    let kinds: Vec<(PlanMoveKind, String)> = moves(&plan.moves)
        .into_iter()
        .map(|(kind, task, _)| (kind, task))
        .collect();
    let mut expected = vec![
        (PlanMoveKind::Offer, critical.task_id.clone()),
        (PlanMoveKind::Offer, low.task_id.clone()),
        (PlanMoveKind::Withdraw, low.task_id.clone()),
    ];
    expected.sort();
    assert_eq!(kinds, expected);

    let applied = h.apply(incident, &plan.plan_id).await?;
    assert_eq!(
        (applied.created_match_count, applied.cancelled_match_count),
        (2, 1)
    );
    assert_eq!(h.current_offer(sawyer).await?.task_id, critical.task_id);
    assert_eq!(h.current_offer(helper).await?.task_id, low.task_id);
    assert_eq!(
        h.match_state(&held.match_id).await?.1,
        MatchCancelReason::Reoptimized as i32
    );
    Ok(())
}

#[tokio::test]
async fn a_plan_the_incident_outran_applies_nothing_and_a_fresh_one_applies() -> anyhow::Result<()>
{
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(9.0, |_| {}).await?;
    let b = h.add_volunteer(10.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let task = h.task(incident, 2);
    h.publish_task(&task).await?;
    let offer_a = h.current_offer(a).await?;
    let offer_b = h.current_offer(b).await?;
    h.add_volunteer(1.0, |_| {}).await?;
    h.add_volunteer(1.5, |_| {}).await?;
    h.wait_for_volunteers(incident, 4).await?;

    let plan = h.plan(incident, Some(0.0)).await?;
    assert_eq!(plan.moves.len(), 4, "{:?}", plan.moves);
    // `a` accepts before the plan is applied: the plan would withdraw an accepted offer.
    h.respond(a, &offer_a.match_id, OfferDecision::Accept)
        .await?;
    let stale = h
        .apply(incident, &plan.plan_id)
        .await
        .expect_err("the plan is stale");
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_reason(&stale).as_deref(), Some("PLAN_STALE"));
    // Nothing of it was applied: `b`'s offer is still open, nobody new was offered.
    assert_eq!(h.match_state(&offer_b.match_id).await?.0, "offered");
    assert_eq!(h.task_states(&task.task_id).await?.len(), 2);

    // Planning and applying at once keeps the acceptance and moves only `b`.
    let mut client = h.client(0).await?;
    let done = client
        .optimize_incident(authed(
            OptimizeIncidentRequest {
                dry_run: false,
                ..plan_request(incident, Some(0.0))
            },
            &h.coordinator_token(),
        ))
        .await?
        .into_inner();
    assert!(!done.dry_run);
    assert_eq!(
        (done.created_match_count, done.cancelled_match_count),
        (1, 1)
    );
    let kept: Vec<&str> = done
        .assignments
        .iter()
        .filter(|x| x.kept)
        .map(|x| x.match_id.as_str())
        .collect();
    assert_eq!(kept, [offer_a.match_id.as_str()]);
    assert!(done.assignments.iter().all(|x| !x.match_id.is_empty()));
    assert_eq!(h.match_state(&offer_a.match_id).await?.0, "accepted");
    assert_eq!(
        h.match_state(&offer_b.match_id).await?,
        (
            "cancelled".to_owned(),
            MatchCancelReason::Reoptimized as i32
        )
    );
    Ok(())
}

#[tokio::test]
async fn bad_plan_requests_are_refused_with_the_field() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let other = h.open_incident().await?;
    h.wait_for_volunteers(incident, 0).await?;
    h.wait_for_volunteers(other, 0).await?;
    let mut client = h.client(0).await?;
    let negative = client
        .optimize_incident(authed(
            plan_request(incident, Some(-1.0)),
            &h.coordinator_token(),
        ))
        .await
        .expect_err("negative move cost");
    assert_eq!(negative.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&negative), ["move_cost_km"]);
    let malformed = h
        .apply(incident, "yesterday's plan")
        .await
        .expect_err("malformed plan id");
    assert_eq!(violated_fields(&malformed), ["plan_id"]);
    let unknown = h
        .apply(incident, &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown plan");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    // A plan is bound to its incident.
    let plan = h.plan(incident, None).await?;
    let elsewhere = h
        .apply(other, &plan.plan_id)
        .await
        .expect_err("another incident's plan");
    assert_eq!(elsewhere.code(), tonic::Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn accepts_racing_an_apply_never_double_book_and_the_apply_is_all_or_nothing()
-> anyhow::Result<()> {
    const TASKS: usize = 6;
    let h = TestApp::spawn().await?;
    for round in 0..4u64 {
        let incident = h.open_incident().await?;
        // Far volunteers hold one offer each; as many closer ones are free. Each round's
        // volunteers have a skill of their own, so earlier rounds' stay out.
        let skill = format!("round-{round}");
        let with_skill = |v: &mut MatchableVolunteer| v.skill_ids = vec![skill.clone()];
        let mut far = Vec::new();
        for i in 0..TASKS {
            far.push(h.add_volunteer(12.0 + i as f64 * 0.1, with_skill).await?);
        }
        // Earlier rounds' volunteers are in the region too.
        let earlier = round as u32 * 2 * TASKS as u32;
        h.wait_for_volunteers(incident, earlier + TASKS as u32)
            .await?;
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let task = TaskSnapshot {
                required_skill_ids: vec![skill.clone()],
                ..h.task(incident, 1)
            };
            h.publish_task(&task).await?;
            tasks.push(task.task_id);
        }
        let mut held = HashMap::new();
        for &v in &far {
            held.insert(v, h.current_offer(v).await?.match_id);
        }
        for i in 0..TASKS {
            h.add_volunteer(0.5 + i as f64 * 0.1, with_skill).await?;
        }
        h.wait_for_volunteers(incident, earlier + 2 * TASKS as u32)
            .await?;
        let plan = h.plan(incident, Some(0.0)).await?;
        assert_eq!(plan.moves.len(), 2 * TASKS, "round {round}");

        // Every far volunteer accepts while the plan is applied: at once, the accepts a little
        // later, the apply a little later.
        let (accept_delay, apply_delay) = [(0, 0), (40, 0), (0, 20), (5, 0)][round as usize];
        let mut accepts = tokio::task::JoinSet::new();
        for &v in &far {
            let mut client = h.client(0).await?;
            let request = authed(
                RespondToOfferRequest {
                    match_id: held[&v].clone(),
                    decision: OfferDecision::Accept as i32,
                    decline_reason: 0,
                },
                &h.volunteer_token(v),
            );
            accepts.spawn(async move {
                tokio::time::sleep(Duration::from_millis(accept_delay)).await;
                (v, client.respond_to_offer(request).await)
            });
        }
        let apply = async {
            tokio::time::sleep(Duration::from_millis(apply_delay)).await;
            h.apply(incident, &plan.plan_id).await
        };
        let (answers, applied) = tokio::join!(accepts.join_all(), apply);

        let accepted: HashSet<Uuid> = answers
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| *v)
            .collect();
        let reoptimized: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM matches WHERE incident_id = $1 AND cancel_reason = $2",
        )
        .bind(incident)
        .bind(MatchCancelReason::Reoptimized as i32)
        .fetch_one(&h.pool)
        .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM matches WHERE incident_id = $1 \
             AND state IN ('offered', 'accepted')",
        )
        .bind(incident)
        .fetch_one(&h.pool)
        .await?;
        match applied {
            Ok(applied) => {
                eprintln!("round {round}: the plan applied, every accept refused");
                // All of the plan: every far offer withdrawn, so no accept got through.
                assert_eq!(applied.cancelled_match_count as usize, TASKS);
                assert_eq!(reoptimized, TASKS as i64, "round {round}");
                assert!(accepted.is_empty(), "round {round}: {accepted:?}");
                for (_, answer) in &answers {
                    let refused = answer.as_ref().expect_err("withdrawn");
                    assert_eq!(error_reason(refused).as_deref(), Some("OFFER_WITHDRAWN"));
                }
            }
            Err(stale) => {
                eprintln!("round {round}: an accept came first, the plan applied nothing");
                // None of the plan: every accept stood.
                assert_eq!(
                    error_reason(&stale).as_deref(),
                    Some("PLAN_STALE"),
                    "{stale:?}"
                );
                assert_eq!(reoptimized, 0, "round {round}");
                assert!(!accepted.is_empty());
            }
        }
        // One live match per task, nobody booked twice in the shared window.
        assert_eq!(live, TASKS as i64, "round {round}");
        for task in &tasks {
            let states = h.task_states(task).await?;
            let active = states
                .iter()
                .filter(|(_, s)| matches!(s, MatchState::Offered | MatchState::Accepted))
                .count();
            assert_eq!(active, 1, "round {round}, task {task}: {states:?}");
        }
        let doubled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT volunteer_id FROM matches WHERE incident_id = $1 \
             AND state IN ('offered', 'accepted') GROUP BY volunteer_id HAVING count(*) > 1) d",
        )
        .bind(incident)
        .fetch_one(&h.pool)
        .await?;
        assert_eq!(doubled, 0, "round {round}");
    }
    Ok(())
}
