//! The webhook notifier: POSTs each alert as JSON to the messaging gateway (how SMS, Signal,
//! Telegram, WhatsApp and push providers are integrated), with an `Idempotency-Key` header so
//! a retried alert is delivered once. HTTP/1.1 through hyper-util over rustls: `https://`
//! against the webpki roots plus `alerts.webhook_ca_file`; `http://` only to loopback (the
//! configuration's check refuses it elsewhere).
//!
//! With `alerts.webhook_secret` set, every request is signed the way Stripe signs its
//! webhooks: `X-Spontan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The
//! gateway recomputes it over the raw body and refuses a stale `t`, so neither a forged alert
//! nor a recorded one played back later gets through (docs/api.md, "Alerts").

use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use spontan_platform::config::Secret;

use super::tls::{self, RootsError};
use super::{Notifier, Outgoing, SendError};
use crate::config::AlertsConfig;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-spontan-signature";

/// Why the webhook notifier cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("webhook_url must be an http:// or https:// URL with a host")]
    Url,
    #[error("webhook_ca_file: {0}")]
    Roots(#[from] RootsError),
}

pub struct WebhookNotifier {
    url: http::Uri,
    secret: Secret,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl WebhookNotifier {
    pub fn new(config: &AlertsConfig) -> Result<Self, SetupError> {
        let url: http::Uri = config.webhook_url.parse().map_err(|_| SetupError::Url)?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(SetupError::Url);
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(&config.webhook_ca_file)?)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url,
            secret: config.webhook_secret.clone(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<lowercase hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let body = serde_json::to_vec(alert).map_err(|_| SendError::Refused("encoding".into()))?;
        let mut request = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                "idempotency-key",
                format!("spontan-alert-{}", alert.alert_id),
            );
        if !self.secret.is_empty() {
            // Signed at each attempt: a retry carries a fresh time.
            let now = chrono::Utc::now().timestamp();
            request = request.header(
                SIGNATURE_HEADER,
                signature(self.secret.expose().as_bytes(), now, &body),
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::Refused("request".into()))?;
        let response = self.client.request(request).await.map_err(|error| {
            if tls::is_handshake_failure(&error) {
                SendError::Tls
            } else {
                SendError::Unreachable
            }
        })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SendError::Refused(format!(
                "http {}",
                response.status().as_u16()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_time_dot_body() {
        // Computed apart, with Python's hmac module.
        let header = signature(
            b"whsec_0123456789abcdef",
            1_700_000_000,
            br#"{"alert_id":1}"#,
        );
        assert_eq!(
            header,
            "t=1700000000,v1=d589815e6e6688b9d3c3a48d028008c40dff75c90e5326b07af24e75a0cc211a"
        );
    }
}
