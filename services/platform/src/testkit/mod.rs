//! Helpers for integration tests against real components: a fresh PostgreSQL database per
//! test, the Kafka-compatible broker, unique topic names, and a configuration that binds
//! port 0. Every test crate of the suite uses these, so each is written once:
//!
//! | module | owns |
//! |---|---|
//! | this one | databases, the broker, test configuration, logging and its capture |
//! | [`grpc`] | channels, bearer tokens on requests, health waits, field violations |
//! | [`poll`] | [`eventually`]: polling a check until it holds, with a deadline |
//! | [`oidc`] | a small OpenID Connect issuer |
//! | [`schema`] | the compiled API schema: message types, field paths, proper refusals |
//! | [`topics`] | raw readers of a topic, and collecting records until complete and quiet |
//! | [`tls`] | a certificate authority of the test's own, for real TLS handshakes |
//! | [`sasl`] | a SASL/SCRAM-SHA-512 stand-in in front of the broker, which speaks no SASL |
//! | [`postgres`] | a private PostgreSQL cluster that takes TCP connections over TLS only |
//! | [`gateway`] | a messaging gateway that hands the test what it receives |
//!
//! The broker: when `SPONTAN_TEST_KAFKA_BROKERS` is set (the test script starts one broker for
//! the whole run) tests share it and stay apart through their own topic names; otherwise each
//! test starts its own `tansu` on a free port with SQLite storage in a temporary folder and
//! stops it when the [`TestBroker`] is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Connection;
use tokio::process::{Child, Command};

use crate::config::{AuthConfig, PlatformConfig, Secret, Topics};

pub mod gateway;
pub mod grpc;
pub mod oidc;
pub mod poll;
pub mod postgres;
pub mod sasl;
pub mod schema;
pub mod tls;
pub mod topics;

pub use grpc::{authed, channel, error_reason, health, violated_fields, wait_for_health};
pub use poll::{eventually, try_eventually};
pub use topics::{raw_reader, read_events, receive_until_quiet};

