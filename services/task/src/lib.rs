//! The task service: owns incidents, tasks and the coordinators' audit trail; publishes
//! `spontan.task.v1` and follows staffing from `spontan.match.v1`.
//!
//! Layout: [`domain`] (incidents, tasks, status rules), [`validation`] (requests to domain
//! values, with every field violation), [`convert`] (domain to proto), [`store`] (SQL),
//! [`events`] (outbox writes on the task topic), [`paging`] (page tokens), [`api`] (the gRPC
//! handlers and access rules), [`consumer`] (staffing from match events), [`config`], and
//! `migrations/` (numbered from 0100; the platform's outbox and processed-events tables come
//! first). Plumbing — server, health, reflection, outbox relay, telemetry, shutdown — lives in
//! `spontan-platform`.

pub mod api;
pub mod config;
pub mod consumer;
pub mod convert;
pub mod domain;
pub mod events;
pub mod paging;
pub mod store;
pub mod validation;

use spontan_platform::kafka::EventConsumer;
use spontan_platform::service::Platform;
use spontan_proto::v1::task_service_server::TaskServiceServer;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

pub use config::Config;

/// The service's name in logs, metrics, traces and its database name.
pub const NAME: &str = "task";

/// This service's own migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A built, not yet running, task service.
pub struct Application {
    platform: Platform,
}

impl Application {
    /// Binds the listeners, creates the clients and registers the background work, which
    /// starts once [`Self::run`] has the service ready; nothing is contacted before.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let mut platform = Platform::build(NAME, config.platform, &MIGRATOR, shutdown).await?;
        let kafka = platform.config.kafka.clone();
        let publisher = events::Publisher::new(&kafka.topics.task);

        // Subscribed only once ready: the bootstrap has then created the topics, so the
        // consumer's first metadata already shows the match topic.
        let handler = consumer::StaffingConsumer::new(platform.pool.clone(), publisher);
        let shutdown = platform.shutdown.clone();
        platform.spawn_when_ready("staffing consumer", async move {
            let topics = [kafka.topics.matching.as_str()];
            let (staffing, _rebalances) =
                EventConsumer::subscribe(&kafka, consumer::CONSUMER, &kafka.group_id, &topics)?;
            staffing.run(handler, shutdown).await;
            anyhow::Ok(())
        });

        Ok(Self { platform })
    }

    /// The running service's shared parts: where it listens (`grpc_addr`, `metrics_addr`),
    /// its pool and configuration.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = &self.platform.config;
        let api = api::Api::new(self.platform.pool.clone(), &config.kafka.topics.task);
        let server =
            TaskServiceServer::new(api).max_decoding_message_size(config.grpc.max_message_bytes);
        let routes = Routes::new(server);
        self.platform.run(routes, &[&api::ACCESS]).await
    }
}
