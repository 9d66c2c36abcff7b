//! A gateway served from the library on 127.0.0.1:0, a client for it, and alerts as the
//! registration service sends them.

use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use spontan_cli::commands::dev::gateway;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub const PHONE: &str = "+4915112345678";

/// A gateway served from the library on 127.0.0.1:0, and a client for it.
pub struct Gateway {
    base: String,
    client: HttpClient,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A client that speaks plain HTTP/1.1, as the webhook notifier does.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

impl Gateway {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(gateway::serve(listener, shutdown.clone()));
        Self {
            base: format!("http://{addr}"),
            client: client(),
            shutdown,
            server,
        }
    }

    /// POSTs `body` to `/messages` as the webhook notifier does, with `key` as Idempotency-Key.
    pub async fn post(&self, key: Option<&str>, body: &str) -> Reply {
        post(&self.client, &self.base, key, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let request = http::Request::get(format!("{}{path}", self.base))
            .body(Full::default())
            .expect("request");
        send(&self.client, request).await
    }

    /// The messages `GET /messages{query}` lists.
    pub async fn listed(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/messages{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.content_type, "application/json");
        reply.json()["messages"]
            .as_array()
            .expect("a list of messages")
            .clone()
    }

    /// Stops the server and checks that it stopped cleanly and in time.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "stopped: {stopped:?}");
    }
}

pub async fn post(client: &HttpClient, base: &str, key: Option<&str>, body: &str) -> Reply {
    let mut request = http::Request::post(format!("{base}/messages"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    send(client, request).await
}

async fn send(client: &HttpClient, request: http::Request<Full<Bytes>>) -> Reply {
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("an answer within 10 s")
        .expect("an HTTP response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The JSON the registration service's `Outgoing` serialises to.
pub fn alert(id: i64, kind: &str, to: &str, text: &str) -> String {
    json!({
        "alert_id": id,
        "kind": kind,
        "channel": "ALERT_CHANNEL_SMS",
        "to": to,
        "display_name": "Helferin Drill",
        "match_id": "0197a3c2-5b1e-7d4f-9a61-2f8e4b0c1d77",
        "task_title": "Sandsäcke füllen",
        "expires_at": "2025-07-14T18:00:00Z",
        "text": text,
    })
    .to_string()
}

pub fn key(id: i64) -> String {
    format!("spontan-alert-{id}")
}
