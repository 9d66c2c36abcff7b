//! Offers turning into alerts, against real receivers: a webhook server (the messaging
//! gateway) written with axum and an SMTP sink written here, fed by MatchOffered events
//! published into the real match topic. The gateway fails once, so the retry is shown too.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use common::*;
use spontan_platform::events::envelope;
use spontan_platform::testkit::authed;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Hook = (HeaderMap, serde_json::Value);

#[derive(Clone)]
struct Gateway {
    calls: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<Hook>,
}

async fn hook(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if g.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        // The gateway is overloaded on the first call.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let json = serde_json::from_slice(&body).unwrap_or_default();
    let _ = g.tx.send((headers, json));
    StatusCode::ACCEPTED
}

async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<Hook>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/alerts", axum::routing::post(hook))
        .with_state(Gateway {
            calls: calls.clone(),
            tx,
        });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/alerts"), rx, calls)
}

/// A mail (envelope recipient and DATA) as the sink received it.
type Mail = (String, String);

/// Just enough SMTP to accept mail: 220, EHLO/HELO 250, MAIL/RCPT 250, DATA 354, '.' 250,
/// QUIT 221.
async fn smtp_sink() -> (String, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ready\r\n").await;
                let (mut rcpt, mut data, mut in_data) = (String::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let _ = tx.send((rcpt.clone(), data.clone()));
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        rcpt = line[8..].trim().trim_matches(['<', '>']).to_owned();
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"502 not implemented\r\n"
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (addr.to_string(), rx)
}

/// Publishes a match event into the match topic, keyed by task id as matching does.
async fn publish(app: &TestApp, s: &MatchSnapshot, version: u64, payload: Payload) {
    app.publish_match(&s.task_id, &envelope(s.match_id.clone(), version, payload))
        .await;
}

async fn offer(app: &TestApp, volunteer_id: &str, title: &str) -> String {
    let s = match_snapshot(volunteer_id, MatchState::Offered, MatchState::Proposed);
    let payload = Payload::MatchOffered(MatchOffered {
        snapshot: Some(s.clone()),
        expires_at: Some(ts(chrono::Utc::now() + chrono::Duration::minutes(30))),
        task_title: title.into(),
    });
    publish(app, &s, 2, payload).await;
    s.match_id
}

#[tokio::test]
async fn an_offer_becomes_a_webhook_call_and_an_email() {
    let (url, mut hooks, calls) = webhook_receiver().await;
    let (smtp, mut mails) = smtp_sink().await;
    let app = TestApp::spawn_with(|c| {
        c.alerts.webhook_url = url;
        c.alerts.smtp_server = smtp;
    })
    .await;
    let mut client = app.client().await;

    // One volunteer alerted by SMS (through the gateway), one by e-mail.
    let sms = client
        .register(valid_request())
        .await
        .expect("sms")
        .into_inner();
    let mut by_mail = valid_request();
    by_mail.preferred_alert_channel = AlertChannel::Email as i32;
    by_mail.contact = Some(Contact {
        display_name: "Mara".into(),
        phone_e164: String::new(),
        email: "mara@example.org".into(),
    });
    let mail = client.register(by_mail).await.expect("email").into_inner();

    let sms_match = offer(&app, &sms.volunteer_id, "Sandsäcke füllen am Ahrufer").await;
    let mail_match = offer(&app, &mail.volunteer_id, "Suppenküche Marktplatz").await;

    let (headers, json) = tokio::time::timeout(Duration::from_secs(30), hooks.recv())
        .await
        .expect("webhook called in time")
        .expect("a call");
    assert_eq!(json["channel"], "ALERT_CHANNEL_SMS");
    assert_eq!(json["to"], PHONE_MARKER);
    assert_eq!(json["kind"], "offer");
    assert_eq!(json["match_id"], sms_match.as_str());
    assert_eq!(json["task_title"], "Sandsäcke füllen am Ahrufer");
    assert!(json["text"].as_str().is_some_and(|t| t.contains("Ahrufer")));
    assert!(headers.contains_key("idempotency-key"));
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the first call failed and was retried"
    );

    let (rcpt, data) = tokio::time::timeout(Duration::from_secs(30), mails.recv())
        .await
        .expect("mail in time")
        .expect("a mail");
    assert_eq!(rcpt, "mara@example.org");
    assert!(data.contains("Suppenk"), "{data}");
    assert!(data.contains("Hallo Mara"), "{data}");

    // Both are recorded as sent, and appear in the volunteer's export.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM alerts WHERE status = 'sent'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
        if sent == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alerts not marked sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    publish(
        &app,
        &accepted,
        3,
        Payload::MatchAccepted(MatchAccepted {
            snapshot: Some(accepted.clone()),
        }),
    )
    .await;
    let offered = offer(&app, &me.volunteer_id, "Deich sichern").await;

    let token = |role, org: &str| {
        app.issuer
            .issue("staff-1", role, Some(org), Duration::from_secs(600))
            .expect("token")
    };
    let coordinator = token(spontan_platform::auth::Role::Coordinator, "thw-ahrweiler");
    let ask = |match_id: &str| GetVolunteerContactRequest {
        match_id: match_id.into(),
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
