//! Messages from coordinators to volunteers, and reminders, against the real match topic, a
//! real PostgreSQL and a real receiver for the messaging gateway (`support::gateway`): who
//! gets a message (accepted and checked-in volunteers of the task or incident, of the
//! sender's organisation), once per message id, opt-outs and essential messages, the rate
//! limit, delivery counts, and a reminder before an accepted task starts.

mod common;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, eventually, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use support::gateway::Receiver;
use tonic::transport::Channel;
use uuid::Uuid;

const ORG: &str = "thw-ahrweiler";

/// The place of a match: task and incident.
#[derive(Clone)]
struct Place {
    task_id: String,
    incident_id: String,
}

fn place() -> Place {
    Place {
        task_id: Uuid::new_v4().to_string(),
        incident_id: Uuid::new_v4().to_string(),
    }
}

impl TestApp {
    /// Publishes that the volunteer's match of `at`, starting `starts_in` from now, is in
    /// `state`; the match id.
    async fn matched(
        &self,
        volunteer_id: &str,
        at: &Place,
        state: MatchState,
        starts_in: chrono::Duration,
    ) -> String {
        let start = chrono::Utc::now() + starts_in;
        let snapshot = MatchSnapshot {
            task_id: at.task_id.clone(),
            incident_id: at.incident_id.clone(),
            window: Some(TimeWindow {
                start_time: Some(ts(start)),
                end_time: Some(ts(start + chrono::Duration::hours(3))),
            }),
            ..match_snapshot(volunteer_id, state, MatchState::Offered)
        };
        let payload = match state {
            MatchState::Accepted => Payload::MatchAccepted(MatchAccepted {
                snapshot: Some(snapshot.clone()),
            }),
            MatchState::CheckedIn => Payload::MatchCheckedIn(MatchCheckedIn {
                snapshot: Some(snapshot.clone()),
            }),
            _ => Payload::MatchOffered(MatchOffered {
                snapshot: Some(snapshot.clone()),
                expires_at: None,
                task_title: "Deich Nord sichern".into(),
                task_address: String::new(),
            }),
        };
        self.publish_snapshot(&snapshot, 3, payload).await;
        snapshot.match_id
    }

    /// Waits until registration has heard of `count` matches.
    async fn heard(&self, count: i64) {
        eventually(Duration::from_secs(30), "the matches heard", || async {
            let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM matches_seen")
                .fetch_one(&self.pool)
                .await
                .expect("count");
            (seen >= count).then_some(())
        })
        .await;
    }

    fn staff(&self, role: Role, org: &str) -> String {
        self.issuer
            .issue(
                "einsatzleitung-1",
                role,
                Some(org),
                Duration::from_secs(600),
            )
            .expect("token")
    }
}

fn message(at: &Place, task: bool, text: &str, essential: bool) -> SendVolunteerMessageRequest {
    SendVolunteerMessageRequest {
        message_id: Uuid::new_v4().to_string(),
        incident_id: at.incident_id.clone(),
        task_id: if task {
            at.task_id.clone()
        } else {
            String::new()
        },
        text: text.into(),
        essential,
    }
}

async fn send(
    client: &mut RegistrationServiceClient<Channel>,
    request: SendVolunteerMessageRequest,
    token: &str,
) -> Result<VolunteerMessage, tonic::Status> {
    client
        .send_volunteer_message(authed(request, token))
        .await
        .map(|r| r.into_inner().message.expect("message"))
}

/// The match ids of the gateway calls of `kind` that arrive within `within`.
async fn calls(gateway: &Receiver, kind: &str, within: Duration) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    while let Some(call) = gateway.next(within).await {
        let json = call.json();
        if json["kind"] == kind {
            found.push(json);
        }
    }
    found
}

