//! Offers turning into alerts, against real receivers: the messaging gateway's endpoint
//! (axum) and an SMTP relay (`support`), both on loopback in clear, fed by MatchOffered events
//! published into the real match topic. The gateway fails once, so the retry is shown too.
//! The same over TLS, with AUTH and a signed webhook: `alerts_tls.rs`.

mod common;
mod support;

use std::time::Duration;

use common::*;
use spontan_platform::testkit::authed;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use support::gateway::Receiver;
use support::smtp::{Options, Security, SmtpServer};

#[tokio::test]
async fn an_offer_becomes_a_webhook_call_and_an_email() {
    let gateway = Receiver::start(None, 1).await;
    let relay = SmtpServer::start(Options::new(Security::Plain)).await;
    let app = TestApp::spawn_with(|c| {
        c.alerts.webhook_url = gateway.url.clone();
        c.alerts.smtp_server = relay.server();
        // A relay on loopback may be spoken to in clear.
        c.alerts.smtp_tls = spontan_registration::config::SmtpTls::None;
    })
    .await;
    let mut client = app.client().await;

    // One volunteer alerted by SMS (through the gateway), one by e-mail.
    let sms = app.register(valid_request()).await;
    let mail = app
        .register(email_request("Mara", "mara@example.org"))
        .await;

    let sms_match = app
        .offer(&sms.volunteer_id, "Sandsäcke füllen am Ahrufer")
        .await;
    let mail_match = app
        .offer(&mail.volunteer_id, "Suppenküche Marktplatz")
        .await;

    let call = gateway
        .next(Duration::from_secs(30))
        .await
        .expect("webhook called in time");
    let json = call.json();
    assert_eq!(json["channel"], "ALERT_CHANNEL_SMS");
    assert_eq!(json["to"], PHONE_MARKER);
    assert_eq!(json["kind"], "offer");
    assert_eq!(json["match_id"], sms_match.as_str());
    assert_eq!(json["task_title"], "Sandsäcke füllen am Ahrufer");
    assert!(json["text"].as_str().is_some_and(|t| t.contains("Ahrufer")));
    assert!(call.header("idempotency-key").is_some());
    assert!(
        call.header("x-spontan-signature").is_none(),
        "no secret, no signature"
    );
    assert!(
        gateway.calls() >= 2,
        "the first call failed and was retried"
    );

    let received = relay
        .next(Duration::from_secs(30))
        .await
        .expect("mail in time");
    assert_eq!(received.rcpt, ["mara@example.org"]);
    assert!(!received.tls && received.auth.is_none());
    let text = received.text();
    assert!(text.contains("Hallo Mara,"), "{text}");
    assert!(text.contains("„Suppenküche Marktplatz“"), "{text}");

    // Both are recorded as sent, and appear in the volunteer's export.
    assert_eq!(app.settled_alert(&sms_match).await.0, "sent");
    assert_eq!(app.settled_alert(&mail_match).await.0, "sent");
    let export = client
        .export_my_data(authed(ExportMyDataRequest {}, &mail.access_token))
        .await
        .expect("export")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&export.json).expect("json");
    assert_eq!(json["alerts"][0]["match_id"], mail_match.as_str());
    assert_eq!(json["alerts"][0]["status"], "sent");
    assert_eq!(json["matches"][0]["state"], "MATCH_STATE_OFFERED");
    app.stop().await;
}