/// Where tests create their databases: `SPONTAN_TEST_DATABASE_URL`, or the local server.
pub fn admin_database_url() -> String {
    std::env::var("SPONTAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// How long one test binary may run before [`arm_time_limit`] ends it:
/// `SPONTAN_TEST_TIME_LIMIT_SECS`, default 900 s.
const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(900);

/// Ends this test process with a message naming the limit once it has run longer than
/// `SPONTAN_TEST_TIME_LIMIT_SECS` (default 900 s): a test that hangs (a client waiting forever
/// on a broker that is gone, say) fails the run in minutes instead of holding CI until its own
/// timeout. Armed once per process by the testkit helpers every integration test calls
/// (logging, databases, brokers); later calls do nothing.
pub fn arm_time_limit() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    ARMED.call_once(|| {
        let limit = std::env::var("SPONTAN_TEST_TIME_LIMIT_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .map_or(DEFAULT_TIME_LIMIT, Duration::from_secs);
        let program = std::env::args().next().unwrap_or_default();
        let spawned = std::thread::Builder::new()
            .name("test-time-limit".into())
            .spawn(move || {
                std::thread::sleep(limit);
                eprintln!(
                    "{program}: still running after {} s (SPONTAN_TEST_TIME_LIMIT_SECS): a test \
                     hangs; cargo named it above as running for over 60 seconds",
                    limit.as_secs()
                );
                std::process::exit(124);
            });
        if let Err(error) = spawned {
            eprintln!("test time limit not armed: {error}");
        }
    });
}

/// Creates an empty database named `spontan_test_<random>` and returns its URL.
pub async fn fresh_database() -> anyhow::Result<String> {
    arm_time_limit();
    let admin = admin_database_url();
    let name = format!("spontan_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin).await.with_context(|| {
        "cannot reach PostgreSQL for tests (set SPONTAN_TEST_DATABASE_URL)".to_owned()
    })?;
    // Dynamic: a database name cannot be a bound parameter.
    let statement = format!("CREATE DATABASE \"{name}\"");
    sqlx::query(&statement).execute(&mut connection).await?;
    connection.close().await?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// Topic names no other test uses.
pub fn unique_topics() -> Topics {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let defaults = Topics::default();
    Topics {
        volunteer: format!("{}.{}", defaults.volunteer, &suffix[..12]),
        task: format!("{}.{}", defaults.task, &suffix[..12]),
        matching: format!("{}.{}", defaults.matching, &suffix[..12]),
    }
}

/// A test configuration: ports 0, the given database and broker, unique topics, few
/// partitions, 10 ms fetch waits, a fresh signing key, readable logs.
pub fn platform_config(service: &str, database_url: &str, brokers: &str) -> PlatformConfig {
    let mut config = PlatformConfig::local_defaults(service, 0, 0);
    config.database.url = Secret::new(database_url);
    config.database.max_connections = 8;
    config.kafka.brokers = brokers.to_owned();
    config.kafka.group_id = format!("spontan-{service}-{}", uuid::Uuid::new_v4().simple());
    config.kafka.topics = unique_topics();
    config.kafka.partitions = 3;
    config.kafka.fetch_wait_max_ms = 10;
    config.kafka.message_timeout_ms = 5_000;
    // A development key, as on the local stack: it signs volunteer and staff tokens alike.
    config.auth = AuthConfig {
        signing_key: Secret::new(crate::auth::generate_signing_key()),
        key_roles: crate::auth::Role::ALL.to_vec(),
        // One grant key for the suite: matching signs contact grants, registration verifies
        // them with its public half (derived from the same setting).
        contact_grant_key: Secret::new(crate::auth::generate_signing_key()),
        ..AuthConfig::default()
    };
    config.outbox.poll_interval_ms = 100;
    config.telemetry.log_format = "pretty".into();
    config
}

/// A broker for one test: shared (from the environment) or owned (stopped on drop).
pub struct TestBroker {
    brokers: String,
    owned: Option<OwnedBroker>,
}

struct OwnedBroker {
    port: u16,
    /// The address clients are told to use, when it is not the broker's own (a proxy's).
    advertised: Option<String>,
    /// The cluster id it reports, when not tansu's default (`tansu_cluster`).
    cluster_id: Option<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl TestBroker {
    /// The run's shared broker if `SPONTAN_TEST_KAFKA_BROKERS` is set, else a new one.
    pub async fn shared_or_start() -> anyhow::Result<Self> {
        match std::env::var("SPONTAN_TEST_KAFKA_BROKERS") {
            Ok(brokers) if !brokers.is_empty() => Ok(Self {
                brokers,
                owned: None,
            }),
            _ => Self::start_owned().await,
        }
    }

    /// A broker of this test's own, which it may stop and restart.
    pub async fn start_owned() -> anyhow::Result<Self> {
        Self::start_owned_advertising(None).await
    }

    /// A broker of this test's own that tells clients to connect to `advertised`
    /// (`host:port`) instead of itself: a proxy in front of it, such as a TLS terminator.
    /// [`Self::brokers`] is still the broker's own address.
    pub async fn start_owned_advertising(advertised: Option<&str>) -> anyhow::Result<Self> {
        arm_time_limit();
        let mut last_error = None;
        // tansu binds its own socket, so the port is probed first; another process may take
        // it in between, hence the retries.
        for _ in 0..3 {
            let port = free_port()?;
            let mut owned = OwnedBroker {
                port,
                advertised: advertised.map(str::to_owned),
                cluster_id: None,
                dir: tempfile::tempdir()?,
                child: None,
            };
            match owned.start().await {
                Ok(()) => {
                    return Ok(Self {
                        brokers: format!("127.0.0.1:{port}"),
                        owned: Some(owned),
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("broker did not start")))
    }

    /// A handle to a broker that another handle owns (or the run shares): for a second suite
    /// on the same broker, such as a restart. Dropping it stops nothing.
    pub fn attach(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            owned: None,
        }
    }

    /// `bootstrap.servers` for clients.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Stops an owned broker (SIGKILL: no clean shutdown, as in a crash). Its data stays.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let owned = self
            .owned
            .as_mut()
            .context("only an owned broker can be stopped")?;
        if let Some(mut child) = owned.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts an owned broker again on the same port with the same data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let owned = self
            .owned
            .as_mut()
            .context("only an owned broker can be restarted")?;
        owned.start().await
    }

    /// Replaces an owned broker with a new, empty one on the same port, as a rebuilt cluster
    /// (a disaster recovery, a fresh local broker over old databases) would be: clients
    /// reconnect to the same address and find no topics and no records. The new broker
    /// reports `cluster_id` (Apache Kafka gives every cluster its own id; tansu reports
    /// `tansu_cluster` for every instance unless told otherwise: `None`).
    pub async fn replace_with_empty(&mut self, cluster_id: Option<&str>) -> anyhow::Result<()> {
        self.stop().await?;
        let owned = self
            .owned
            .as_mut()
            .context("only an owned broker can be replaced")?;
        owned.dir = tempfile::tempdir()?;
        owned.cluster_id = cluster_id.map(str::to_owned);
        owned.start().await
    }
}

impl OwnedBroker {
    async fn start(&mut self) -> anyhow::Result<()> {
        let binary = tansu_binary()?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = match &self.advertised {
            Some(address) => format!("tcp://{address}"),
            None => url.clone(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))?;
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .args(
                self.cluster_id
                    .iter()
                    .flat_map(|id| ["--kafka-cluster-id", id.as_str()]),
            )
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log =
                    std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default();
                bail!("broker exited with {status}: {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("broker did not listen on port {} within 20 s", self.port)
    }
}

/// `SPONTAN_TANSU`, else `tansu` on the PATH, else `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("SPONTAN_TANSU") {
        return Ok(PathBuf::from(path));
    }
    let candidates = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("tansu"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu")));
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("the broker `tansu` is not installed: run `deploy/local/install-broker.sh`")
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Logs to the test's captured output (shown when a test fails), filtered by `RUST_LOG`
/// (default `info`), and carries W3C trace context through spans as production does.
/// Call at the start of each test; later calls do nothing.
pub fn init_logging() {
    arm_time_limit();
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    let _ = tracing_subscriber::registry()
        .with(crate::telemetry::propagation_layer())
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(filter),
        )
        .try_init();
}

/// Every event and every span (with all its fields, at open and at close) written after
/// [`capture_logs`], at TRACE level, as plain text: what a test scans for data that must
/// never reach logs or traces.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// [`init_logging`] plus a layer that records every event and span of every crate at TRACE
/// into the returned buffer. Call it first in the test binary: `None` when a subscriber was
/// installed already (then nothing would be captured).
pub fn capture_logs() -> Option<CapturedLogs> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let captured = CapturedLogs::default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn,sqlx=warn"));
    tracing_subscriber::registry()
        .with(crate::telemetry::propagation_layer())
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(filter),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
                .with_writer(captured.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        )
        .try_init()
        .ok()
        .map(|()| captured)
}
