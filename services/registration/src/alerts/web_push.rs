//! The Web Push notifier: alerts to the installed web app through the browser's push service
//! (RFC 8030), the payload encrypted for the device (RFC 8291, `aes128gcm`) and the request
//! signed with our VAPID key (RFC 8292). The `web-push` crate builds and encrypts the request;
//! it is sent here with hyper over rustls, so the crate's libcurl client stays out.
//!
//! Only the device can read the payload. The push service (run by the browser's vendor) sees
//! the endpoint, the size and time of the message, its TTL, urgency and topic, and our VAPID
//! subject. The payload names the match, the task title and the offer's deadline, as the
//! alert text does; never the volunteer's name or address (docs/privacy.md).

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, Urgency,
    VapidSignatureBuilder, WebPushMessageBuilder,
};

use super::{AlertKind, Notifier, Outgoing, SendError};
use crate::config::WebPushConfig;

/// How long the push service keeps an offer without a deadline (matching's default offer
/// timeout); offers with one are kept until it passes.
const OFFER_TTL_SECS: u32 = 900;
/// How long it keeps a withdrawal: a volunteer may already be on the way, so it must reach
/// the device whenever it comes online that day.
const WITHDRAWN_TTL_SECS: u32 = 86_400;

/// Why Web Push cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("not the unpadded base64url of a raw 32-byte P-256 private key")]
    Key,
    #[error("tls set-up failed")]
    Tls(#[from] rustls::Error),
}

/// The signer of a VAPID private key (base64url of the raw 32-byte P-256 scalar).
pub fn vapid_key(encoded: &str) -> Result<PartialVapidSignatureBuilder, SetupError> {
    let encoded = encoded.trim();
    // The crate also takes shorter scalars; a VAPID key is exactly 32 bytes.
    if URL_SAFE_NO_PAD.decode(encoded).map(|k| k.len()) != Ok(32) {
        return Err(SetupError::Key);
    }
    VapidSignatureBuilder::from_base64_no_sub(encoded).map_err(|_| SetupError::Key)
}

/// The browser subscription in a push token (`PushSubscription.toJSON()`), if it is one. FCM
/// and APNs tokens are not JSON objects and keep going to the messaging gateway.
pub fn subscription(token: &str) -> Option<SubscriptionInfo> {
    let token = token.trim_start();
    if !token.starts_with('{') {
        return None;
    }
    serde_json::from_str(token).ok()
}