#[tokio::test]
async fn coordinators_of_the_match_read_the_contact_of_accepted_volunteers_only() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let me = client
        .register(valid_request())
        .await
        .expect("registered")
        .into_inner();
    let accepted = match_snapshot(&me.volunteer_id, MatchState::Accepted, MatchState::Offered);
    app.publish_snapshot(
        &accepted,
        3,
        Payload::MatchAccepted(MatchAccepted {
            snapshot: Some(accepted.clone()),
        }),
    )
    .await;
    let offered = app.offer(&me.volunteer_id, "Deich sichern").await;

    let token = |role, org: &str| {
        app.issuer
            .issue("staff-1", role, Some(org), Duration::from_secs(600))
            .expect("token")
    };
    let coordinator = token(spontan_platform::auth::Role::Coordinator, "thw-ahrweiler");
    let ask = |match_id: &str| GetVolunteerContactRequest {
        match_id: match_id.into(),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let contact = loop {
        match client
            .get_volunteer_contact(authed(ask(&accepted.match_id), &coordinator))
            .await
        {
            Ok(r) => break r.into_inner().contact.expect("contact"),
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => panic!("unexpected {s:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "match never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(contact.phone_e164, PHONE_MARKER);
    assert_eq!(contact.display_name, NAME_MARKER);

    for (role, org) in [
        (spontan_platform::auth::Role::Coordinator, "drk-bonn"),
        (spontan_platform::auth::Role::Dashboard, "thw-ahrweiler"),
    ] {
        let status = client
            .get_volunteer_contact(authed(ask(&accepted.match_id), &token(role, org)))
            .await
            .expect_err("not theirs");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
    }
    let status = client
        .get_volunteer_contact(authed(ask(&accepted.match_id), &me.access_token))
        .await
        .expect_err("volunteers cannot");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .get_volunteer_contact(authed(ask(&offered), &coordinator))
            .await
            .expect_err("only accepted matches");
        if status.code() == tonic::Code::FailedPrecondition {
            use tonic_types::StatusExt;
            let info = status
                .get_error_details()
                .error_info()
                .cloned()
                .expect("info");
            assert_eq!(info.reason, "MATCH_NOT_ACCEPTED");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "offer never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM contact_access_audit WHERE accessor = 'staff-1'")
            .fetch_one(&app.pool)
            .await
            .expect("audit");
    assert_eq!(audited, 1);
    app.stop().await;
}

/// An offer the system takes back (the task was cancelled, or filled by others) becomes a
/// "withdrawn" alert naming the task, on the channel of the offer; a match that ends without
/// the volunteer having been told of it (a proposal cancelled) and a decline of the
/// volunteer's own make no alert.
#[tokio::test]
async fn a_withdrawn_offer_is_told_to_the_volunteer_and_nothing_else_is() {
    let gateway = Receiver::start(None, 0).await;
    let app = TestApp::spawn_with(|c| c.alerts.webhook_url = gateway.url.clone()).await;
    let me = app.register(valid_request()).await;

    let offered = match_snapshot(&me.volunteer_id, MatchState::Offered, MatchState::Proposed);
    let offer = Payload::MatchOffered(MatchOffered {
        snapshot: Some(offered.clone()),
        expires_at: None,
        task_title: "Deich Nord sichern".into(),
        task_address: String::new(),
    });
    app.publish_snapshot(&offered, 2, offer).await;
    let first = gateway
        .next(Duration::from_secs(30))
        .await
        .expect("the offer's alert");
    assert_eq!(first.json()["kind"], "offer");

    // Proposed, never offered, then cancelled: the volunteer never heard of it.
    let unheard = match_snapshot(
        &me.volunteer_id,
        MatchState::Cancelled,
        MatchState::Proposed,
    );
    let cancelled = Payload::MatchCancelled(MatchCancelled {
        snapshot: Some(unheard.clone()),
        ..Default::default()
    });
    app.publish_snapshot(&unheard, 2, cancelled).await;

    // The offer is taken back, on the same key (the task), after the offer.
    let withdrawn = MatchSnapshot {
        state: MatchState::Cancelled as i32,
        previous_state: MatchState::Offered as i32,
        ..offered.clone()
    };
    let cancelled = Payload::MatchCancelled(MatchCancelled {
        snapshot: Some(withdrawn.clone()),
        ..Default::default()
    });
    app.publish_snapshot(&withdrawn, 3, cancelled).await;
    let call = gateway
        .next(Duration::from_secs(30))
        .await
        .expect("the withdrawal's alert");
    let json = call.json();
    assert_eq!(json["kind"], "withdrawn");
    assert_eq!(json["match_id"], offered.match_id.as_str());
    assert_eq!(json["to"], PHONE_MARKER);
    let text = json["text"].as_str().expect("text");
    assert!(
        text.contains("„Deich Nord sichern“") && text.contains("zurückgezogen"),
        "{text}"
    );

    // The unheard-of match made no alert: a third call never comes.
    assert!(
        gateway.next(Duration::from_secs(2)).await.is_none(),
        "no alert for a match the volunteer was never offered"
    );
    assert_eq!(gateway.calls(), 2);
    app.stop().await;
}
