//! Layered configuration: built-in defaults, then an optional TOML file named by
//! `SPONTAN_CONFIG`, then environment variables with the `SPONTAN_` prefix, where `__`
//! separates sections (`SPONTAN_DATABASE__URL`, `SPONTAN_KAFKA__BROKERS`).
//!
//! Every service embeds [`PlatformConfig`] (flattened, so its sections sit at the top level)
//! and adds its own sections. The result is validated once at start, and every problem is
//! reported at once, so that an operator fixes a deployment in one round.

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::auth::{AuthConfig, OidcProvider};
pub use crate::secret::Secret;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration is invalid: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// A configuration type that can check itself after loading.
pub trait Validate {
    /// Appends one message per problem found.
    fn validate(&self, problems: &mut Vec<String>);
}

/// Loads `C` from its defaults, the optional file and the environment, then validates it.
pub fn load<C>(defaults: C) -> Result<C, ConfigError>
where
    C: Serialize + DeserializeOwned + Validate,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Ok(path) = std::env::var("SPONTAN_CONFIG") {
        figment = figment.merge(Toml::file_exact(path));
    }
    let config: C = figment
        .merge(Env::prefixed("SPONTAN_").split("__"))
        .extract()
        .map_err(Box::new)?;
    let mut problems = Vec::new();
    config.validate(&mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// The sections every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformConfig {
    pub grpc: GrpcConfig,
    pub metrics: MetricsConfig,
    pub database: DatabaseConfig,
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub outbox: OutboxConfig,
}

impl PlatformConfig {
    /// Defaults for local use: each service on its own fixed ports and database, so that all
    /// three run side by side on one machine.
    pub fn local_defaults(service: &str, grpc_port: u16, metrics_port: u16) -> Self {
        Self {
            grpc: GrpcConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
                max_message_bytes: 256 * 1024,
                request_timeout_ms: 10_000,
                concurrency_limit_per_connection: 256,
                cors_allowed_origins: Vec::new(),
                trusted_proxies: Vec::new(),
                tls: GrpcTlsConfig::default(),
            },
            metrics: MetricsConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
            },
            database: DatabaseConfig {
                url: Secret::new(format!(
                    "postgres://postgres@127.0.0.1:5432/spontan_{service}"
                )),
                max_connections: 16,
                acquire_timeout_ms: 3_000,
                statement_timeout_ms: 30_000,
                ssl_mode: String::new(),
                ssl_root_cert: String::new(),
            },
            kafka: KafkaConfig::default(),
            auth: AuthConfig::default(),
            telemetry: TelemetryConfig::default(),
            outbox: OutboxConfig::default(),
        }
    }
}

impl PlatformConfig {
    /// [`Self::local_defaults`] plus the service's consumer group `spontan-<service>`.
    pub fn for_service(service: &str, grpc_port: u16, metrics_port: u16) -> Self {
        let mut config = Self::local_defaults(service, grpc_port, metrics_port);
        config.kafka.group_id = format!("spontan-{service}");
        config
    }
}

