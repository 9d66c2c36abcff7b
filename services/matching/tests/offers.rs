//! Offers over real gRPC, PostgreSQL and the broker: who gets offered, in which order, and
//! what happens after a decline, an expiry, a full headcount and an erasure.

mod common;

use std::time::Duration;

use common::{TestApp, fast_settings};
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::*;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_task_is_offered_to_the_eligible_volunteers_nearest_first() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let c = h.add_volunteer(5.0, |_| {}).await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(3.0, |_| {}).await?;
    let unskilled = h
        .add_volunteer(2.0, |v| v.skill_ids = vec!["driving".into()])
        .await?;
    // Within their own 30 km radius, but beyond the task's 20 km maximum distance.
    let far = h.add_volunteer(25.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 5).await?;

    let task = h.task(incident, 3);
    h.publish_task(&task).await?;
    try_eventually(WAIT, "three offers", || async {
        Ok(h.staffing(&task.task_id)
            .await
            .is_ok_and(|s| s.offered == 3)
            .then_some(()))
    })
    .await?;

    let mut offered = Vec::new();
    for v in [a, b, c] {
        let offer = h.current_offer(v).await?;
        assert_eq!(offer.task_id, task.task_id);
        assert_eq!(offer.task_title, "fill sandbags");
        offered.push(offer.match_id);
    }
    for v in [unskilled, far] {
        assert!(
            h.offers(v, true).await?.is_empty(),
            "ineligible volunteer got an offer"
        );
    }

    // The dashboard sees the offers in rank order, nearest first, with the reasons.
    let mut client = h.client(0).await?;
    let changes = client
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence: 0,
                limit: 0,
            },
            &h.dashboard_token(),
        ))
        .await?
        .into_inner();
    let order: Vec<&str> = changes
        .changes
        .iter()
        .map(|c| c.match_id.as_str())
        .collect();
    assert_eq!(
        order,
        offered.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Nearest first; staff see the distance only in bands, and no score.
    let bands: Vec<i32> = changes
        .changes
        .iter()
        .filter_map(|c| c.explanation.as_ref().map(|e| e.distance_band))
        .collect();
    assert!(bands.windows(2).all(|w| w[0] <= w[1]), "{bands:?}");
    assert!(bands.iter().all(|&b| b != DistanceBand::Unspecified as i32));
    #[allow(deprecated)]
    let exact = changes
        .changes
        .iter()
        .filter_map(|c| c.explanation.as_ref())
        .any(|e| e.distance_km != 0.0 || e.score != 0.0);
    assert!(!exact, "no exact distance or score reaches staff");
    assert!(
        changes
            .changes
            .iter()
            .all(|c| c.volunteer_ref.starts_with("v-"))
    );
    Ok(())
}

#[tokio::test]
async fn a_decline_and_an_expiry_each_lead_to_a_new_offer() -> anyhow::Result<()> {
    let mut settings = fast_settings();
    settings.offer_timeout_secs = 3;
    let h = TestApp::spawn_with(settings).await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(2.0, |_| {}).await?;
    let c = h.add_volunteer(3.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 3).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;

    let first = h.current_offer(a).await?;
    let declined = h
        .respond(a, &first.match_id, OfferDecision::Decline)
        .await?;
    assert_eq!(
        declined.offer.map(|o| o.state()),
        Some(MatchState::Declined)
    );

    // The decline brings B an offer; B does not answer, it expires and C gets one.
    let second = h.current_offer(b).await?;
    let third = h.current_offer(c).await?;
    let states = h.task_states(&task.task_id).await?;
    assert!(states.contains(&(first.match_id.clone(), MatchState::Declined)));
    assert!(states.contains(&(second.match_id.clone(), MatchState::Expired)));
    assert!(states.iter().any(|(id, _)| *id == third.match_id));

    // Answering the expired offer is refused.
    let late = h
        .respond(b, &second.match_id, OfferDecision::Accept)
        .await
        .expect_err("an expired offer cannot be accepted");
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);
    assert!(
        late.message().contains("OFFER_EXPIRED"),
        "{}",
        late.message()
    );
    Ok(())
}

