//! What the registration service and tests see: a message listed, filtered, kept once per
//! key, refused when it is not one, and shown on the page as text.

use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Gateway, PHONE, alert, key};

#[tokio::test]
async fn a_sent_message_is_listed_newest_first_and_filtered() {
    let gateway = Gateway::start().await;
    assert!(gateway.listed("").await.is_empty());

    let first = alert(1, "offer", PHONE, "Einsatzangebot „Sandsäcke füllen“");
    let posted = gateway.post(Some(&key(1)), &first).await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    assert_eq!(posted.json(), json!({}));
    let listed = gateway.listed("").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let message = &listed[0];
    assert_eq!(message["alert_id"], 1);
    assert_eq!(message["kind"], "offer");
    assert_eq!(message["channel"], "ALERT_CHANNEL_SMS");
    assert_eq!(message["to"], PHONE);
    assert_eq!(message["text"], "Einsatzangebot „Sandsäcke füllen“");
    assert_eq!(message["task_title"], "Sandsäcke füllen");
    assert_eq!(message["idempotency_key"], "spontan-alert-1");
    assert!(message["received_at"].is_string(), "{message}");

    // A verification code: no match, no task, no expiry.
    let code = json!({
        "alert_id": 2, "kind": "verification", "channel": "ALERT_CHANNEL_SMS", "to": PHONE,
        "display_name": "", "match_id": "", "task_title": "", "expires_at": null,
        "text": "Spontan code 482913",
    });
    let posted = gateway.post(Some(&key(2)), &code.to_string()).await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.body);
    let other = alert(3, "withdrawn", "+4917600000000", "zurückgezogen");
    gateway.post(Some(&key(3)), &other).await;

    let ids = |messages: Vec<Value>| -> Vec<i64> {
        messages
            .iter()
            .map(|m| m["alert_id"].as_i64().expect("an id"))
            .collect()
    };
    assert_eq!(ids(gateway.listed("").await), [3, 2, 1]);
    // `+` in a query is a space: a phone number is sent percent-encoded.
    assert_eq!(ids(gateway.listed("?to=%2B4915112345678").await), [2, 1]);
    assert_eq!(ids(gateway.listed("?to=4915112345678").await), [0i64; 0]);
    assert_eq!(
        ids(gateway
            .listed("?to=%2B4915112345678&kind=verification")
            .await),
        [2]
    );
    assert_eq!(ids(gateway.listed("?kind=withdrawn").await), [3]);
    assert_eq!(ids(gateway.listed("?limit=2").await), [3, 2]);
    assert_eq!(ids(gateway.listed("?limit=100000").await), [3, 2, 1]);
    let bad_limit = gateway.get("/messages?limit=many").await;
    assert_eq!(bad_limit.status, StatusCode::BAD_REQUEST);

    gateway.stop().await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_is_kept_once() {
    let gateway = Gateway::start().await;
    let body = alert(7, "offer", PHONE, "Einsatzangebot");
    for _ in 0..3 {
        let reply = gateway.post(Some(&key(7)), &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(gateway.listed("").await.len(), 1);
    // Another key is another message, even with the same body.
    gateway.post(Some(&key(8)), &body).await;
    assert_eq!(gateway.listed("").await.len(), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_alert_is_refused_with_a_reason() {
    let gateway = Gateway::start().await;
    for body in [
        "not json",
        "{\"alert_id\": 1",
        "[]",
        // No `to`.
        r#"{"alert_id": 1, "kind": "offer", "channel": "ALERT_CHANNEL_SMS", "text": "x"}"#,
        // An id that is no number.
        r#"{"alert_id": "one", "kind": "offer", "channel": "ALERT_CHANNEL_SMS", "to": "x", "text": "x"}"#,
    ] {
        let reply = gateway.post(Some("spontan-alert-1"), body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert!(reply.content_type.starts_with("text/plain"), "{reply:?}");
        assert!(
            reply.body.starts_with("not an alert message: "),
            "{reply:?}"
        );
    }
    assert!(gateway.listed("").await.is_empty());
    // A refused body did not claim its key.
    let reply = gateway
        .post(Some("spontan-alert-1"), &alert(1, "offer", PHONE, "x"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(gateway.listed("").await.len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn the_page_lists_messages_as_text() {
    let gateway = Gateway::start().await;
    let empty = gateway.get("/").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Nothing sent yet"), "{}", empty.body);

    let text = "Code <script>alert(\"x\")</script> & more";
    gateway
        .post(Some(&key(1)), &alert(1, "offer", "<b>@chat</b>", text))
        .await;
    let page = gateway.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    let html = &page.body;
    assert!(
        html.starts_with("<!doctype html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(html.contains("name=\"viewport\""));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>@chat"), "{html}");
    assert!(
        html.contains("Code &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;@chat&lt;/b&gt;"), "{html}");
    assert!(html.contains("ALERT_CHANNEL_SMS"), "{html}");
    // Self-contained: nothing is loaded from elsewhere.
    assert!(!html.contains("src="), "{html}");
    assert!(!html.contains("<link"), "{html}");
    gateway.stop().await;
}
