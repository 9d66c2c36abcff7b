//! The registration service: owns volunteers, their encrypted contact data, consent,
//! availability and access tokens; publishes `spontan.volunteer.v1` and sends offers to
//! volunteers from `spontan.match.v1`.
//!
//! Layout: [`config`] (this service's configuration on top of the platform's), [`domain`]
//! (the volunteer, valid by construction), [`validation`] (proto to domain, every field
//! checked once), [`crypto`] (envelope encryption and keyed lookup hashes), [`rotation`]
//! (re-wrapping data keys after a master-key rotation), [`clock`] (where "now" comes from),
//! [`store`] (all the SQL, compile-checked, one module per concern),
//! [`volunteers`] (the registry: one transaction per change, events through the outbox),
//! [`events`] (what leaves the service), [`convert`] (domain to proto), [`export`] (the GDPR
//! export), [`retention`] (automatic erasure of inactive volunteers), [`ratelimit`]
//! (Register's per-client limit), [`alerts`] (offers from the match topic to
//! webhook, e-mail and Web Push), [`contact`] (GetVolunteerContact for
//! coordinators), [`api`] (the gRPC handlers),
//! `migrations/` (its own tables, numbered from 0100). Plumbing — server, health, reflection,
//! outbox relay, telemetry, shutdown — lives in `spontan-platform`.

pub mod alerts;
pub mod api;
pub mod clock;
pub mod commit;
pub mod config;
pub mod confirmation;
pub mod contact;
pub mod convert;
pub mod crypto;
pub mod domain;
pub mod events;
pub mod export;
pub mod messages;
pub mod participation;
pub mod ratelimit;
pub mod retention;
pub mod rotation;
pub mod sessions;
pub mod store;
pub mod validation;
pub mod volunteers;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spontan_platform::auth::TokenIssuer;
use spontan_platform::config::Validate;
use spontan_platform::service::Platform;
use spontan_proto::v1::registration_service_server::RegistrationServiceServer;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

pub use config::Config;

/// The service's name in logs, metrics, traces and its database name.
pub const NAME: &str = "registration";

/// This service's own migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A built, not yet running, registration service.
pub struct Application {
    platform: Platform,
    api: api::Api,
}

/// The notifier of every channel: e-mail over SMTP, Web Push, everything else over the
/// messaging gateway. Alerts and contact codes share it.
fn notifier(config: &config::AlertsConfig) -> anyhow::Result<Arc<dyn alerts::Notifier>> {
    let router = alerts::Router {
        email: match config.smtp_server.as_str() {
            "" => None,
            _ => Some(Box::new(
                alerts::smtp::SmtpNotifier::new(config).context("alerts.smtp_server")?,
            ) as Box<dyn alerts::Notifier>),
        },
        web_push: if config.web_push.enabled() {
            let notifier = alerts::web_push::WebPushNotifier::new(&config.web_push)
                .context("alerts.web_push")?;
            tracing::info!(
                vapid_public_key = notifier.public_key(),
                "web push on: app push subscriptions are sent through their push service"
            );
            Some(Box::new(notifier) as Box<dyn alerts::Notifier>)
        } else {
            tracing::warn!(
                "web push off (alerts.web_push.vapid_private_key is empty): app push \
                 subscriptions go to the messaging gateway like other push tokens"
            );
            None
        },
        gateway: match config.webhook_url.as_str() {
            "" => None,
            _ => Some(Box::new(
                alerts::webhook::WebhookNotifier::new(config).context("alerts.webhook_url")?,
            ) as Box<dyn alerts::Notifier>),
        },
    };
    Ok(Arc::new(router))
}