#[tokio::test]
async fn reaching_the_headcount_withdraws_the_other_offers() -> anyhow::Result<()> {
    let mut settings = fast_settings();
    settings.over_offer_factor = 2.0;
    let h = TestApp::spawn_with(settings).await?;
    let incident = h.open_incident().await?;
    let mut volunteers = Vec::new();
    for km in [1.0, 2.0, 3.0, 4.0] {
        volunteers.push(h.add_volunteer(km, |_| {}).await?);
    }
    h.wait_for_volunteers(incident, 4).await?;
    let task = h.task(incident, 2);
    h.publish_task(&task).await?;
    try_eventually(WAIT, "four offers", || async {
        Ok(h.staffing(&task.task_id)
            .await
            .is_ok_and(|s| s.offered == 4)
            .then_some(()))
    })
    .await?;

    let mut offers = Vec::new();
    for v in &volunteers {
        offers.push(h.current_offer(*v).await?);
    }
    h.respond(volunteers[2], &offers[2].match_id, OfferDecision::Accept)
        .await?;
    h.respond(volunteers[0], &offers[0].match_id, OfferDecision::Accept)
        .await?;

    let staffing = h.staffing(&task.task_id).await?;
    assert_eq!((staffing.accepted, staffing.offered), (2, 0));
    let late = h
        .respond(volunteers[1], &offers[1].match_id, OfferDecision::Accept)
        .await
        .expect_err("a withdrawn offer cannot be accepted");
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);
    assert!(
        late.message().contains("OFFER_WITHDRAWN"),
        "{}",
        late.message()
    );

    // The sweep does not re-offer a staffed task.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.staffing(&task.task_id).await?.offered, 0);

    // An accepted volunteer withdraws: the place is offered again, also to those whose
    // offers were withdrawn because the task was full.
    h.respond(volunteers[0], &offers[0].match_id, OfferDecision::Decline)
        .await?;
    let again = try_eventually(WAIT, "offers again", || async {
        let staffing = h.staffing(&task.task_id).await?;
        Ok((staffing.offered == 2).then_some(staffing))
    })
    .await?;
    assert_eq!(again.accepted, 1);
    let reoffered = h.current_offer(volunteers[1]).await?;
    assert_ne!(reoffered.match_id, offers[1].match_id);
    Ok(())
}

