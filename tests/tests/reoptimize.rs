//! Re-optimisation across all three services: a coordinator's plan moves an open offer from a
//! volunteer far away to one who registered close by after it was made; the plan changes
//! nothing until applied; once applied, the close volunteer has the offer, the far one sees it
//! withdrawn, and staff see the reason `REOPTIMIZED`.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, near,
    registration, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

const ORG: &str = "drk-kv-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

async fn offers(matching: &MatchingServiceClient<Channel>, token: &str) -> Vec<Offer> {
    matching
        .clone()
        .list_my_offers(authed(
            ListMyOffersRequest {
                include_finished: true,
            },
            token,
        ))
        .await
        .expect("offers")
        .into_inner()
        .offers
}

#[tokio::test]
async fn an_applied_plan_moves_an_open_offer_to_a_volunteer_close_by() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiterin", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let far = people
        .register(registration("Weit Weg", "+4915100000931", near(12.0, 0.5)))
        .await
        .expect("registered")
        .into_inner()
        .access_token;
    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let request = CreateTaskRequest {
        headcount: 1,
        ..task_request(&incident, "Sandsäcke am Ahrtor")
    };
    let task = create_task(&tasks, &coordinator, request).await.task_id;
    let held = eventually(WAIT, "the far volunteer's offer", || {
        let (matching, far, task) = (&matching, &far, &task);
        async move {
            offers(matching, far)
                .await
                .into_iter()
                .find(|o| &o.task_id == task && o.state() == MatchState::Offered)
        }
    })
    .await;
    let close = people
        .register(registration("Nebenan", "+4915100000932", near(0.2, 0.5)))
        .await
        .expect("registered")
        .into_inner()
        .access_token;

    // The plan moves the offer once matching knows the close volunteer.
    let plan = eventually(WAIT, "a plan with moves", || {
        let (matching, coordinator, incident) = (&matching, &coordinator, &incident);
        async move {
            let plan = matching
                .clone()
                .optimize_incident(authed(
                    OptimizeIncidentRequest {
                        incident_id: incident.clone(),
                        dry_run: true,
                        move_cost_km: None,
                    },
                    coordinator,
                ))
                .await
                .expect("planned")
                .into_inner();
            (!plan.moves.is_empty()).then_some(plan)
        }
    })
    .await;
    let mut kinds: Vec<PlanMoveKind> = plan.moves.iter().map(PlanMove::kind).collect();
    kinds.sort();
    assert_eq!(kinds, [PlanMoveKind::Offer, PlanMoveKind::Withdraw]);
    let before = plan.before.expect("before");
    let after = plan.after.expect("after");
    assert!(
        after.total_travel_km + 10.0 < before.total_travel_km,
        "{before:?} -> {after:?}"
    );
    assert!(
        offers(&matching, &close).await.is_empty(),
        "nothing changes before the plan is applied"
    );

    let applied = matching
        .clone()
        .apply_optimization_plan(authed(
            ApplyOptimizationPlanRequest {
                incident_id: incident.clone(),
                plan_id: plan.plan_id.clone(),
            },
            &coordinator,
        ))
        .await
        .expect("applied")
        .into_inner();
    assert_eq!(
        (applied.created_match_count, applied.cancelled_match_count),
        (1, 1)
    );
    let now_close = offers(&matching, &close).await;
    assert_eq!(now_close.len(), 1, "{now_close:?}");
    assert_eq!(now_close[0].task_id, task);
    assert_eq!(now_close[0].state(), MatchState::Offered);
    let was_far = offers(&matching, &far).await;
    assert_eq!(was_far.len(), 1);
    assert_eq!(was_far[0].match_id, held.match_id);
    assert_eq!(was_far[0].state(), MatchState::Cancelled);

    let staffing = matching
        .clone()
        .get_task_staffing(authed(
            GetTaskStaffingRequest {
                task_id: task.clone(),
                include_finished: true,
            },
            &coordinator,
        ))
        .await
        .expect("staffing")
        .into_inner();
    let withdrawn = staffing
        .matches
        .iter()
        .find(|m| m.match_id == held.match_id)
        .expect("the withdrawn offer");
    assert_eq!(withdrawn.cancel_reason(), MatchCancelReason::Reoptimized);
}
