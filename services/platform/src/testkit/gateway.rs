//! A messaging gateway for tests: an HTTP server on loopback that takes what the registration
//! service's webhook notifier posts (offers, withdrawals, contact codes) and hands each JSON
//! body to the test; it can be told to fail, to show retries and failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The gateway: its URL, the bodies it accepted, and the switch that makes it answer 503.
pub struct Gateway {
    /// `http://127.0.0.1:<port>/messages`, for `alerts.webhook_url`.
    pub url: String,
    pub messages: mpsc::UnboundedReceiver<serde_json::Value>,
    pub failing: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Accepting {
    tx: mpsc::UnboundedSender<serde_json::Value>,
    failing: Arc<AtomicBool>,
}

async fn accept(State(state): State<Accepting>, body: axum::body::Bytes) -> StatusCode {
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let _ = state
        .tx
        .send(serde_json::from_slice(&body).unwrap_or_default());
    StatusCode::ACCEPTED
}

impl Gateway {
    /// Serves until the test ends.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, messages) = mpsc::unbounded_channel();
        let failing = Arc::new(AtomicBool::new(false));
        let state = Accepting {
            tx,
            failing: failing.clone(),
        };
        let app = axum::Router::new()
            .route("/messages", axum::routing::post(accept))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url: format!("http://{addr}/messages"),
            messages,
            failing,
        })
    }

    /// The next message, within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<serde_json::Value> {
        tokio::time::timeout(within, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// The 6-digit code of the next contact code sent to `to`, within 10 s; other messages
    /// (offers to other volunteers, say) are passed over.
    pub async fn code_sent_to(&mut self, to: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self
                .next(left)
                .await
                .ok_or_else(|| anyhow::anyhow!("no contact code to {to} reached the gateway"))?;
            if message["kind"] != "verification" || message["to"] != to {
                continue;
            }
            let text = message["text"].as_str().unwrap_or_default();
            return text
                .split(|c: char| !c.is_ascii_digit())
                .find(|word| word.len() == 6)
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no 6-digit code in {text:?}"));
        }
    }
}
