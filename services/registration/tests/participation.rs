//! The participation list and a volunteer's own hours, from match events on the real topic
//! and a real PostgreSQL: who worked in an incident (names, task, place, date, hours) for the
//! coordinator's organisation only, each listing audited per volunteer, and the hours in the
//! volunteer's export.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, eventually};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use uuid::Uuid;

#[tokio::test]
async fn coordinators_list_who_worked_with_their_hours_and_volunteers_export_theirs() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let incident = Uuid::new_v4().to_string();
    let task = Uuid::new_v4().to_string();
    let start = Utc::now() - chrono::Duration::hours(6);
    let at = |volunteer_id: &str, state: MatchState, previous: MatchState| MatchSnapshot {
        task_id: task.clone(),
        incident_id: incident.clone(),
        window: Some(TimeWindow {
            start_time: Some(ts(start)),
            end_time: Some(ts(start + chrono::Duration::hours(4))),
        }),
        ..match_snapshot(volunteer_id, state, previous)
    };
    let mara = app
        .register(email_request("Mara Weber", "mara@example.org"))
        .await;
    let jonas = app
        .register(email_request("Jonas Adler", "jonas@example.org"))
        .await;
    let only_offered = app.register(valid_request()).await;

    // Mara: offered (title and address), then completed with three hours on site.
    let offered = at(
        &mara.volunteer_id,
        MatchState::Offered,
        MatchState::Proposed,
    );
    app.publish_snapshot(
        &offered,
        2,
        Payload::MatchOffered(MatchOffered {
            snapshot: Some(offered.clone()),
            expires_at: None,
            task_title: "Sandsäcke füllen".into(),
            task_address: "Ahrtor, Ahrweiler".into(),
        }),
    )
    .await;
    let done = MatchSnapshot {
        state: MatchState::Completed as i32,
        previous_state: MatchState::CheckedIn as i32,
        checked_in_at: Some(ts(start)),
        checked_out_at: Some(ts(start + chrono::Duration::hours(3))),
        hours_on_site: 3.0,
        ..offered.clone()
    };
    app.publish_snapshot(
        &done,
        5,
        Payload::MatchCompleted(MatchCompleted {
            snapshot: Some(done.clone()),
        }),
    )
    .await;
    // Jonas is still on site; the third volunteer only has an open offer.
    let on_site = MatchSnapshot {
        checked_in_at: Some(ts(start + chrono::Duration::hours(1))),
        ..at(
            &jonas.volunteer_id,
            MatchState::CheckedIn,
            MatchState::Accepted,
        )
    };
    app.publish_snapshot(
        &on_site,
        4,
        Payload::MatchCheckedIn(MatchCheckedIn {
            snapshot: Some(on_site.clone()),
        }),
    )
    .await;
    let open = at(
        &only_offered.volunteer_id,
        MatchState::Offered,
        MatchState::Proposed,
    );
    app.publish_snapshot(
        &open,
        2,
        Payload::MatchOffered(MatchOffered {
            snapshot: Some(open.clone()),
            ..Default::default()
        }),
    )
    .await;

    let token = |role, org: &str| {
        app.issuer
            .issue(
                "einsatzleitung-1",
                role,
                Some(org),
                Duration::from_secs(600),
            )
            .expect("token")
    };
    let coordinator = token(Role::Coordinator, "thw-ahrweiler");
    let list = |token: String| {
        let mut client = client.clone();
        let incident = incident.clone();
        async move {
            client
                .list_participants(authed(
                    ListParticipantsRequest {
                        incident_id: incident,
                    },
                    &token,
                ))
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let listed = eventually(Duration::from_secs(30), "both participants", || {
        let list = list(coordinator.clone());
        async move {
            let listed = list.await.expect("listed");
            (listed.participants.len() == 2
                && listed.participants.iter().any(|p| p.hours_on_site > 0.0))
            .then_some(listed)
        }
    })
    .await;
    let names: Vec<&str> = listed
        .participants
        .iter()
        .map(|p| p.display_name.as_str())
        .collect();
    assert_eq!(names, ["Jonas Adler", "Mara Weber"]);
    let mara_row = &listed.participants[1];
    assert_eq!(mara_row.task_title, "Sandsäcke füllen");
    assert_eq!(mara_row.task_address, "Ahrtor, Ahrweiler");
    assert!((mara_row.hours_on_site - 3.0).abs() < 1e-9);
    assert_eq!(mara_row.state(), MatchState::Completed);
    assert!(mara_row.checked_out_at.is_some());
    assert_eq!(listed.participants[0].state(), MatchState::CheckedIn);
    assert!((listed.total_hours - 3.0).abs() < 1e-9);

    // Each listing is a read of their names, audited per volunteer.
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT accessor, purpose FROM contact_access_audit WHERE purpose = 'participation'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert!(audited.len() >= 2, "{audited:?}");
    assert!(audited.iter().all(|(who, _)| who == "einsatzleitung-1"));

    // Another organisation lists nobody; dashboards may not list names.
    assert!(
        list(token(Role::Coordinator, "drk-bonn"))
            .await
            .expect("listed")
            .participants
            .is_empty()
    );
    assert_eq!(
        list(token(Role::Dashboard, "thw-ahrweiler"))
            .await
            .expect_err("no names for dashboards")
            .code(),
        tonic::Code::PermissionDenied
    );

    // Mara's export has her hours.
    let export = client
        .export_my_data(authed(ExportMyDataRequest {}, &mara.access_token))
        .await
        .expect("export")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&export.json).expect("json");
    assert_eq!(json["total_hours_on_site"], 3.0, "{json:#}");
    assert_eq!(json["matches"][0]["hours_on_site"], 3.0);
    assert_eq!(json["matches"][0]["task_title"], "Sandsäcke füllen");
    app.stop().await;
}