#[tokio::test]
async fn a_message_reaches_the_accepted_volunteers_of_the_task_once() {
    let gateway = Receiver::start(None, 0).await;
    let app = TestApp::spawn_with(|c| c.alerts.webhook_url = gateway.url.clone()).await;
    let mut client = app.client().await;
    let at = place();
    let other_task = Place {
        task_id: Uuid::new_v4().to_string(),
        ..at.clone()
    };
    let soon = chrono::Duration::hours(5);
    let accepted = app.register(valid_request()).await.volunteer_id;
    let on_site = app.register(valid_request()).await.volunteer_id;
    let only_offered = app.register(valid_request()).await.volunteer_id;
    let elsewhere = app.register(valid_request()).await.volunteer_id;
    let accepted_match = app
        .matched(&accepted, &at, MatchState::Accepted, soon)
        .await;
    let on_site_match = app
        .matched(&on_site, &at, MatchState::CheckedIn, soon)
        .await;
    app.matched(&only_offered, &at, MatchState::Offered, soon)
        .await;
    let elsewhere_match = app
        .matched(&elsewhere, &other_task, MatchState::Accepted, soon)
        .await;
    app.heard(4).await;
    // The offer's own alert goes out first; it is not what this test is about.
    calls(&gateway, "offer", Duration::from_secs(2)).await;

    let coordinator = app.staff(Role::Coordinator, ORG);
    let request = message(&at, true, "Treffpunkt verlegt: Parkplatz Ahrtor", false);
    let sent = send(&mut client, request.clone(), &coordinator)
        .await
        .expect("sent");
    assert_eq!(sent.text, "Treffpunkt verlegt: Parkplatz Ahrtor");
    assert_eq!(sent.organisation_id, ORG);
    assert_eq!(sent.sender_subject, "einsatzleitung-1");
    assert_eq!(sent.delivery.expect("delivery").recipients, 2);
    let delivered = calls(&gateway, "message", Duration::from_secs(5)).await;
    let to: HashSet<&str> = delivered
        .iter()
        .map(|c| c["match_id"].as_str().expect("match id"))
        .collect();
    assert_eq!(
        to,
        HashSet::from([accepted_match.as_str(), on_site_match.as_str()])
    );
    for call in &delivered {
        let text = call["text"].as_str().expect("text");
        assert!(
            text.contains("Treffpunkt verlegt: Parkplatz Ahrtor"),
            "{text}"
        );
    }

    // The same message again: the same answer, nobody told twice.
    let again = send(&mut client, request.clone(), &coordinator)
        .await
        .expect("sent again");
    assert_eq!(again.message_id, sent.message_id);
    assert!(
        calls(&gateway, "message", Duration::from_secs(2))
            .await
            .is_empty()
    );
    // Its id for another text is refused.
    let reused = send(
        &mut client,
        SendVolunteerMessageRequest {
            text: "Etwas anderes".into(),
            ..request
        },
        &coordinator,
    )
    .await
    .expect_err("id taken");
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);

    // To the whole incident: every accepted or checked-in volunteer, of any task.
    let all = send(
        &mut client,
        message(&at, false, "Bitte Gummistiefel mitbringen.", false),
        &coordinator,
    )
    .await
    .expect("sent");
    assert_eq!(all.delivery.expect("delivery").recipients, 3);
    let delivered = calls(&gateway, "message", Duration::from_secs(5)).await;
    let to: HashSet<&str> = delivered
        .iter()
        .map(|c| c["match_id"].as_str().expect("match id"))
        .collect();
    assert!(to.contains(elsewhere_match.as_str()), "{to:?}");
    assert_eq!(to.len(), 3);

    // Delivery counts follow the gateway's answers; newest first.
    let listed = eventually(Duration::from_secs(30), "both delivered", || {
        let mut client = client.clone();
        let (coordinator, incident) = (&coordinator, &at.incident_id);
        async move {
            let list = client
                .list_volunteer_messages(authed(
                    ListVolunteerMessagesRequest {
                        incident_id: incident.clone(),
                        ..Default::default()
                    },
                    coordinator,
                ))
                .await
                .expect("list")
                .into_inner()
                .messages;
            list.iter()
                .all(|m| m.delivery.is_some_and(|d| d.sent == d.recipients))
                .then_some(list)
        }
    })
    .await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].message_id, all.message_id);
    assert_eq!(listed[1].message_id, sent.message_id);

    // Another organisation reaches none of them and sees none of this.
    let stranger = app.staff(Role::Coordinator, "drk-bonn");
    let none = send(&mut client, message(&at, false, "Hallo", true), &stranger)
        .await
        .expect("sent to nobody");
    assert_eq!(none.delivery.expect("delivery").recipients, 0);
    let theirs = client
        .list_volunteer_messages(authed(
            ListVolunteerMessagesRequest {
                incident_id: at.incident_id.clone(),
                ..Default::default()
            },
            &stranger,
        ))
        .await
        .expect("list")
        .into_inner()
        .messages;
    assert_eq!(theirs.len(), 1, "only their own message");
    // Dashboards and volunteers cannot send.
    for token in [
        app.staff(Role::Dashboard, ORG),
        app.register(valid_request()).await.access_token,
    ] {
        let refused = send(&mut client, message(&at, true, "Hallo", false), &token)
            .await
            .expect_err("not staff");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_are_refused_at_their_field() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let coordinator = app.staff(Role::Coordinator, ORG);
    let at = place();
    for (request, field) in [
        (message(&at, true, "   ", false), "text"),
        (message(&at, true, &"x".repeat(501), false), "text"),
        (message(&at, true, "Achtung\u{202e}gnuthcA", false), "text"),
        (
            SendVolunteerMessageRequest {
                message_id: "eins".into(),
                ..message(&at, true, "Hallo", false)
            },
            "message_id",
        ),
        (
            SendVolunteerMessageRequest {
                task_id: "Deich".into(),
                ..message(&at, true, "Hallo", false)
            },
            "task_id",
        ),
        (
            SendVolunteerMessageRequest {
                incident_id: String::new(),
                ..message(&at, true, "Hallo", false)
            },
            "incident_id",
        ),
    ] {
        let status = send(&mut client, request, &coordinator)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(violated_fields(&status), [field]);
    }
    // Five hundred characters, line breaks included, are fine.
    let long = format!("{}\n{}", "a".repeat(249), "b".repeat(250));
    send(&mut client, message(&at, true, &long, false), &coordinator)
        .await
        .expect("500 characters");
    app.stop().await;
}

