//! Start-up and shutdown of a whole service, the same for all three.
//!
//! [`Platform::build`] binds the listeners (so tests can bind port 0 and read the address),
//! creates the lazy database pool and the producer. [`Platform::run`] then serves gRPC and
//! `/metrics` at once, reporting NOT_SERVING, while a bootstrap task migrates the database and
//! creates the topics, retrying until both are reachable; only then does health turn SERVING,
//! the outbox relay start and [`Ready`] fire (consumers wait for it). A readiness loop keeps
//! checking the database and turns health back to NOT_SERVING while it is gone; a broker
//! outage after start-up only delays events (they wait in the outbox), so it is reported by
//! the `kafka_broker_reachable` gauge and logs, not by readiness.
//!
//! On shutdown the gRPC server drains in-flight requests, background tasks (relay, consumers)
//! get a deadline to finish and commit, and the caller's telemetry guard flushes last.
//!
//! **Failure.** The same in every service: a background task that ends with an error (a
//! consumer that cannot subscribe, a restore that gives up) stops the whole service, and
//! [`Platform::run`] returns that error, so the process exits non-zero and the orchestrator
//! restarts it. A service that kept answering without its consumers would serve a stale
//! picture without anyone noticing. Dependencies that are merely not there yet are no
//! failure: tasks wait for them with [`crate::retry::until_ok`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::FutureProducer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::PlatformConfig;
use crate::outbox::OutboxRelay;

/// How long background tasks may take to finish after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// Fires once the service's database is migrated and its broker reachable.
#[derive(Clone, Debug)]
pub struct Ready(watch::Receiver<bool>);

impl Ready {
    /// Waits until ready; returns `false` if the service stopped first.
    pub async fn wait(mut self) -> bool {
        self.0.wait_for(|ready| *ready).await.is_ok()
    }
}

