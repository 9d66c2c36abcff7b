//! The webhook notifier: POSTs each alert as JSON to the messaging gateway (how SMS, Signal,
//! Telegram, WhatsApp and push providers are integrated), with an `Idempotency-Key` header so
//! a retried alert is delivered once. Plain HTTP/1.1 through hyper-util; put TLS in front of
//! it (a sidecar or the gateway's own ingress) outside loopback.

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{Notifier, Outgoing, SendError};

pub struct WebhookNotifier {
    url: http::Uri,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl WebhookNotifier {
    pub fn new(url: http::Uri) -> Self {
        Self {
            url,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let body = serde_json::to_vec(alert).map_err(|_| SendError::Refused("encoding".into()))?;
        let request = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                "idempotency-key",
                format!("spontan-alert-{}", alert.alert_id),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SendError::Refused("request".into()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| SendError::Unreachable)?;
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