/// Starts the match-topic consumer (queues alerts) and the dispatcher (sends them) once the
/// service is ready.
fn spawn_alerts(
    platform: &mut Platform,
    registry: &volunteers::Registry,
    config: &config::AlertsConfig,
    notifier: Arc<dyn alerts::Notifier>,
    wake: Arc<tokio::sync::Notify>,
) {
    let dispatcher = alerts::dispatcher::Dispatcher {
        registry: registry.clone(),
        notifier,
        config: config.clone(),
        wake: wake.clone(),
    };
    platform.spawn_when_ready(
        "alert dispatcher",
        dispatcher.run(platform.shutdown.clone()),
    );

    let kafka = platform.config.kafka.clone();
    let handler = alerts::consumer::MatchAlerts {
        pool: platform.pool.clone(),
        wake,
    };
    let shutdown = platform.shutdown.clone();
    platform.spawn_when_ready("match alerts consumer", async move {
        let topic = kafka.topics.matching.clone();
        let (consumer, _rebalances) = spontan_platform::kafka::EventConsumer::subscribe(
            &kafka,
            "match-alerts",
            &kafka.group_id,
            &[topic.as_str()],
        )?;
        consumer.run(handler, shutdown).await;
        anyhow::Ok(())
    });
}

impl Application {
    /// Checks the configuration, binds the listeners and creates the clients; nothing is
    /// contacted until [`Self::run`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        Self::build_with_clock(config, shutdown, Arc::new(clock::SystemClock)).await
    }

    /// [`Self::build`] with the registry reading the time from `clock` (tests move it).
    pub async fn build_with_clock(
        config: Config,
        shutdown: CancellationToken,
        clock: Arc<dyn clock::Clock>,
    ) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        if !problems.is_empty() {
            anyhow::bail!("configuration is invalid: {}", problems.join("; "));
        }
        // Keys are checked before anything is bound or contacted.
        crypto::Vault::from_config(&config.privacy).context("privacy keys")?;
        TokenIssuer::from_config(&config.platform.auth).context("auth.signing_key")?;
        let mut platform =
            Platform::build(NAME, config.platform.clone(), &MIGRATOR, shutdown).await?;
        let registry = volunteers::Registry::from_config(platform.pool.clone(), &config, clock)?;
        let pool = platform.pool.clone();
        platform.spawn_when_ready("skill taxonomy", async move {
            store::skills::upsert_skills(&pool).await
        });
        let notifier = notifier(&config.alerts)?;
        let wake = Arc::new(tokio::sync::Notify::new());
        spawn_alerts(
            &mut platform,
            &registry,
            &config.alerts,
            notifier.clone(),
            wake.clone(),
        );
        platform.spawn_when_ready(
            "retention sweep",
            retention::run(
                registry.clone(),
                config.privacy.retention_days,
                Duration::from_secs(config.privacy.retention_sweep_secs),
                platform.shutdown.clone(),
            ),
        );
        if config.privacy.rewrap_sweep_secs > 0 {
            platform.spawn_when_ready(
                "key rotation sweep",
                rotation::run(
                    platform.pool.clone(),
                    registry.vault.clone(),
                    config.privacy.rewrap_batch,
                    Duration::from_secs(config.privacy.rewrap_sweep_secs),
                    platform.shutdown.clone(),
                ),
            );
        }
        let api = api::Api {
            messages: messages::Messages {
                pool: platform.pool.clone(),
                per_hour: config.alerts.messages_per_hour,
                wake,
            },
            confirmations: confirmation::Confirmations {
                registry: registry.clone(),
                notifier,
            },
            registry,
            limiter: Arc::new(ratelimit::RateLimiter::new(&config.register_limit)),
            trusted_proxies: platform.config.grpc.trusted_proxies.clone().into(),
        };
        Ok(Self { platform, api })
    }

    /// The running service's shared parts: where it listens (`grpc_addr`, `metrics_addr`),
    /// its pool and configuration.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = &self.platform.config;
        let server = RegistrationServiceServer::new(self.api)
            .max_decoding_message_size(config.grpc.max_message_bytes);
        let routes = Routes::new(server);
        self.platform.run(routes, &[&api::ACCESS]).await
    }
}