/// The shared parts of one running service.
pub struct Platform {
    pub name: &'static str,
    pub config: PlatformConfig,
    pub pool: PgPool,
    pub producer: FutureProducer,
    pub shutdown: CancellationToken,
    migrator: &'static Migrator,
    grpc_listener: TcpListener,
    metrics_listener: TcpListener,
    ready_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
    /// The first background task that failed, and why.
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// What a background task may return: nothing, or a result whose error stops the service.
pub trait TaskOutcome {
    fn into_result(self) -> anyhow::Result<()>;
}

impl TaskOutcome for () {
    fn into_result(self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<E: Into<anyhow::Error>> TaskOutcome for Result<(), E> {
    fn into_result(self) -> anyhow::Result<()> {
        self.map_err(Into::into)
    }
}

impl Platform {
    /// Binds the listeners and creates the clients; connects to nothing yet.
    pub async fn build(
        name: &'static str,
        config: PlatformConfig,
        migrator: &'static Migrator,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let pool = crate::db::pool(&config.database).context("database url")?;
        let producer = crate::kafka::producer(&config.kafka).context("kafka producer")?;
        let grpc_listener = TcpListener::bind(config.grpc.listen)
            .await
            .with_context(|| format!("cannot bind grpc address {}", config.grpc.listen))?;
        let metrics_listener = TcpListener::bind(config.metrics.listen)
            .await
            .with_context(|| format!("cannot bind metrics address {}", config.metrics.listen))?;
        let (ready_tx, _) = watch::channel(false);
        Ok(Self {
            name,
            config,
            pool,
            producer,
            shutdown,
            migrator,
            grpc_listener,
            metrics_listener,
            ready_tx,
            tasks: JoinSet::new(),
            failed: Default::default(),
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .unwrap_or(self.config.grpc.listen)
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .unwrap_or(self.config.metrics.listen)
    }

    pub fn ready(&self) -> Ready {
        Ready(self.ready_tx.subscribe())
    }

    /// Runs `task` (named `what` in logs) in the background once the service is ready; it
    /// must stop when the shutdown token is cancelled, and is given [`DRAIN_DEADLINE`] to do
    /// so. An error it returns stops the service (see the module's "Failure").
    pub fn spawn_when_ready<F>(&mut self, what: &'static str, task: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskOutcome,
    {
        let ready = self.ready();
        let shutdown = self.shutdown.clone();
        let failed = self.failed.clone();
        self.tasks.spawn(async move {
            if !ready.wait().await {
                return;
            }
            if let Err(error) = task.await.into_result() {
                let why = format!("{what}: {error:#}");
                tracing::error!(
                    task = what,
                    error = format!("{error:#}"),
                    "background work failed, stopping the service"
                );
                if let Ok(mut first) = failed.lock() {
                    first.get_or_insert(why);
                }
                shutdown.cancel();
            }
        });
    }

    /// Serves until shutdown. `services` are the access tables of the gRPC services in
    /// `routes` ([`crate::auth::access`]): who may call each method; their health follows the
    /// service's readiness.
    pub async fn run(
        mut self,
        routes: Routes,
        services: &[&'static crate::auth::Access],
    ) -> anyhow::Result<()> {
        let authenticator = crate::auth::Authenticator::from_config(&self.config.auth, self.name)?;
        let grpc_addr = self.grpc_addr();
        let metrics_addr = self.metrics_addr();
        let (reporter, health) = tonic_health::server::health_reporter();
        let names: Vec<&'static str> = std::iter::once("")
            .chain(services.iter().map(|access| access.service))
            .collect();
        set_status(&reporter, &names, ServingStatus::NotServing).await;

        self.tasks.spawn(bootstrap(
            self.name,
            self.config.clone(),
            self.pool.clone(),
            self.producer.clone(),
            self.migrator,
            reporter,
            names,
            self.ready_tx.clone(),
            self.shutdown.clone(),
        ));
        self.tasks
            .spawn(serve_metrics(self.metrics_listener, self.shutdown.clone()));

        tracing::info!(service = self.name, grpc = %grpc_addr, metrics = %metrics_addr, "serving");
        let server = crate::grpc::serve(
            self.grpc_listener,
            &self.config.grpc,
            routes,
            health,
            authenticator,
            services,
            self.shutdown.clone(),
        );
        // In-flight requests get DRAIN_DEADLINE after shutdown begins; then the server stops.
        let shutdown = self.shutdown.clone();
        let served = tokio::select! {
            served = server => served,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN_DEADLINE).await } => {
                tracing::warn!(service = self.name, "in-flight requests did not finish in time");
                Ok(())
            }
        };
        // The server also stops on a fatal transport error: stop everything else with it.
        self.shutdown.cancel();
        drop(self.ready_tx);
        let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                service = self.name,
                "background tasks did not stop in time, aborting them"
            );
            self.tasks.abort_all();
        }
        self.pool.close().await;
        tracing::info!(service = self.name, "stopped");
        if let Some(why) = self.failed.lock().ok().and_then(|mut f| f.take()) {
            anyhow::bail!("background work failed: {why}");
        }
        served.context("grpc server failed")
    }
}

async fn set_status(reporter: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Migrates, creates topics, starts the relay, then watches both dependencies for readiness.
#[allow(clippy::too_many_arguments)]
async fn bootstrap(
    name: &'static str,
    config: PlatformConfig,
    pool: PgPool,
    producer: FutureProducer,
    migrator: &'static Migrator,
    reporter: HealthReporter,
    names: Vec<&'static str>,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let topics = config.kafka.topics.all();
    let migrated = retry_until(&shutdown, "database migration", || {
        crate::db::migrate(&pool, migrator)
    })
    .await;
    let created = migrated
        && retry_until(&shutdown, "topic creation", || {
            crate::kafka::ensure_topics(&config.kafka, &topics)
        })
        .await;
    if !created {
        return;
    }
    tracing::info!(service = name, "database migrated and broker reachable");

    let relay = match OutboxRelay::new(pool.clone(), config.kafka.clone(), config.outbox.clone()) {
        Ok(relay) => tokio::spawn(relay.run(shutdown.clone())),
        Err(error) => {
            tracing::error!(%error, "outbox relay cannot start");
            shutdown.cancel();
            return;
        }
    };
    let _ = ready.send(true);

    // Past start-up, only the database decides readiness: a broker outage delays events (they
    // wait in the outbox) but must not take every replica out of load balancing, or it would
    // fail registrations it is designed to survive. It is reported by the gauge instead.
    let mut serving = None;
    loop {
        let database_up = sqlx::query!("SELECT 1 AS up")
            .fetch_one(&pool)
            .await
            .is_ok();
        let broker_up = crate::kafka::is_reachable(&producer).await;
        metrics::gauge!("kafka_broker_reachable").set(if broker_up { 1.0 } else { 0.0 });
        if serving.is_some() && !broker_up {
            tracing::warn!(
                service = name,
                "broker unreachable, events wait in the outbox"
            );
        }
        let now_serving = database_up;
        if serving != Some(now_serving) {
            let status = if now_serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            tracing::info!(
                service = name,
                database_up,
                broker_up,
                ?status,
                "readiness changed"
            );
            set_status(&reporter, &names, status).await;
            serving = Some(now_serving);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    set_status(&reporter, &names, ServingStatus::NotServing).await;
    let _ = relay.await;
}

/// Retries `attempt` with capped exponential backoff; `false` if shutdown came first.
async fn retry_until<F, Fut, T, E>(shutdown: &CancellationToken, what: &str, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(_) => return true,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "{what} failed")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Serves the process's Prometheus `/metrics` on `listener` until `shutdown`: what every
/// service runs next to its API, also those that are not built on [`Platform`] (web).
pub async fn serve_metrics(listener: TcpListener, shutdown: CancellationToken) {
    let handle = crate::telemetry::metrics_handle();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move { handle.render() }),
    );
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(%error, "metrics server failed");
    }
}
