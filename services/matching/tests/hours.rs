//! Hours on site corrected by a coordinator when check-in or check-out was forgotten, over
//! real gRPC, PostgreSQL and the broker: the match becomes COMPLETED with the hours, the
//! correction is audited with its reason and published with the times.

mod common;

use chrono::{Duration as Span, Utc};
use common::TestApp;
use spontan_platform::events::timestamp;
use spontan_platform::testkit::{authed, error_reason, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;

fn correction(match_id: &str, hours_ago: i64, hours: i64, reason: &str) -> CorrectHoursRequest {
    let arrived = Utc::now() - Span::hours(hours_ago);
    CorrectHoursRequest {
        match_id: match_id.into(),
        checked_in_at: Some(timestamp(arrived)),
        checked_out_at: Some(timestamp(arrived + Span::hours(hours))),
        reason: reason.into(),
    }
}

#[tokio::test]
async fn a_no_show_who_was_there_after_all_gets_their_hours_with_a_reason() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let v = h.add_volunteer(1.0, |_| {}).await?;
    let other = h.add_volunteer(2.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let task = h.task(incident, 2);
    h.publish_task(&task).await?;
    let offer = h.current_offer(v).await?;
    let open = h.current_offer(other).await?;
    h.respond(v, &offer.match_id, OfferDecision::Accept).await?;
    let mut client = h.client(0).await?;
    let coordinator = h.coordinator_token();
    client
        .complete_match(authed(
            CompleteMatchRequest {
                match_id: offer.match_id.clone(),
                outcome: MatchOutcome::NoShow as i32,
            },
            &coordinator,
        ))
        .await?;

    // Bad corrections are refused at their fields.
    for (request, field) in [
        (
            correction(&offer.match_id, 5, -1, "Schichtliste"),
            "checked_out_at",
        ),
        (
            correction(&offer.match_id, 30, 25, "Schichtliste"),
            "checked_out_at",
        ),
        (
            correction(&offer.match_id, 1, 3, "Schichtliste"),
            "checked_out_at",
        ),
        (correction(&offer.match_id, 5, 3, "x"), "reason"),
        (
            CorrectHoursRequest {
                checked_in_at: None,
                ..correction(&offer.match_id, 5, 3, "Schichtliste")
            },
            "checked_in_at",
        ),
    ] {
        let status = client
            .correct_hours(authed(request, &coordinator))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(violated_fields(&status), [field], "{status:?}");
    }
    let denied = client
        .correct_hours(authed(
            correction(&offer.match_id, 5, 3, "Schichtliste"),
            &h.dashboard_token(),
        ))
        .await
        .expect_err("dashboards read only");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let never = client
        .correct_hours(authed(
            correction(&open.match_id, 5, 3, "Schichtliste"),
            &coordinator,
        ))
        .await
        .expect_err("an open offer has no hours");
    assert_eq!(error_reason(&never).as_deref(), Some("INVALID_TRANSITION"));

    let corrected = client
        .correct_hours(authed(
            correction(
                &offer.match_id,
                5,
                3,
                "war laut Schichtliste von 9 bis 12 da",
            ),
            &coordinator,
        ))
        .await?
        .into_inner()
        .r#match
        .expect("match");
    assert_eq!(corrected.state(), MatchState::Completed);
    assert!((corrected.hours_on_site - 3.0).abs() < 1e-6);
    // The volunteer sees their hours too.
    let theirs = h.offers(v, true).await?;
    let mine = theirs
        .iter()
        .find(|o| o.match_id == offer.match_id)
        .expect("their match");
    assert!((mine.hours_on_site - 3.0).abs() < 1e-6);

    let (action, details): (String, serde_json::Value) = sqlx::query_as(
        "SELECT action, details FROM audit_log WHERE match_id = $1::uuid ORDER BY id DESC LIMIT 1",
    )
    .bind(&offer.match_id)
    .fetch_one(&h.pool)
    .await?;
    assert_eq!(action, "match.hours_corrected");
    assert_eq!(details["reason"], "war laut Schichtliste von 9 bis 12 da");
    assert_eq!(details["state_before"], "no_show");

    // Published with the times, for registration's participation list.
    let events = h.match_events(5).await?;
    let completed = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::MatchCompleted(c)) => c.snapshot.as_ref(),
            _ => None,
        })
        .find(|s| s.match_id == offer.match_id)
        .expect("the correction's event");
    assert!((completed.hours_on_site - 3.0).abs() < 1e-6);
    assert!(completed.checked_in_at.is_some() && completed.checked_out_at.is_some());
    assert_eq!(completed.previous_state, MatchState::NoShow as i32);
    Ok(())
}
