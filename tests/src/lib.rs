//! Runs the whole suite in one process for end-to-end tests: the three services, each with a
//! fresh PostgreSQL database, sharing one broker, one set of unique topic names and one
//! signing key, on ports chosen by the operating system.
//!
//! This file holds the [`Suite`] and what tests do with it (topics, metrics, a webhook);
//! [`requests`] the requests most tests send (as they are, or changed in a field or two) and
//! the calls they make with them. The gRPC helpers every test crate shares (a bearer token on
//! a request, health, `eventually`, field violations) live once in `spontan_platform::testkit`
//! and are re-exported here.

pub mod requests;

pub use requests::{
    create_incident, create_task, incident_request, key, near, open_offer, registration,
    task_request, window,
};
pub use spontan_platform::testkit::{
    authed, channel, eventually, health, try_eventually, violated_fields, wait_for_health,
};

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::{AuthConfig, KafkaConfig, PlatformConfig};
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

/// One running service of the suite.
pub struct RunningService {
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// The three services, running until [`Suite::stop`] or drop.
pub struct Suite {
    pub broker: TestBroker,
    /// The auth configuration every service shares; mints tokens for any role.
    pub auth: AuthConfig,
    /// The topic names every service shares.
    pub kafka: KafkaConfig,
    pub registration: RunningService,
    pub task: RunningService,
    pub matching: RunningService,
    pub shutdown: CancellationToken,
    /// The configuration the services were started with (their databases, groups, keys), for
    /// tests that inspect the databases or start replicas and restarts of the same services.
    pub config: SuiteConfig,
}

/// A gRPC client of each service of a suite.
pub struct Clients {
    pub registration: RegistrationServiceClient<Channel>,
    pub tasks: TaskServiceClient<Channel>,
    pub matching: MatchingServiceClient<Channel>,
}

/// One of the three services, for [`Suite::replica`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Registration,
    Task,
    Matching,
}

/// Configuration for `service` in a suite: its own database, the shared broker and topics.
async fn config_for(service: &str, shared: &PlatformConfig) -> anyhow::Result<PlatformConfig> {
    let database = testkit::fresh_database().await?;
    let mut config = testkit::platform_config(service, &database, &shared.kafka.brokers);
    config.kafka.topics = shared.kafka.topics.clone();
    config.auth = shared.auth.clone();
    config.kafka.group_id = format!("{}-{service}", shared.kafka.group_id);
    Ok(config)
}

/// The configuration of each service of a suite, for tests to adjust before start.
#[derive(Clone)]
pub struct SuiteConfig {
    pub registration: spontan_registration::Config,
    pub task: spontan_task::Config,
    pub matching: spontan_matching::Config,
}

impl Suite {
    /// Starts all three services against `broker` with test defaults.
    pub async fn start(broker: TestBroker) -> anyhow::Result<Self> {
        Self::start_with(broker, |_| {}).await
    }

    /// Starts all three services against `broker`, after `adjust` has changed their
    /// configuration (alert receivers, timeouts).
    pub async fn start_with(
        broker: TestBroker,
        adjust: impl FnOnce(&mut SuiteConfig),
    ) -> anyhow::Result<Self> {
        testkit::init_logging();
        let shared =
            testkit::platform_config("suite", "postgres://unused/unused", broker.brokers());
        let mut config = SuiteConfig {
            registration: spontan_registration::Config::with_generated_keys(
                config_for("registration", &shared).await?,
            ),
            task: spontan_task::Config {
                platform: config_for("task", &shared).await?,
            },
            matching: spontan_matching::Config {
                platform: config_for("matching", &shared).await?,
            },
        };
        adjust(&mut config);
        Self::start_from(broker, config).await
    }

    /// Starts all three services against `broker` with exactly `config`: with the
    /// configuration of an earlier suite, the same services start again on their databases,
    /// topics and consumer groups (a restart).
    pub async fn start_from(broker: TestBroker, config: SuiteConfig) -> anyhow::Result<Self> {
        testkit::init_logging();
        let shutdown = CancellationToken::new();
        let mut kafka = config.registration.platform.kafka.clone();
        kafka.group_id = format!("suite-{}", uuid_like());
        let auth = config.registration.platform.auth.clone();
        let registration =
            spontan_registration::Application::build(config.registration.clone(), shutdown.clone())
                .await?;
        let task = spontan_task::Application::build(config.task.clone(), shutdown.clone()).await?;
        let matching =
            spontan_matching::Application::build(config.matching.clone(), shutdown.clone()).await?;

        let suite = Self {
            broker,
            auth,
            kafka,
            registration: RunningService {
                grpc: registration.platform().grpc_addr(),
                metrics: registration.platform().metrics_addr(),
                task: tokio::spawn(registration.run()),
            },
            task: RunningService {
                grpc: task.platform().grpc_addr(),
                metrics: task.platform().metrics_addr(),
                task: tokio::spawn(task.run()),
            },
            matching: RunningService {
                grpc: matching.platform().grpc_addr(),
                metrics: matching.platform().metrics_addr(),
                task: tokio::spawn(matching.run()),
            },
            shutdown,
            config,
        };
        Ok(suite)
    }

