//! Spawns the web service on port 0 over a fresh directory of fake client files and asks it
//! over HTTP/1.1.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use spontan_platform::testkit;
use spontan_web::{Application, Config};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The fake build: what `npm run build` leaves in `dist/`, with bodies that name the file.
pub const FILES: &[(&str, &str)] = &[
    ("index.html", "<!doctype html><title>volunteer app</title>"),
    (
        "console/index.html",
        "<!doctype html><title>console</title>",
    ),
    (
        "dashboard/index.html",
        "<!doctype html><title>dashboard</title>",
    ),
    ("assets/index-3f2a9c1d.js", "console.log('volunteer');"),
    ("assets/index-77b0e4aa.css", "body{margin:0}"),
    ("sw.js", "self.addEventListener('fetch', () => {});"),
    ("manifest.webmanifest", r#"{"name":"Spontan"}"#),
    ("icons/icon-192.png", "\u{89}PNG"),
    (
        ".well-known/security.txt",
        "Contact: mailto:security@example.org",
    ),
    // Left by Vite in the build directory; never served.
    (".vite/manifest.json", r#"{"index.html":{}}"#),
];

/// One running web service and its files.
pub struct TestApp {
    pub config: Config,
    pub assets: TempDir,
    base: String,
    metrics: String,
    client: Client<HttpConnector, Empty<Bytes>>,
    shutdown: CancellationToken,
    service: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The value of `name`, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// The service with the default configuration (no dev sign-in) over the fake files.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The service with the fake files and `configure` applied to the configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let assets = tempfile::tempdir().expect("temporary directory");
        for (path, body) in FILES {
            write(assets.path(), path, body);
        }
        Self::spawn_over(assets, configure).await
    }

    /// The service over `assets`, whatever is in it.
    pub async fn spawn_over(assets: TempDir, configure: impl FnOnce(&mut Config)) -> Self {
        testkit::init_logging();
        // Installed before the first request, so that the test sees every request counted.
        spontan_platform::telemetry::metrics_handle();
        let mut config = Config::default();
        config.web.listen = "127.0.0.1:0".parse().expect("address");
        config.metrics.listen = "127.0.0.1:0".parse().expect("address");
        config.web.assets_dir = assets.path().to_path_buf();
        configure(&mut config);
        let shutdown = CancellationToken::new();
        let app = Application::build(config.clone(), shutdown.clone())
            .await
            .expect("web service builds");
        let base = format!("http://{}", app.addr());
        let metrics = format!("http://{}/metrics", app.metrics_addr());
        let service = Some(tokio::spawn(app.run()));
        Self {
            config,
            assets,
            base,
            metrics,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown,
            service,
        }
    }

    /// `GET path` (with query), read whole.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(&format!("{}{path}", self.base)).await
    }

    /// `GET path` with extra request headers, the body read as bytes.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (Reply, Vec<u8>) {
        let mut request = http::Request::get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Default::default()).expect("request");
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .expect("answer within 10 s")
            .expect("http response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        let reply = Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        (reply, body)
    }

    /// The Prometheus text of the metrics listener.
    pub async fn metrics(&self) -> String {
        let reply = self.request(&self.metrics).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body
    }

    async fn request(&self, uri: &str) -> Reply {
        let uri: http::Uri = uri.parse().expect("uri");
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.get(uri))
            .await
            .expect("answer within 10 s")
            .expect("http response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Cancels the service and checks that it stops cleanly and in time.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(service) = self.service.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(15), service).await;
            assert!(
                matches!(stopped, Ok(Ok(Ok(())))),
                "service stopped cleanly: {stopped:?}"
            );
        }
    }
}

pub fn write(root: &Path, path: &str, body: &str) {
    let path = root.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("directory");
    }
    std::fs::write(path, body).expect("file");
}

/// The body of the fake file at `path`.
pub fn body_of(path: &str) -> &'static str {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, body)| *body)
        .expect("a fake file")
}