pub struct WebPushNotifier {
    vapid: PartialVapidSignatureBuilder,
    subject: String,
    allow_http: bool,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl WebPushNotifier {
    pub fn new(config: &WebPushConfig) -> Result<Self, SetupError> {
        let vapid = vapid_key(config.vapid_private_key.expose())?;
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?;
        let connector = if config.allow_http_endpoints {
            tls.https_or_http().enable_http1().build()
        } else {
            tls.https_only().enable_http1().build()
        };
        Ok(Self {
            vapid,
            subject: config.subject.trim().to_owned(),
            allow_http: config.allow_http_endpoints,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The public key that belongs to the configured private key (base64url, uncompressed
    /// point): what `web.vapid_public_key` must be.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.vapid.get_public_key())
    }
}

/// What the device receives, as JSON.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: AlertKind,
    match_id: &'a str,
    task_title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    /// The whole text, for messages and reminders (the app shows it as it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

impl<'a> Payload<'a> {
    fn of(alert: &'a Outgoing) -> Self {
        Self {
            kind: alert.kind,
            match_id: &alert.match_id,
            task_title: alert
                .task_title
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
            expires_at: alert.expires_at.filter(|_| alert.kind == AlertKind::Offer),
            text: matches!(alert.kind, AlertKind::Message | AlertKind::Reminder)
                .then_some(alert.text.as_str()),
        }
    }
}

/// How long the push service may hold the message for an offline device: an offer until it
/// expires (0 once it has: delivered only to a device online right now).
fn ttl(alert: &Outgoing, now: DateTime<Utc>) -> u32 {
    match (alert.kind, alert.expires_at) {
        (AlertKind::Offer, Some(until)) => {
            u32::try_from((until - now).num_seconds().max(0)).unwrap_or(u32::MAX)
        }
        (AlertKind::Offer, None) => OFFER_TTL_SECS,
        (
            AlertKind::Withdrawn
            | AlertKind::Verification
            | AlertKind::Message
            | AlertKind::Reminder,
            _,
        ) => WITHDRAWN_TTL_SECS,
    }
}

/// One topic per match (the UUID's 32 hex digits fit the 32 base64url characters allowed):
/// a withdrawal replaces an offer the push service still holds for an offline device.
fn topic(match_id: &str) -> String {
    match_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect()
}

/// The origin of the push resource, the VAPID token's audience. The crate's own default
/// drops the port, which only works for push services on the default port.
fn origin(endpoint: &http::Uri) -> Option<String> {
    let scheme = endpoint.scheme_str()?;
    let host = endpoint.host()?;
    Some(match endpoint.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// 404 and 410 mean the subscription is gone (the app was uninstalled or unsubscribed):
/// retrying cannot help. 408, 429 and 5xx are passing; any other 4xx refuses this message
/// for good (a malformed request, or a subscription made with another VAPID key).
fn outcome(status: http::StatusCode) -> Result<(), SendError> {
    let code = status.as_u16();
    match code {
        200..=299 => Ok(()),
        404 | 410 => Err(SendError::Gone),
        408 | 429 => Err(SendError::Refused(format!("http {code}"))),
        400..=499 => Err(SendError::Rejected(format!("http {code}"))),
        _ => Err(SendError::Refused(format!("http {code}"))),
    }
}

#[async_trait]
impl Notifier for WebPushNotifier {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let invalid = || SendError::Rejected("invalid push subscription".into());
        let subscription = subscription(&alert.to).ok_or_else(invalid)?;
        let endpoint: http::Uri = subscription.endpoint.parse().map_err(|_| invalid())?;
        match endpoint.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            _ => return Err(invalid()),
        }
        let audience = origin(&endpoint).ok_or_else(invalid)?;
        let payload = serde_json::to_vec(&Payload::of(alert))
            .map_err(|_| SendError::Rejected("encoding".into()))?;

        let mut signer = self.vapid.clone().add_sub_info(&subscription);
        signer.add_claim("sub", self.subject.as_str());
        signer.add_claim("aud", audience);
        let signature = signer.build().map_err(|_| invalid())?;
        let mut message = WebPushMessageBuilder::new(&subscription);
        message.set_payload(ContentEncoding::Aes128Gcm, &payload);
        message.set_vapid_signature(signature);
        message.set_ttl(ttl(alert, Utc::now()));
        message.set_urgency(Urgency::High);
        // Offers and withdrawals of a match replace each other; every message stays.
        if matches!(alert.kind, AlertKind::Offer | AlertKind::Withdrawn) {
            message.set_topic(topic(&alert.match_id));
        }
        let message = message.build().map_err(|_| invalid())?;

        // The crate speaks http 0.2 and hyper 1 takes http 1: the request is carried over
        // header by header (hyper sets the length itself).
        let built = web_push::request_builder::build_request::<Vec<u8>>(message);
        let mut request = http::Request::post(endpoint);
        for (name, value) in built.headers() {
            if name.as_str() != "content-length" {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let request = request
            .body(Full::new(Bytes::from(built.into_body())))
            .map_err(|_| invalid())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| SendError::Unreachable)?;
        outcome(response.status())
    }
}

#[cfg(test)]
mod tests {
    use spontan_proto::v1::AlertChannel;

    use super::*;

    fn alert(kind: AlertKind, expires_at: Option<DateTime<Utc>>) -> Outgoing {
        Outgoing {
            alert_id: 7,
            kind,
            channel: AlertChannel::AppPush,
            to: r#"{"endpoint":"https://push.example/x","keys":{"p256dh":"a","auth":"b"}}"#.into(),
            display_name: "Zorana Quixwell".into(),
            match_id: "0190f5a2-8d3c-7e41-9b2a-3c4d5e6f7a8b".into(),
            task_title: "Sandsäcke\nfüllen".into(),
            expires_at,
            text: String::new(),
        }
    }

    #[test]
    fn the_payload_names_the_offer_and_nobody() {
        let until = Utc::now() + chrono::Duration::minutes(30);
        let offer = alert(AlertKind::Offer, Some(until));
        let json = serde_json::to_value(Payload::of(&offer)).expect("json");
        assert_eq!(json["type"], "offer");
        assert_eq!(json["match_id"], offer.match_id.as_str());
        assert_eq!(json["task_title"], "Sandsäckefüllen");
        assert!(json["expires_at"].is_string());
        let text = json.to_string();
        assert!(!text.contains("Zorana") && !text.contains("push.example"));

        let withdrawn = alert(AlertKind::Withdrawn, Some(until));
        let json = serde_json::to_value(Payload::of(&withdrawn)).expect("json");
        assert_eq!(json["type"], "withdrawn");
        assert!(json.get("expires_at").is_none());
    }

    #[test]
    fn an_offer_lives_until_it_expires() {
        let now = Utc::now();
        let offer = alert(AlertKind::Offer, Some(now + chrono::Duration::seconds(600)));
        assert_eq!(ttl(&offer, now), 600);
        let late = alert(AlertKind::Offer, Some(now - chrono::Duration::seconds(5)));
        assert_eq!(ttl(&late, now), 0);
        assert_eq!(ttl(&alert(AlertKind::Offer, None), now), OFFER_TTL_SECS);
        assert_eq!(
            ttl(&alert(AlertKind::Withdrawn, None), now),
            WITHDRAWN_TTL_SECS
        );
    }

    #[test]
    fn only_subscription_json_is_a_subscription() {
        assert!(subscription(&alert(AlertKind::Offer, None).to).is_some());
        assert!(subscription("fcm:APA91bH2x3gNOMv4dF1lQ").is_none());
        assert!(subscription("{not json").is_none());
        assert!(subscription(r#"{"endpoint":"https://push.example/x"}"#).is_none());
    }

    #[test]
    fn topic_and_audience() {
        assert_eq!(
            topic("0190f5a2-8d3c-7e41-9b2a-3c4d5e6f7a8b"),
            "0190f5a28d3c7e419b2a3c4d5e6f7a8b"
        );
        let uri: http::Uri = "http://127.0.0.1:8090/notify/abc".parse().expect("uri");
        assert_eq!(origin(&uri).as_deref(), Some("http://127.0.0.1:8090"));
        let uri: http::Uri = "https://fcm.googleapis.com/fcm/send/x"
            .parse()
            .expect("uri");
        assert_eq!(origin(&uri).as_deref(), Some("https://fcm.googleapis.com"));
    }

    #[test]
    fn gone_is_final_and_overload_is_retried() {
        use http::StatusCode;
        assert!(outcome(StatusCode::CREATED).is_ok());
        for gone in [StatusCode::NOT_FOUND, StatusCode::GONE] {
            assert!(matches!(outcome(gone), Err(SendError::Gone)));
        }
        for passing in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::BAD_GATEWAY,
        ] {
            assert!(!outcome(passing).expect_err("error").is_permanent());
        }
        assert!(
            outcome(StatusCode::FORBIDDEN)
                .expect_err("error")
                .is_permanent()
        );
    }

    #[test]
    fn vapid_keys_are_32_bytes() {
        assert!(vapid_key("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY").is_ok());
        assert!(vapid_key("").is_err());
        assert!(vapid_key("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_P").is_err());
        assert!(vapid_key("not base64 at all!").is_err());
    }
}
