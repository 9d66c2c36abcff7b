//! The local stand-in of the messaging gateway: what the registration service's webhook
//! notifier (`alerts.webhook_url`) POSTs SMS, Signal, Telegram, WhatsApp and app push
//! messages to. A real gateway cannot run on a developer's machine; this one delivers nothing
//! and shows instead what would have been sent, so codes and offers of a local stack can be
//! read in the terminal, in a browser and by tests.
//!
//! - `POST /messages`: the alert as JSON ([`inbox::Message`]); `200 {}`, also for a repeated
//!   `Idempotency-Key` (kept once, as a real gateway would); `400` with a plain-text reason
//!   for a body that is not such JSON. Each kept message is printed to stdout as one line,
//!   `<channel> to <to>: <text>`.
//! - `GET /messages`: `{"messages": [...]}`, newest first; `to=` and `kind=` filter by exact
//!   value, `limit=` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
//! - `GET /`: the same as a page ([`page`]), with the same query.
//!
//! The last [`inbox::CAPACITY`] messages are kept in memory, and nothing else: no files.
//! Messages hold contact data (a phone number, a chat id), which is why this serves only where
//! told, loopback by default, and why it is a development tool only.

pub mod inbox;
pub mod page;

use std::io::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use inbox::{Filter, Inbox, Message, Received};

/// Messages listed when `limit=` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// The most messages one listing returns: all that are kept.
pub const MAX_LIMIT: usize = inbox::CAPACITY;
/// The largest body accepted; an alert is well under 2 KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long open requests may take to finish once shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

type Shared = Arc<Mutex<Inbox>>;

/// The routes over an empty inbox.
pub fn router() -> Router {
    let inbox: Shared = Arc::default();
    Router::new()
        .route("/", get(index))
        .route("/messages", get(list).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(inbox)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then lets open requests
/// finish (for at most [`DRAIN_DEADLINE`]). Binding is the caller's, so a test can bind port
/// 0 and learn the address.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let server =
        axum::serve(listener, router()).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served.context("gateway server failed"),
        () = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN_DEADLINE).await } => Ok(()),
    }
}

fn lock(inbox: &Shared) -> MutexGuard<'_, Inbox> {
    // A panic while holding the lock cannot leave the inbox half-changed: every change is one
    // push or pop. Keep serving.
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn receive(State(inbox): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let message: Message = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(error) => return bad_request(format!("not an alert message: {error}")),
    };
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) => Some(key.to_owned()),
        Some(Err(_)) => {
            return bad_request("the Idempotency-Key header is not visible ASCII".into());
        }
    };
    let line = format!(
        "{} to {}: {}",
        one_line(&message.channel),
        one_line(&message.to),
        one_line(&message.text)
    );
    let kept = lock(&inbox).add(Received {
        received_at: Utc::now(),
        idempotency_key: key,
        message,
    });
    if kept {
        // Not `println!`: a closed stdout (`spontan dev gateway | head -1`) must not fail
        // the request.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
    json_response(&serde_json::Map::new())
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
}

/// `text` on one line of a terminal: line breaks and other control characters (an escape
/// sequence in a task title) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The query of `GET /messages` and `GET /`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    to: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
}

impl ListQuery {
    fn narrows(&self) -> bool {
        self.to.is_some() || self.kind.is_some()
    }

    fn into_filter(self) -> Filter {
        Filter {
            to: self.to,
            kind: self.kind,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        }
    }
}

/// The body of `GET /messages`: an object, so that more than the list can be said later.
#[derive(Debug, Serialize)]
struct Listing {
    messages: Vec<Received>,
}

async fn list(State(inbox): State<Shared>, Query(query): Query<ListQuery>) -> Response {
    let messages = lock(&inbox).newest(&query.into_filter());
    json_response(&Listing { messages })
}

fn json_response(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {error}\n"),
        )
            .into_response(),
    }
}

async fn index(State(inbox): State<Shared>, Query(query): Query<ListQuery>) -> Response {
    let filtered = query.narrows();
    let messages = lock(&inbox).newest(&query.into_filter());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page needs nothing but its inline style: should escaping ever miss, a
            // script still does not run.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
            ),
        ],
        page::render(&messages, filtered),
    )
        .into_response()
}
