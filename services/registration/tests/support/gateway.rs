//! The messaging gateway's alert endpoint as a receiver for the tests: axum, over HTTPS
//! (tokio-rustls, with a certificate issued in the test) or over plain HTTP on loopback. It
//! hands the test each call's headers and raw body (a signature is computed over the bytes as
//! sent), can answer the first calls with 503 to show the retry, and counts TLS handshakes
//! that failed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// One call as the gateway received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
struct Shared {
    calls: Arc<AtomicUsize>,
    fail_first: usize,
    tx: mpsc::UnboundedSender<Call>,
}

/// A running receiver.
pub struct Receiver {
    /// `https://127.0.0.1:<port>/alerts` (or `http://`), for `alerts.webhook_url`.
    pub url: String,
    rx: Mutex<mpsc::UnboundedReceiver<Call>>,
    calls: Arc<AtomicUsize>,
    handshake_failures: Arc<AtomicUsize>,
}

async fn hook(State(g): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if g.calls.fetch_add(1, Ordering::SeqCst) < g.fail_first {
        // The gateway is overloaded.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let _ = g.tx.send(Call { headers, body });
    StatusCode::ACCEPTED
}

/// Accepts TCP connections and completes their TLS handshake; a failed handshake is counted
/// and the next connection taken.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    failures: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(stream).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    self.failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Receiver {
    /// A receiver on 127.0.0.1, over TLS with `acceptor`'s certificate when given, that
    /// answers 503 to its first `fail_first` calls.
    pub async fn start(acceptor: Option<TlsAcceptor>, fail_first: usize) -> Receiver {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let handshake_failures = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route("/alerts", axum::routing::post(hook))
            .with_state(Shared {
                calls: calls.clone(),
                fail_first,
                tx,
            });
        let scheme = match acceptor {
            Some(acceptor) => {
                let listener = TlsListener {
                    tcp,
                    acceptor,
                    failures: handshake_failures.clone(),
                };
                tokio::spawn(async move { axum::serve(listener, app).await });
                "https"
            }
            None => {
                tokio::spawn(async move { axum::serve(tcp, app).await });
                "http"
            }
        };
        Receiver {
            url: format!("{scheme}://{addr}/alerts"),
            rx: Mutex::new(rx),
            calls,
            handshake_failures,
        }
    }

    /// The next accepted call, if one comes within `within`.
    pub async fn next(&self, within: Duration) -> Option<Call> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(within, rx.recv()).await.ok().flatten()
    }

    /// Calls received, the failed ones included.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed (the client refused the certificate, or gave up).
    pub fn handshake_failures(&self) -> usize {
        self.handshake_failures.load(Ordering::SeqCst)
    }
}
