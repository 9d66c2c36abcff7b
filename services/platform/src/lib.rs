//! Shared plumbing of the Spontan services, written once so that each service reads as its
//! domain.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | layered configuration (defaults, optional TOML file, `SPONTAN_` environment), validated at start |
//! | [`tls`] | TLS for the gRPC port: certificates from files, reloaded on renewal, optional client certificates |
//! | [`telemetry`] | JSON logs, OpenTelemetry traces (OTLP when configured), Prometheus `/metrics` |
//! | [`db`] | the PostgreSQL pool and migrations (platform tables plus the service's own) |
//! | [`kafka`] | the idempotent producer, topic set-up and the at-least-once consumer loop |
//! | [`outbox`] | the transactional outbox: a writer inside the caller's transaction and the relay |
//! | [`grpc`] | the gRPC server: health, reflection, tracing, metrics, limits, graceful shutdown |
//! | [`auth`] | who calls: the suite's Ed25519 tokens, OpenID Connect providers' tokens, the server layer and role checks |
//! | [`retry`] | waiting for a dependency with backoff until it answers or the service stops |
//! | [`secret`] | configuration values that never reach a log line |
//! | [`error`] | the one mapping from domain errors to `tonic::Status` with field violations |
//! | [`ids`] | typed ids (incident, task, match, volunteer), parsed from requests at the edge |
//! | [`service`] | start-up and shutdown of a whole service: readiness, relay, servers |
//! | [`shutdown`] | SIGTERM/SIGINT turned into one cancellation token |
//! | [`skills`] | the skill taxonomy shared by registration and task |
//! | [`states`] | incident and task statuses (kept by task and matching), states stored as text |
//! | `testkit` | (feature `testkit`) fresh databases and a broker for integration tests |

pub mod auth;
pub mod client;
pub mod client_tls;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod grpc;
pub mod ids;
pub mod kafka;
pub mod languages;
pub mod outbox;
pub mod retry;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod skills;
pub mod states;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod text;
pub mod tls;

pub use error::ApiError;