#[tokio::test]
async fn a_volunteer_erased_mid_offer_is_cancelled_and_replaced() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(2.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let first = h.current_offer(a).await?;

    h.erase_volunteer(a).await?;
    let replacement = h.current_offer(b).await?;
    assert_eq!(replacement.task_id, task.task_id);
    let staffing = h.staffing(&task.task_id).await?;
    let erased = staffing
        .matches
        .iter()
        .find(|m| m.match_id == first.match_id)
        .expect("the erased volunteer's match is still reported");
    assert_eq!(erased.state(), MatchState::Cancelled);
    assert_eq!(erased.cancel_reason(), MatchCancelReason::VolunteerErased);
    // The erased volunteer's token, not yet expired, is refused from now on.
    let refused = h
        .offers(a, true)
        .await
        .expect_err("an erased volunteer's token is refused");
    let status = refused
        .downcast_ref::<tonic::Status>()
        .expect("a gRPC status");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn only_the_coordinator_of_the_organisation_closes_matches() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let offer = h.current_offer(a).await?;
    h.respond(a, &offer.match_id, OfferDecision::Accept).await?;

    let mut client = h.client(0).await?;
    let complete = |outcome: MatchOutcome| CompleteMatchRequest {
        match_id: offer.match_id.clone(),
        outcome: outcome as i32,
    };
    let denied = client
        .complete_match(authed(
            complete(MatchOutcome::Completed),
            &h.dashboard_token(),
        ))
        .await
        .expect_err("a dashboard cannot close matches");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let early = client
        .complete_match(authed(
            complete(MatchOutcome::Completed),
            &h.coordinator_token(),
        ))
        .await
        .expect_err("not checked in yet");
    assert!(early.message().contains("INVALID_TRANSITION"));

    let checked_in = client
        .check_in(authed(
            CheckInRequest {
                match_id: offer.match_id.clone(),
                check_in_code: h.check_in_code(&offer.task_id).await?.code,
            },
            &h.volunteer_token(a),
        ))
        .await?
        .into_inner();
    assert_eq!(
        checked_in.r#match.map(|m| m.state()),
        Some(MatchState::CheckedIn)
    );
    let done = client
        .complete_match(authed(
            complete(MatchOutcome::Completed),
            &h.coordinator_token(),
        ))
        .await?
        .into_inner();
    assert_eq!(done.r#match.map(|m| m.state()), Some(MatchState::Completed));
    // The volunteer's check-in is theirs; the completion is audited as the coordinator's.
    let audited: Vec<(String, String, Option<Uuid>)> =
        sqlx::query_as("SELECT actor_subject, action, match_id FROM audit_log ORDER BY id")
            .fetch_all(&h.pool)
            .await?;
    assert_eq!(
        audited,
        [(
            "coordinator-1".to_owned(),
            "match.completed".to_owned(),
            Some(Uuid::parse_str(&offer.match_id)?)
        )]
    );
    let summary = client
        .get_incident_summary(authed(
            GetIncidentSummaryRequest {
                incident_id: incident.to_string(),
            },
            &h.coordinator_token(),
        ))
        .await?
        .into_inner();
    assert_eq!(
        (summary.needed, summary.accepted, summary.checked_in),
        (1, 1, 1)
    );
    assert_eq!(summary.as_of_sequence, 4);
    Ok(())
}

#[tokio::test]
async fn requests_are_validated_and_scoped() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let mut client = h.client(0).await?;
    let bad = client
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: "nope".into(),
                after_sequence: 0,
                limit: 5000,
            },
            &h.dashboard_token(),
        ))
        .await
        .expect_err("invalid request");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let missing = client
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: Uuid::new_v4().to_string(),
                after_sequence: 0,
                limit: 0,
            },
            &h.dashboard_token(),
        ))
        .await
        .expect_err("unknown incident");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let unauthenticated = client
        .list_my_offers(ListMyOffersRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);
    let not_mine = h
        .respond(
            Uuid::new_v4(),
            &Uuid::new_v4().to_string(),
            OfferDecision::Accept,
        )
        .await
        .expect_err("no such match");
    assert_eq!(not_mine.code(), tonic::Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn pauses_task_changes_and_cancellations_withdraw_offers() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(2.0, |_| {}).await?;
    let c = h
        .add_volunteer(3.0, |v| v.skill_ids.push("boat".into()))
        .await?;
    h.wait_for_volunteers(incident, 3).await?;
    let mut task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let first = h.current_offer(a).await?;

    // A pauses: their offer is cancelled and B gets one.
    let mut paused = common::events::volunteer(a, 1.0);
    paused.status = VolunteerStatus::Paused as i32;
    h.publish_volunteer(&paused, 2).await?;
    let second = h.current_offer(b).await?;

    // The task now needs a boat licence: B no longer fits, C does.
    task.required_skill_ids.push("boat".into());
    task.version = 2;
    h.publish_task(&task).await?;
    let third = h.current_offer(c).await?;
    assert_eq!(third.task_id, task.task_id);

    // The task is cancelled: C's offer is withdrawn, nobody else is asked.
    task.version = 3;
    task.status = TaskStatus::Cancelled as i32;
    let event = spontan_platform::events::envelope(
        task.task_id.clone(),
        3,
        spontan_proto::v1::event_envelope::Payload::TaskCancelled(TaskCancelled {
            task: Some(task.clone()),
            reason: TaskCancelReason::Coordinator as i32,
        }),
    );
    let topic = h.config.platform.kafka.topics.task.clone();
    h.publish(&topic, &task.task_id, Some(&event)).await?;
    let reasons = try_eventually(WAIT, "all matches cancelled", || async {
        let staffing = h.staffing(&task.task_id).await?;
        let done = staffing
            .matches
            .iter()
            .all(|m| m.state() == MatchState::Cancelled);
        Ok(done.then(|| {
            staffing
                .matches
                .iter()
                .map(|m| (m.match_id.clone(), m.cancel_reason()))
                .collect::<Vec<_>>()
        }))
    })
    .await?;
    let reason_of = |id: &str| reasons.iter().find(|(m, _)| m == id).map(|(_, r)| *r);
    assert_eq!(
        reason_of(&first.match_id),
        Some(MatchCancelReason::VolunteerPaused)
    );
    assert_eq!(
        reason_of(&second.match_id),
        Some(MatchCancelReason::TaskChanged)
    );
    assert_eq!(
        reason_of(&third.match_id),
        Some(MatchCancelReason::TaskCancelled)
    );
    assert_eq!(reasons.len(), 3);
    Ok(())
}

#[tokio::test]
async fn optimising_an_incident_keeps_offers_and_reports_objectives() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    h.add_volunteer(2.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let offer = h.current_offer(a).await?;

    let mut client = h.client(0).await?;
    let request = |dry_run| OptimizeIncidentRequest {
        incident_id: incident.to_string(),
        dry_run,
        ..Default::default()
    };
    let denied = client
        .optimize_incident(authed(request(true), &h.dashboard_token()))
        .await
        .expect_err("dashboards cannot optimise");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    for dry_run in [true, false] {
        let result = client
            .optimize_incident(authed(request(dry_run), &h.coordinator_token()))
            .await?
            .into_inner();
        assert_eq!(result.created_match_count, 0);
        assert_eq!(result.assignments.len(), 1);
        assert!(result.assignments[0].kept);
        assert_eq!(result.assignments[0].match_id, offer.match_id);
        let after = result.after.expect("objectives after");
        assert!((after.weighted_coverage - 1.0).abs() < 1e-9);
        assert_eq!(result.before, Some(after));
    }
    // The applied run is audited, the dry run is not.
    let audited: Vec<(String, String, uuid::Uuid)> =
        sqlx::query_as("SELECT actor_subject, action, incident_id FROM audit_log ORDER BY id")
            .fetch_all(&h.pool)
            .await?;
    assert_eq!(
        audited,
        [(
            "coordinator-1".to_owned(),
            "incident.optimized".to_owned(),
            incident
        )]
    );
    Ok(())
}
