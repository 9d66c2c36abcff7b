//! Check-in and check-out on site over real gRPC and PostgreSQL: a volunteer proves they are
//! at the meeting point with the task's rotating code (typed or scanned), a wrong or foreign
//! code is refused at its field and counted, and check-out keeps the hours on site.

mod common;

use std::time::Duration;

use common::TestApp;
use spontan_platform::testkit::{authed, try_eventually, violated_fields};
use spontan_proto::v1::*;
use tonic::Code;
use uuid::Uuid;

/// A volunteer with an accepted match for a fresh task; returns the volunteer and the offer.
async fn accepted(h: &TestApp) -> anyhow::Result<(Uuid, Offer)> {
    let incident = h.open_incident().await?;
    let volunteer = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    h.publish_task(&h.task(incident, 1)).await?;
    let offer = h.current_offer(volunteer).await?;
    h.respond(volunteer, &offer.match_id, OfferDecision::Accept)
        .await?;
    Ok((volunteer, offer))
}

async fn check_in(
    h: &TestApp,
    token: &str,
    match_id: &str,
    code: &str,
) -> Result<CheckInResponse, tonic::Status> {
    let mut client = h
        .client(0)
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    client
        .check_in(authed(
            CheckInRequest {
                match_id: match_id.into(),
                check_in_code: code.into(),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn check_out(h: &TestApp, token: &str, match_id: &str) -> Result<Match, tonic::Status> {
    let mut client = h
        .client(0)
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let response = client
        .check_out(authed(
            CheckOutRequest {
                match_id: match_id.into(),
            },
            token,
        ))
        .await?;
    response
        .into_inner()
        .r#match
        .ok_or_else(|| tonic::Status::internal("no match in the answer"))
}

#[tokio::test]
async fn a_volunteer_checks_in_with_the_code_on_site_and_checking_out_keeps_the_hours()
-> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let (volunteer, offer) = accepted(&h).await?;
    let token = h.volunteer_token(volunteer);

    let missing = check_in(&h, &token, &offer.match_id, "")
        .await
        .expect_err("a volunteer needs the code");
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&missing), ["check_in_code"]);

    let shown = h.check_in_code(&offer.task_id).await?;
    assert_eq!(shown.code.len(), 6);
    assert_eq!(shown.rotation_seconds, 600);
    assert_eq!(
        shown.qr_text,
        format!("spontan-checkin:{}:{}", offer.task_id, shown.code)
    );
    let rotates = shown.rotates_at.expect("rotates_at").seconds;
    let valid_until = shown.valid_until.expect("valid_until").seconds;
    assert_eq!(
        valid_until - rotates,
        600,
        "accepted one period after it changes"
    );

    // A scanned QR code is as good as typed digits.
    let checked_in = check_in(&h, &token, &offer.match_id, &shown.qr_text)
        .await?
        .r#match
        .expect("match");
    assert_eq!(checked_in.state(), MatchState::CheckedIn);
    let arrived = checked_in.checked_in_at.expect("checked_in_at");
    assert!(checked_in.checked_out_at.is_none());
    assert_eq!(checked_in.hours_on_site, 0.0);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let done = check_out(&h, &token, &offer.match_id).await?;
    assert_eq!(done.state(), MatchState::Completed);
    let left = done.checked_out_at.expect("checked_out_at");
    assert_eq!(done.checked_in_at, Some(arrived));
    let seconds =
        (left.seconds - arrived.seconds) as f64 + f64::from(left.nanos - arrived.nanos) / 1e9;
    assert!(seconds >= 1.0, "{seconds}");
    assert!((done.hours_on_site - seconds / 3600.0).abs() < 0.01 / 3600.0);

    // The volunteer sees the same hours in their list.
    let listed = h.offers(volunteer, true).await?;
    let mine = listed
        .iter()
        .find(|o| o.match_id == offer.match_id)
        .expect("listed");
    assert_eq!(mine.state(), MatchState::Completed);
    assert_eq!(mine.hours_on_site, done.hours_on_site);
    // Checking out again changes nothing.
    let again = check_out(&h, &token, &offer.match_id).await?;
    assert_eq!(again.checked_out_at, Some(left));
    // The volunteer's own steps are in the match's change log, not the staff audit trail.
    assert!(audit_trail(&h).await?.is_empty());
    Ok(())
}

/// The staff audit trail: (actor, role, action, match) in order.
async fn audit_trail(h: &TestApp) -> anyhow::Result<Vec<(String, String, String, Option<Uuid>)>> {
    Ok(sqlx::query_as(
        "SELECT actor_subject, actor_role, action, match_id FROM audit_log ORDER BY id",
    )
    .fetch_all(&h.pool)
    .await?)
}

#[tokio::test]
async fn a_foreign_or_wrong_code_is_refused_and_ten_of_them_leave_it_to_the_coordinator()
-> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let (volunteer, offer) = accepted(&h).await?;
    let token = h.volunteer_token(volunteer);

    let early = check_out(&h, &token, &offer.match_id)
        .await
        .expect_err("not on site yet");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().starts_with("MATCH_NOT_CHECKED_IN"));

    // Another task's code, even as its QR text, does not open this one.
    let other = h.task(offer.incident_id.parse()?, 1);
    h.publish_task(&other).await?;
    let foreign = try_eventually(Duration::from_secs(30), "the other task's code", || async {
        Ok(h.check_in_code(&other.task_id).await.ok())
    })
    .await?;
    let own = h.check_in_code(&offer.task_id).await?;
    if foreign.code != own.code {
        let refused = check_in(&h, &token, &offer.match_id, &foreign.code)
            .await
            .expect_err("another task's code");
        assert_eq!(violated_fields(&refused), ["check_in_code"]);
    }
    let refused = check_in(&h, &token, &offer.match_id, &foreign.qr_text)
        .await
        .expect_err("another task's QR code");
    assert_eq!(violated_fields(&refused), ["check_in_code"]);

    // Wrong guesses up to the limit (the two above count too), then even the right code is
    // refused: a million codes cannot be tried from home.
    let wrong = if own.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..8 {
        let refused = check_in(&h, &token, &offer.match_id, wrong)
            .await
            .expect_err("a wrong code");
        assert_eq!(refused.code(), Code::InvalidArgument);
    }
    let locked = check_in(&h, &token, &offer.match_id, &own.code)
        .await
        .expect_err("locked after ten wrong codes");
    assert_eq!(locked.code(), Code::FailedPrecondition);
    assert!(
        locked.message().starts_with("CHECK_IN_LOCKED"),
        "{locked:?}"
    );

    // The coordinator on site checks the volunteer in without a code.
    let checked_in = check_in(&h, &h.coordinator_token(), &offer.match_id, "")
        .await?
        .r#match
        .expect("match");
    assert_eq!(checked_in.state(), MatchState::CheckedIn);
    let done = check_out(&h, &h.coordinator_token(), &offer.match_id).await?;
    assert_eq!(done.state(), MatchState::Completed);
    // Both are the coordinator's doing, and audited as such.
    let match_id = Uuid::parse_str(&offer.match_id)?;
    let entry = |action: &str| {
        (
            "coordinator-1".to_owned(),
            "coordinator".to_owned(),
            action.to_owned(),
            Some(match_id),
        )
    };
    assert_eq!(
        audit_trail(&h).await?,
        [entry("match.checked_in"), entry("match.checked_out")]
    );
    // A dashboard never sees the code.
    let denied = h
        .client(0)
        .await?
        .get_check_in_code(authed(
            GetCheckInCodeRequest {
                task_id: offer.task_id.clone(),
            },
            &h.dashboard_token(),
        ))
        .await
        .expect_err("dashboards may not read codes");
    assert_eq!(denied.code(), Code::PermissionDenied);
    Ok(())
}
