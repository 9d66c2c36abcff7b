//! The web service: serves the built web clients (the volunteer app at `/`, the coordinator
//! console at `/console/`, the emergency dashboard at `/dashboard/`, a Vite build made in
//! `services/web/app`) and their `/config.json`, under a strict Content-Security-Policy. It
//! holds no data and calls no service: the clients talk gRPC-Web to the three services
//! directly (through the same ingress host in production).
//!
//! Layout: [`config`] (settings and their validation), [`public`] (the `/config.json` body),
//! [`files`] (static files and client-route fallbacks), [`policy`] (security and cache
//! headers and request metrics on every response), [`dev`] (`/dev/sign-in`, only with a dev
//! signing key), and here the [`Application`] that binds, routes and serves until shutdown.
//! `/metrics` is served on its own listener by `spontan-platform`, as for the other services.

pub mod config;
pub mod dev;
pub mod files;
pub mod policy;
pub mod public;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::{StatusCode, header};
use spontan_platform::auth::TokenIssuer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// The service's name in logs, metrics and traces.
pub const NAME: &str = "web";

/// How long open requests may take to finish once shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A built, not yet running, web service.
pub struct Application {
    router: Router,
    addr: SocketAddr,
    metrics_addr: SocketAddr,
    listener: TcpListener,
    metrics_listener: TcpListener,
    shutdown: CancellationToken,
}

impl Application {
    /// Renders `/config.json`, builds the routes and binds both listeners (port 0 picks a free
    /// port, as tests do); serves nothing until [`Self::run`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let router = router(&config)?;
        let listener = TcpListener::bind(config.web.listen)
            .await
            .with_context(|| format!("cannot bind web address {}", config.web.listen))?;
        let metrics_listener = TcpListener::bind(config.metrics.listen)
            .await
            .with_context(|| format!("cannot bind metrics address {}", config.metrics.listen))?;
        let addr = listener.local_addr().context("web listener address")?;
        let metrics_addr = metrics_listener
            .local_addr()
            .context("metrics listener address")?;
        if !index_exists(&config.web.assets_dir).await {
            tracing::warn!(
                assets_dir = %config.web.assets_dir.display(),
                "no index.html in the assets directory, not ready until it appears \
                 (build the clients: npm run build in services/web/app)"
            );
        }
        if config.dev_auth().is_some() {
            tracing::warn!(
                "dev sign-in is enabled: /dev/sign-in mints coordinator, dashboard and admin \
                 tokens for anyone who can reach this server; never set web.dev_signing_key \
                 in production"
            );
        }
        Ok(Self {
            router,
            addr,
            metrics_addr,
            listener,
            metrics_listener,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until the shutdown token is cancelled, then lets open requests finish (for at
    /// most [`DRAIN_DEADLINE`]).
    pub async fn run(self) -> anyhow::Result<()> {
        let (addr, metrics_addr) = (self.addr, self.metrics_addr);
        let metrics = tokio::spawn(spontan_platform::service::serve_metrics(
            self.metrics_listener,
            self.shutdown.clone(),
        ));
        tracing::info!(service = NAME, web = %addr, metrics = %metrics_addr, "serving");
        let server = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(self.shutdown.clone().cancelled_owned());
        let shutdown = self.shutdown.clone();
        let served = tokio::select! {
            served = std::future::IntoFuture::into_future(server) => served,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN_DEADLINE).await } => {
                tracing::warn!(service = NAME, "open requests did not finish in time");
                Ok(())
            }
        };
        // The server also stops on a fatal error: stop the metrics server with it.
        self.shutdown.cancel();
        let _ = tokio::time::timeout(DRAIN_DEADLINE, metrics).await;
        tracing::info!(service = NAME, "stopped");
        served.context("web server failed")
    }
}

/// Every route, under the policy middleware.
fn router(config: &Config) -> anyhow::Result<Router> {
    let body = public::render(config).context("cannot render /config.json")?;
    let assets_dir = Arc::new(config.web.assets_dir.clone());
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || readyz(Arc::clone(&assets_dir))))
        .route("/config.json", get(move || config_json(body.clone())));
    if let Some(auth) = config.dev_auth() {
        let issuer = TokenIssuer::from_config(&auth).context("web.dev_signing_key")?;
        router = router.route("/dev/sign-in", get(dev::sign_in).with_state(issuer));
    }
    let policy = Arc::new(policy::Policy::new(config).context("content security policy")?);
    Ok(router
        .merge(files::routes(&config.web.assets_dir))
        .layer(axum::middleware::from_fn_with_state(policy, policy::apply)))
}

async fn config_json(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// Ready once the clients are there to serve (a volume mounted late, a build not yet run).
async fn readyz(assets_dir: Arc<PathBuf>) -> impl IntoResponse {
    if index_exists(&assets_dir).await {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the web clients are missing",
        )
    }
}

async fn index_exists(assets_dir: &Path) -> bool {
    tokio::fs::metadata(assets_dir.join("index.html"))
        .await
        .is_ok_and(|m| m.is_file())
}