    /// Starts one more replica of `service` on the same database, topics and consumer group,
    /// stopped with the suite's shutdown token (the caller awaits its task).
    pub async fn replica(&self, service: Service) -> anyhow::Result<RunningService> {
        let shutdown = self.shutdown.clone();
        let started = match service {
            Service::Registration => {
                let app = spontan_registration::Application::build(
                    self.config.registration.clone(),
                    shutdown,
                )
                .await?;
                (
                    app.platform().grpc_addr(),
                    app.platform().metrics_addr(),
                    tokio::spawn(app.run()),
                )
            }
            Service::Task => {
                let app =
                    spontan_task::Application::build(self.config.task.clone(), shutdown).await?;
                (
                    app.platform().grpc_addr(),
                    app.platform().metrics_addr(),
                    tokio::spawn(app.run()),
                )
            }
            Service::Matching => {
                let app =
                    spontan_matching::Application::build(self.config.matching.clone(), shutdown)
                        .await?;
                (
                    app.platform().grpc_addr(),
                    app.platform().metrics_addr(),
                    tokio::spawn(app.run()),
                )
            }
        };
        let (grpc, metrics, task) = started;
        Ok(RunningService {
            grpc,
            metrics,
            task,
        })
    }

    /// Cancels the shutdown token and waits for the three services to drain, keeping the
    /// suite (and its broker) for inspection or a restart with [`Suite::start_from`]. Call it
    /// at most once, and drop the suite afterwards instead of calling [`Suite::stop`].
    pub async fn stop_services(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for service in [&mut self.registration, &mut self.task, &mut self.matching] {
            tokio::time::timeout(Duration::from_secs(30), &mut service.task)
                .await
                .context("service did not stop within 30 s")???;
        }
        Ok(())
    }

    /// A connection pool to the database of `service`.
    pub async fn database(&self, service: Service) -> anyhow::Result<sqlx::PgPool> {
        let url = match service {
            Service::Registration => &self.config.registration.platform.database.url,
            Service::Task => &self.config.task.platform.database.url,
            Service::Matching => &self.config.matching.platform.database.url,
        };
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(url.expose())
            .await?)
    }

    /// A token for `subject` in `role`, signed with the suite's key.
    pub fn token(&self, role: Role, subject: &str, organisation: Option<&str>) -> String {
        TokenIssuer::from_config(&self.auth)
            .and_then(|issuer| issuer.issue(subject, role, organisation, Duration::from_secs(3600)))
            .expect("the suite's signing key signs")
    }

    pub fn services(&self) -> [(&'static str, &RunningService); 3] {
        [
            ("spontan.v1.RegistrationService", &self.registration),
            ("spontan.v1.TaskService", &self.task),
            ("spontan.v1.MatchingService", &self.matching),
        ]
    }

    /// A client of each service.
    pub async fn clients(&self) -> anyhow::Result<Clients> {
        Ok(Clients {
            registration: RegistrationServiceClient::new(channel(self.registration.grpc).await?),
            tasks: TaskServiceClient::new(channel(self.task.grpc).await?),
            matching: MatchingServiceClient::new(channel(self.matching.grpc).await?),
        })
    }

    /// Waits until every service of the suite reports SERVING, for at most `within` each.
    pub async fn serving(&self, within: Duration) -> anyhow::Result<()> {
        for (name, service) in self.services() {
            wait_for_health(service.grpc, name, ServingStatus::Serving, within).await?;
        }
        Ok(())
    }

    /// Cancels the shutdown token and waits for every service to drain and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop_services().await
    }
}

/// The body of `GET /metrics` at `address` (plain HTTP/1.1 over TCP, no client library).
pub async fn scrape_metrics(address: SocketAddr) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP body")?;
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "metrics answered {head}");
    Ok(body.to_owned())
}

/// One record read back from a topic: its headers and envelope.
pub type Record = (
    Vec<(String, String)>,
    Option<spontan_proto::v1::EventEnvelope>,
);

/// Reads `topic` from the beginning in a consumer group of its own, into a channel.
pub fn read_topic(
    kafka: &KafkaConfig,
    topic: &str,
    stop: CancellationToken,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<Record>> {
    let (rx, _reader) = testkit::read_events(kafka, topic, stop, |event| {
        Some((event.headers.clone(), event.envelope.clone()))
    })?;
    Ok(rx)
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

impl Drop for Suite {
    /// A test that fails still stops its services, so that consumers leave their groups while
    /// the broker is up instead of holding the runtime's shutdown.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