#[tokio::test]
async fn opted_out_volunteers_get_only_essential_messages_and_the_rate_is_limited() {
    let gateway = Receiver::start(None, 0).await;
    let app = TestApp::spawn_with(|c| {
        c.alerts.webhook_url = gateway.url.clone();
        c.alerts.messages_per_hour = 2;
    })
    .await;
    let mut client = app.client().await;
    let at = place();
    let soon = chrono::Duration::hours(5);
    let keen = app.register(valid_request()).await.volunteer_id;
    let quiet = app.register(valid_request()).await.volunteer_id;
    sqlx::query("UPDATE volunteers SET messages_opt_out = true WHERE id = $1::uuid")
        .bind(&quiet)
        .execute(&app.pool)
        .await
        .expect("opted out");
    let keen_match = app.matched(&keen, &at, MatchState::Accepted, soon).await;
    let quiet_match = app.matched(&quiet, &at, MatchState::Accepted, soon).await;
    app.heard(2).await;
    let coordinator = app.staff(Role::Coordinator, ORG);

    let chatty = send(
        &mut client,
        message(&at, true, "Kaffee steht bereit.", false),
        &coordinator,
    )
    .await
    .expect("sent");
    let delivery = chatty.delivery.expect("delivery");
    assert_eq!((delivery.recipients, delivery.opted_out), (2, 1));
    let delivered = calls(&gateway, "message", Duration::from_secs(4)).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["match_id"], keen_match.as_str());

    let urgent = send(
        &mut client,
        message(&at, true, "Deichbruch: nicht mehr anreisen!", true),
        &coordinator,
    )
    .await
    .expect("sent");
    assert_eq!(urgent.delivery.expect("delivery").opted_out, 0);
    let delivered = calls(&gateway, "message", Duration::from_secs(4)).await;
    let to: HashSet<&str> = delivered
        .iter()
        .map(|c| c["match_id"].as_str().expect("match id"))
        .collect();
    assert_eq!(
        to,
        HashSet::from([keen_match.as_str(), quiet_match.as_str()])
    );

    // Two an hour: the third waits, and is told how long.
    let limited = send(
        &mut client,
        message(&at, true, "Noch eine Nachricht", false),
        &coordinator,
    )
    .await
    .expect_err("rate-limited");
    assert_eq!(limited.code(), tonic::Code::ResourceExhausted);
    use tonic_types::StatusExt;
    let retry = limited
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay);
    assert!(
        retry.is_some_and(|d| d > Duration::from_secs(3000) && d <= Duration::from_secs(3600)),
        "{retry:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_accepted_task_that_starts_soon_is_reminded_once() {
    let gateway = Receiver::start(None, 0).await;
    let app = TestApp::spawn_with(|c| {
        c.alerts.webhook_url = gateway.url.clone();
        c.alerts.reminder_lead_minutes = 60;
        c.alerts.reminder_scan_secs = 1;
    })
    .await;
    let at = place();
    let soon = app.register(valid_request()).await.volunteer_id;
    let later = app.register(valid_request()).await.volunteer_id;
    let quiet = app.register(valid_request()).await.volunteer_id;
    sqlx::query("UPDATE volunteers SET messages_opt_out = true WHERE id = $1::uuid")
        .bind(&quiet)
        .execute(&app.pool)
        .await
        .expect("opted out");
    let soon_match = app
        .matched(
            &soon,
            &at,
            MatchState::Accepted,
            chrono::Duration::minutes(30),
        )
        .await;
    app.matched(
        &later,
        &at,
        MatchState::Accepted,
        chrono::Duration::hours(3),
    )
    .await;
    app.matched(
        &quiet,
        &at,
        MatchState::Accepted,
        chrono::Duration::minutes(20),
    )
    .await;
    app.heard(3).await;

    // Scans every second: one reminder, for the task in 30 minutes, in several scans' time.
    let reminders = calls(&gateway, "reminder", Duration::from_secs(5)).await;
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(reminders[0]["match_id"], soon_match.as_str());
    let text = reminders[0]["text"].as_str().expect("text");
    assert!(
        text.contains("Erinnerung") && text.contains("starts soon"),
        "{text}"
    );
    app.stop().await;
}
