//! Offers as Web Push messages, against a real push service on loopback: the mock of the npm
//! package `web-push-testing`, which makes subscriptions bound to our VAPID public key,
//! refuses a message whose VAPID token does not verify against that key, decrypts what it
//! accepts (RFC 8291) and hands the plaintext back through its API. deploy/local/test.sh
//! installs it and names its `cli.js` in SPONTAN_WEB_PUSH_TESTING; node runs it through
//! `tests/support/web-push-mock.cjs`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngCore;
use serde_json::{Value, json};
use spontan_proto::v1::*;
use spontan_registration::alerts::web_push::vapid_key;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The mock push service, stopped when dropped (its stdin closes, and it is killed).
struct PushService {
    _child: Child,
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// The package's `cli.js`, or `None` (the test is skipped) when it is not named.
fn web_push_testing() -> Option<PathBuf> {
    match std::env::var_os("SPONTAN_WEB_PUSH_TESTING") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "SPONTAN_WEB_PUSH_TESTING: no file {path:?}");
            Some(path)
        }
        None => {
            eprintln!(
                "skipped: SPONTAN_WEB_PUSH_TESTING is not set (deploy/local/test.sh installs \
                 the npm package web-push-testing and sets it)"
            );
            None
        }
    }
}

impl PushService {
    async fn start(cli: PathBuf) -> Self {
        let launcher =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/web-push-mock.cjs");
        let mut child = Command::new("node")
            .arg(launcher)
            .arg(cli)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the mock push service");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("mock push service started in time")
            .expect("read")
            .expect("a line");
        let port: u16 = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = http::Request::post(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.http.request(request).await.expect("mock answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A subscription bound to `vapid_public_key`: the JSON the app stores as push token,
    /// and the mock's handle on it.
    async fn subscribe(&self, vapid_public_key: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/subscribe",
                json!({ "userVisibleOnly": "true", "applicationServerKey": vapid_public_key }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        // What `PushSubscription.toJSON()` gives the app.
        let token = json!({
            "endpoint": data["endpoint"],
            "expirationTime": null,
            "keys": data["keys"],
        });
        let hash = data["clientHash"].as_str().expect("clientHash").to_owned();
        (token.to_string(), hash)
    }

    /// Every message the mock accepted for the subscription, decrypted.
    async fn messages(&self, client_hash: &str) -> Vec<Value> {
        let (status, body) = self
            .post("/get-notifications", json!({ "clientHash": client_hash }))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| serde_json::from_str(m.as_str().expect("text")).expect("json payload"))
            .collect()
    }

    async fn expire(&self, client_hash: &str) {
        let (status, body) = self
            .post(&format!("/expire-subscription/{client_hash}"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// A fresh VAPID key pair: (private, public), both unpadded base64url.
fn vapid_pair() -> (String, String) {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let private = URL_SAFE_NO_PAD.encode(bytes);
        if let Ok(signer) = vapid_key(&private) {
            return (private, URL_SAFE_NO_PAD.encode(signer.get_public_key()));
        }
    }
}

/// A gateway that records the JSON of every webhook call.
async fn gateway() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |body: Bytes| async move {
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or_default());
            axum::http::StatusCode::ACCEPTED
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/alerts"), rx)
}

async fn register_app_push(app: &TestApp, push_token: &str) -> String {
    let mut request = valid_request();
    request.preferred_alert_channel = AlertChannel::AppPush as i32;
    request.channel_addresses = Some(ChannelAddresses {
        push_token: push_token.into(),
        ..Default::default()
    });
    app.register(request).await.volunteer_id
}

/// The mock push service, its VAPID public key, and the registration service with Web Push
/// on for that key and `subject`, and with the gateway webhook `gateway` when given; `None`
/// when web-push-testing is not installed.
async fn with_push(
    gateway: Option<String>,
    subject: &str,
) -> Option<(PushService, String, TestApp)> {
    let push = PushService::start(web_push_testing()?).await;
    let (private, public) = vapid_pair();
    let app = TestApp::spawn_with(|c| {
        if let Some(url) = gateway {
            c.alerts.webhook_url = url;
        }
        c.alerts.web_push.vapid_private_key = spontan_platform::config::Secret::new(private);
        c.alerts.web_push.subject = subject.into();
        c.alerts.web_push.allow_http_endpoints = true;
    })
    .await;
    Some((push, public, app))
}

#[tokio::test]
async fn an_offer_reaches_the_web_app_through_its_push_service() {
    let (url, mut hooks) = gateway().await;
    let Some((push, public, app)) = with_push(Some(url), "mailto:ops@spontan.invalid").await else {
        return;
    };

    let (subscription, hash) = push.subscribe(&public).await;
    let pwa = register_app_push(&app, &subscription).await;
    // A native app's token is no subscription: it goes to the gateway, as before.
    let native = register_app_push(&app, "fcm-token-APA91bH2x3gNOMv4dF1lQ").await;

    let pwa_match = app.offer(&pwa, "Sandsäcke füllen am Ahrufer").await;
    let native_match = app.offer(&native, "Suppenküche Marktplatz").await;

    // Sent at the first attempt: the mock verified the VAPID token against the key the
    // subscription was made with (it answers 400 otherwise) and decrypted the payload.
    assert_eq!(
        app.settled_alert(&pwa_match).await,
        ("sent".into(), 1, None)
    );
    let messages = push.messages(&hash).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message["type"], "offer");
    assert_eq!(message["match_id"], pwa_match.as_str());
    assert_eq!(message["task_title"], "Sandsäcke füllen am Ahrufer");
    let expires_at = message["expires_at"].as_str().expect("expires_at");
    assert!(chrono::DateTime::parse_from_rfc3339(expires_at).is_ok());
    // Nothing about the volunteer beyond the offer itself.
    let text = message.to_string();
    for marker in [NAME_MARKER, PHONE_MARKER, EMAIL_MARKER] {
        assert!(!text.contains(marker), "{text}");
    }

    let hook = tokio::time::timeout(Duration::from_secs(30), hooks.recv())
        .await
        .expect("gateway called in time")
        .expect("a call");
    assert_eq!(hook["channel"], "ALERT_CHANNEL_APP_PUSH");
    assert_eq!(hook["to"], "fcm-token-APA91bH2x3gNOMv4dF1lQ");
    assert_eq!(hook["match_id"], native_match.as_str());
    assert_eq!(app.settled_alert(&native_match).await.0, "sent");
    assert!(
        hooks.try_recv().is_err(),
        "the subscription went to the gateway too"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_gone_subscription_is_not_retried() {
    // No gateway: nothing to fall back to.
    let Some((push, public, app)) = with_push(None, "https://spontan.invalid/contact").await else {
        return;
    };

    let (subscription, hash) = push.subscribe(&public).await;
    let volunteer = register_app_push(&app, &subscription).await;
    // The app was uninstalled: the push service answers 410 from now on.
    push.expire(&hash).await;
    let match_id = app.offer(&volunteer, "Deich sichern").await;

    let (status, attempts, error) = app.settled_alert(&match_id).await;
    assert_eq!(status, "failed");
    assert_eq!(attempts, 1);
    assert_eq!(error.as_deref(), Some("address gone"));
    // Retries come after 100 ms here (retry_base_ms): none comes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.settled_alert(&match_id).await,
        ("failed".into(), 1, error)
    );
    assert!(push.messages(&hash).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_offer_for_an_uninstalled_app_goes_by_sms_instead() {
    let (url, mut hooks) = gateway().await;
    let Some((push, public, app)) = with_push(Some(url), "mailto:ops@spontan.invalid").await else {
        return;
    };

    let (subscription, hash) = push.subscribe(&public).await;
    let volunteer = register_app_push(&app, &subscription).await;
    push.expire(&hash).await;
    let match_id = app.offer(&volunteer, "Deich sichern").await;

    // The push service says the subscription is gone; the same offer goes to the phone.
    assert_eq!(app.settled_alert(&match_id).await, ("sent".into(), 1, None));
    let hook = tokio::time::timeout(Duration::from_secs(30), hooks.recv())
        .await
        .expect("gateway called in time")
        .expect("a call");
    assert_eq!(hook["channel"], "ALERT_CHANNEL_SMS");
    assert_eq!(hook["to"], PHONE_MARKER);
    assert_eq!(hook["match_id"], match_id.as_str());
    let channel: i16 = sqlx::query_scalar("SELECT channel FROM alerts WHERE match_id = $1")
        .bind(uuid::Uuid::parse_str(&match_id).expect("uuid"))
        .fetch_one(&app.pool)
        .await
        .expect("alert");
    assert_eq!(channel, AlertChannel::Sms as i16);
    assert!(push.messages(&hash).await.is_empty());
    app.stop().await;
}
