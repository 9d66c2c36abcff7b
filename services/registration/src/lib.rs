//! The registration service: owns volunteers, their encrypted contact data, consent, availability and access tokens; publishes `spontan.volunteer.v1` and sends offers to volunteers from `spontan.match.v1`.
//!
//! Layout: [`config`] (this service's configuration on top of the platform's), [`api`] (the
//! gRPC handlers), `migrations/` (its own tables, numbered from 0100; the platform's outbox
//! and processed-events tables come first). Plumbing — server, health, reflection, outbox
//! relay, telemetry, shutdown — lives in `spontan-platform`.

pub mod api;
pub mod config;

use std::net::SocketAddr;

use spontan_platform::auth::{AuthInterceptor, TokenVerifier};
use spontan_platform::service::Platform;
use spontan_proto::v1::registration_service_server::RegistrationServiceServer;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// The service's name in logs, metrics, traces and its database name.
pub const NAME: &str = "registration";

/// This service's own migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A built, not yet running, registration service.
pub struct Application {
    platform: Platform,
}

impl Application {
    /// Binds the listeners and creates the clients; nothing is contacted until [`Self::run`].
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let platform = Platform::build(NAME, config.platform, &MIGRATOR, shutdown).await?;
        Ok(Self { platform })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.platform.grpc_addr()
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.platform.metrics_addr()
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = &self.platform.config;
        let verifier = TokenVerifier::from_config(&config.auth)?;
        let server = RegistrationServiceServer::new(api::Api)
            .max_decoding_message_size(config.grpc.max_message_bytes);
        let routes = Routes::new(InterceptedService::new(
            server,
            AuthInterceptor::new(verifier),
        ));
        let services = [<RegistrationServiceServer<api::Api> as NamedService>::NAME];
        self.platform.run(routes, &services).await
    }
}