impl Validate for PlatformConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if self.grpc.max_message_bytes < 1024 {
            problems.push("grpc.max_message_bytes must be at least 1024".into());
        }
        if self.grpc.request_timeout_ms == 0 {
            problems.push("grpc.request_timeout_ms must be positive".into());
        }
        if self.grpc.concurrency_limit_per_connection == 0 {
            problems.push("grpc.concurrency_limit_per_connection must be positive".into());
        }
        self.grpc.tls.validate(problems);
        for (i, origin) in self.grpc.cors_allowed_origins.iter().enumerate() {
            if let Err(problem) = crate::grpc::check_origin(origin) {
                problems.push(format!("grpc.cors_allowed_origins[{i}] {problem}"));
            }
        }
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push("database.url must be a postgres:// URL".into());
        }
        if !matches!(
            self.database.ssl_mode.as_str(),
            "" | "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"
        ) {
            problems.push(
                "database.ssl_mode must be disable, allow, prefer, require, verify-ca or verify-full"
                    .into(),
            );
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections must be positive".into());
        }
        self.kafka.validate(problems);
        self.auth.validate(problems);
        if self.outbox.batch_size == 0 || self.outbox.batch_size > 10_000 {
            problems.push("outbox.batch_size must be between 1 and 10000".into());
        }
        if !matches!(self.telemetry.log_format.as_str(), "json" | "pretty") {
            problems.push("telemetry.log_format must be \"json\" or \"pretty\"".into());
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrpcConfig {
    /// Address the gRPC server binds (port 0 picks a free port, as tests do).
    pub listen: SocketAddr,
    /// Largest request message accepted; a phone registration is a few kilobytes.
    pub max_message_bytes: usize,
    /// Deadline for a unary request on the server side.
    pub request_timeout_ms: u64,
    /// In-flight requests per HTTP/2 connection before new ones queue.
    pub concurrency_limit_per_connection: usize,
    /// Origins (`https://app.example.org`, scheme, host and port, no path) whose pages may
    /// call this service over gRPC-Web from another origin. Empty, the production default,
    /// answers no cross-origin request: the web clients are then served from the same origin
    /// as the API (one ingress host), which also saves a preflight round trip per call on a
    /// bad network. There is no wildcard: each origin is named.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// Proxies (CIDR blocks: the ingress controller's pod network, a load balancer) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client ([`crate::client`]). Empty,
    /// the default: the TCP peer is the client, and those headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// TLS for the gRPC port ([`crate::tls`]); off when `cert_file` is empty.
    #[serde(default)]
    pub tls: GrpcTlsConfig,
}

/// The gRPC server's certificate and, for mutual TLS, whose client certificates it takes.
/// The files are PEM, as cert-manager writes them into a Secret (`tls.crt`, `tls.key`,
/// `ca.crt`), and are read again when they change, so a renewed certificate is served
/// without a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcTlsConfig {
    /// The server's certificate chain; empty serves plain text (the local stack, tests).
    pub cert_file: String,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// CA certificates whose client certificates are required (mutual TLS); empty accepts
    /// clients without a certificate.
    pub client_ca_file: String,
}

impl GrpcTlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            problems.push("grpc.tls.cert_file and grpc.tls.key_file go together".into());
        }
        if !self.client_ca_file.is_empty() && self.cert_file.is_empty() {
            problems.push("grpc.tls.client_ca_file needs grpc.tls.cert_file".into());
        }
        if self.enabled()
            && let Err(error) = crate::tls::server_config(self)
        {
            problems.push(format!("grpc.tls: {error:#}"));
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// Address of the Prometheus `/metrics` endpoint (plain HTTP).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database`; a secret because it may hold a password.
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// PostgreSQL's `statement_timeout` for every pooled connection, so that no query (of a
    /// request or of a background loop) waits forever; 0 turns it off. Migrations run without it.
    pub statement_timeout_ms: u64,
    /// TLS to the database, as libpq's `sslmode`: `disable`, `prefer`, `require`, `verify-ca`
    /// or `verify-full` (encrypted, and the server's certificate names the host: what
    /// production uses). Empty: whatever the URL says (`?sslmode=`), else `prefer`.
    #[serde(default)]
    pub ssl_mode: String,
    /// PEM file of the CA that signed the server's certificate (`verify-ca`, `verify-full`);
    /// empty: the URL's `sslrootcert`, else the system's roots.
    #[serde(default)]
    pub ssl_root_cert: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub brokers: String,
    /// Consumer group of this service; replicas of one service share it.
    pub group_id: String,
    /// How long the broker may hold a fetch open waiting for data. librdkafka's default of
    /// 500 ms is fine for Apache Kafka, which answers as soon as data arrives; the local
    /// broker holds every fetch for the full time, so tests use 10 ms and `up.sh` 50 ms.
    pub fetch_wait_max_ms: u32,
    /// How long the producer keeps retrying one message before reporting it failed; the
    /// outbox relay then retries the whole row later, so nothing is lost either way.
    pub message_timeout_ms: u32,
    /// Partitions of topics this service creates when they are missing (the ceiling of
    /// consumer parallelism: planned for the largest disaster, not for today).
    pub partitions: i32,
    pub replication_factor: i32,
    pub topics: Topics,
    /// How the connection to the brokers is secured ([`crate::kafka::security`]).
    #[serde(default)]
    pub security: KafkaSecurity,
}

