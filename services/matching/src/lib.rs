//! The matching service: owns the read model of volunteers and open tasks, matches and their lifecycle; consumes `spontan.volunteer.v1` and `spontan.task.v1`, publishes `spontan.match.v1`.
//!
//! Layout: [`config`] (this service's configuration on top of the platform's), [`domain`]
//! (volunteers, tasks, match states), [`check_in`] (rotating check-in codes), [`convert`] (proto to domain), [`engine`] (eligibility,
//! ranking, the spatial index; pure), [`store`] (SQL), [`events`] (match events and the
//! change log, written with every transition), [`matcher`] (incremental matching, expiry,
//! sweep), [`consumer`] (volunteer and task topics), [`lifecycle`] and [`feed`] (what the
//! RPCs do), [`streams`] (the bounds on open change streams, one head poller per incident), [`optimizer`] (the incident-wide assignment: min-cost flow per period),
//! [`reasons`] (the refusals' ErrorInfo reasons), [`api`] (the gRPC handlers), [`metrics`]
//! (matches by state, offer answer time), `migrations/` (its own tables, numbered from 0100).
//! Plumbing — server, health, reflection, outbox relay, telemetry, shutdown — lives in
//! `spontan-platform`.

pub mod api;
pub mod check_in;
pub mod config;
pub mod consumer;
pub mod convert;
pub mod domain;
pub mod engine;
pub mod events;
pub mod feed;
pub mod lifecycle;
pub mod matcher;
pub mod metrics;
pub mod optimizer;
pub mod reasons;
pub mod store;
pub mod streams;

use std::sync::Arc;

use matcher::Matcher;
use spontan_platform::kafka::EventConsumer;
use spontan_platform::retry;

use spontan_platform::service::Platform;
use spontan_proto::v1::matching_service_server::MatchingServiceServer;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

pub use config::{Config, MatchingSettings};

/// The service's name in logs, metrics, traces and its database name.
pub const NAME: &str = "matching";

/// This service's own migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A built, not yet running, matching service.
pub struct Application {
    platform: Platform,
    matcher: Matcher,
}

impl Application {
    /// Binds the listeners, creates the clients and registers the background work, which
    /// starts once [`Self::run`] has the service ready; nothing is contacted before.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        Self::build_with(config, MatchingSettings::default(), shutdown).await
    }

    /// [`Self::build`] with explicit matching settings.
    pub async fn build_with(
        config: Config,
        settings: MatchingSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let platform = Platform::build(NAME, config.platform, &MIGRATOR, shutdown).await?;
        let matcher = Matcher {
            pool: platform.pool.clone(),
            index: Arc::default(),
            settings,
            topic: platform.config.kafka.topics.matching.clone(),
            grants: spontan_platform::auth::grant::GrantSigner::from_config(&platform.config.auth)?,
        };
        let mut application = Self { platform, matcher };
        application.start_background();
        Ok(application)
    }

    /// The running service's shared parts: where it listens (`grpc_addr`, `metrics_addr`),
    /// its pool and configuration.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = &self.platform.config;
        let api = api::Api {
            matcher: self.matcher.clone(),
            streams: streams::Streams::new(
                self.matcher.settings.streams.clone(),
                self.matcher.pool.clone(),
                self.platform.shutdown.clone(),
            ),
            shutdown: self.platform.shutdown.clone(),
        };
        let server = MatchingServiceServer::new(api)
            .max_decoding_message_size(config.grpc.max_message_bytes);
        let routes = Routes::new(server);
        self.platform.run(routes, &[&api::ACCESS]).await
    }

    /// Once the database is migrated: restore the index, then consume both topics and run
    /// the expiry and sweep timers. Every replica reads every partition of the volunteer topic
    /// (assigned, no group) from the offsets stored with the read model; task partitions are
    /// shared through the common group.
    fn start_background(&mut self) {
        let kafka = self.platform.config.kafka.clone();
        let shutdown = self.platform.shutdown.clone();
        let matcher = self.matcher.clone();
        // Names the volunteer consumer in metrics; it joins no group (see `run_background`).
        let volunteer_group = format!("{}-volunteers", kafka.group_id);
        self.platform.spawn_when_ready(
            "index restore and consumers",
            run_background(matcher, kafka, volunteer_group, shutdown),
        );
    }
}

async fn run_background(
    matcher: Matcher,
    kafka: spontan_platform::config::KafkaConfig,
    volunteer_group: String,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let volunteers = consumer::VolunteerLog {
        matcher: matcher.clone(),
        topic: kafka.topics.volunteer.clone(),
        kafka: kafka.clone(),
        label: volunteer_group,
    };
    // The volunteer topic is read from where the restored index ends (the offsets stored with
    // it, once checked against the broker's log), not from its beginning: a restarted or added
    // replica catches up in seconds, not by replaying every registration of the incident. The
    // topic may not exist yet right after a fresh deployment: wait for it.
    let restore = || volunteers.restore();
    let Some((restored, start)) =
        retry::until_ok(&shutdown, "restoring the volunteer index", restore).await
    else {
        return Ok(());
    };
    tracing::info!(volunteers = restored, "volunteer index restored");
    let assign = || volunteers.assign(&start);
    let Some(volunteer_consumer) =
        retry::until_ok(&shutdown, "reading the volunteer topic", assign).await
    else {
        return Ok(());
    };
    let (tasks, _) = EventConsumer::subscribe(
        &kafka,
        "matching-tasks",
        &kafka.group_id,
        &[kafka.topics.task.as_str()],
    )?;
    let task_handler = consumer::TaskConsumer {
        matcher: matcher.clone(),
    };
    let pool = matcher.pool.clone();
    tokio::join!(
        volunteers.run(volunteer_consumer, start, shutdown.clone()),
        tasks.run(task_handler, shutdown.clone()),
        matcher.run_timers(shutdown.clone()),
        crate::metrics::report_states(pool, shutdown.clone()),
    );
    Ok(())
}