/// TLS and SASL to the brokers, as Strimzi's listeners expect them: a `tls` listener with
/// `scram-sha-512` authentication (`sasl_ssl`, a KafkaUser's password) or with `tls`
/// authentication (`ssl` with the KafkaUser's certificate). The files are PEM.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaSecurity {
    /// `plaintext` (empty: the local broker), `ssl`, `sasl_ssl` or `sasl_plaintext`.
    pub protocol: String,
    /// CA of the brokers' certificates (Strimzi's `<cluster>-cluster-ca-cert`, `ca.crt`);
    /// empty: the system's roots.
    pub ca_file: String,
    /// Client certificate and key for mutual TLS (a KafkaUser with `tls` authentication).
    pub cert_file: String,
    pub key_file: String,
    /// `SCRAM-SHA-512` (empty: that), `SCRAM-SHA-256` or `PLAIN`.
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub sasl_password: Secret,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            group_id: String::new(),
            fetch_wait_max_ms: 500,
            message_timeout_ms: 30_000,
            partitions: 12,
            replication_factor: 1,
            topics: Topics::default(),
            security: KafkaSecurity::default(),
        }
    }
}

impl KafkaConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if self.brokers.trim().is_empty() {
            problems.push("kafka.brokers must name at least one broker".into());
        }
        crate::kafka::security::validate(&self.security, problems);
        if self.fetch_wait_max_ms == 0 || self.fetch_wait_max_ms > 60_000 {
            problems.push("kafka.fetch_wait_max_ms must be between 1 and 60000".into());
        }
        if self.partitions < 1 {
            problems.push("kafka.partitions must be at least 1".into());
        }
        if self.replication_factor < 1 {
            problems.push("kafka.replication_factor must be at least 1".into());
        }
        for (name, topic) in [
            ("volunteer", &self.topics.volunteer),
            ("task", &self.topics.task),
            ("matching", &self.topics.matching),
        ] {
            if topic.is_empty() || topic.len() > 249 {
                problems.push(format!("kafka.topics.{name} must be 1 to 249 characters"));
            }
        }
    }
}

/// Topic names, configurable so that tests and parallel environments can share a broker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Topics {
    pub volunteer: String,
    pub task: String,
    pub matching: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            volunteer: "spontan.volunteer.v1".into(),
            task: "spontan.task.v1".into(),
            matching: "spontan.match.v1".into(),
        }
    }
}

impl Topics {
    pub fn all(&self) -> [&str; 3] {
        [&self.volunteer, &self.task, &self.matching]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelemetryConfig {
    /// `json` for machines (default), `pretty` for a developer's terminal.
    pub log_format: String,
    /// `RUST_LOG`-style filter; `RUST_LOG` itself wins when set.
    pub log_filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: "json".into(),
            log_filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxConfig {
    /// Rows the relay publishes per transaction.
    pub batch_size: i64,
    /// Poll when nothing was enqueued in this process: finds rows written by other replicas.
    /// An enqueue in this process wakes the relay at once.
    pub poll_interval_ms: u64,
    /// Published rows are kept this long for diagnosis, then deleted.
    pub retention_hours: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval_ms: 100,
            retention_hours: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let config = PlatformConfig::local_defaults("task", 1, 2);
        assert!(!format!("{config:?}").contains("postgres://postgres@"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut config = PlatformConfig::local_defaults("task", 1, 2);
        config.database.url = Secret::new("mysql://nope");
        config.kafka.brokers = String::new();
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(
            problems.iter().any(|p| p.starts_with("database.url")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("kafka.brokers")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("auth needs")),
            "{problems:?}"
        );
    }
}
