//! Kafka: the idempotent producer, topic set-up and the at-least-once consumer loop.
//!
//! Only features that Apache Kafka has are used, and none that the local broker lacks
//! (no transactions: the outbox and idempotent consumers give exactly-once effects instead).
//!
//! The consumer never blocks the async runtime: it awaits `StreamConsumer::recv`, and the few
//! blocking librdkafka calls (metadata, commit, close) run on the blocking pool. Offsets are
//! *stored* only after the handler's database transaction committed and are committed by
//! librdkafka's auto-commit, on revocation during a rebalance, and once more at shutdown.
//! A read model that keeps its offsets in its own database instead (matching's volunteer
//! index) reads through [`EventConsumer::assign`]: no group, no commit, a restart resumes from
//! the offsets stored with the state, once [`log_identity`] has checked that they still point
//! into the broker's log (a rebuilt broker or a recreated topic is another log).
//!
//! Every consumer reports its lag per assigned partition (`kafka_consumer_lag_records`) every
//! [`LAG_INTERVAL`]: the partition's high watermark minus the group's committed offset (an
//! assigned consumer: its own position), as
//! `kafka-consumer-groups.sh` and Kafka exporters count it, from the service's own point of
//! view, so that it needs no exporter next to the broker.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{FutureProducer, Producer};
use spontan_proto::v1::EventEnvelope;

use crate::config::KafkaConfig;

mod consumer;
mod lag;
pub mod log_identity;
pub mod security;

pub use consumer::{Ended, EventConsumer, RebalanceContext};
pub use lag::LAG_INTERVAL;

/// Settings shared by every client of this service.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "spontan")
        .set("socket.keepalive.enable", "true");
    security::apply(&config.security, &mut client);
    client
}

/// An idempotent producer: retries inside librdkafka never duplicate or reorder a message
/// within a partition (`enable.idempotence` implies `acks=all`).
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    client_config(config)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", config.message_timeout_ms.to_string())
        .create()
}

/// Creates the topics that are missing (with the configured partitions) and waits until the
/// broker's metadata shows every one of them with its partitions, because clients may see
/// `UnknownTopicOrPartition` for a moment right after creation. A service that may not
/// create topics (ACLs) waits for them to exist.
pub async fn ensure_topics(config: &KafkaConfig, topics: &[&str]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(config).create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            // Where ACLs let the service only use its topics (Strimzi's KafkaUsers), the
            // operator creates them (KafkaTopic resources): wait for them below.
            Err((
                topic,
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            )) => {
                tracing::info!(
                    topic,
                    "not allowed to create the topic; waiting for it to exist"
                );
            }
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic, ?code, "topic could not be created");
                });
            }
        }
    }
    let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    let producer = producer(config)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let client = producer.clone();
        let names = names.clone();
        let ready = tokio::task::spawn_blocking(move || {
            names.iter().all(|name| {
                client
                    .client()
                    .fetch_metadata(Some(name), Duration::from_secs(5))
                    .is_ok_and(|m| {
                        m.topics().iter().any(|t| {
                            t.name() == name && t.error().is_none() && !t.partitions().is_empty()
                        })
                    })
            })
        })
        .await
        .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::UnknownTopicOrPartition,
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the broker answers a metadata request, for readiness.
pub async fn is_reachable(producer: &FutureProducer) -> bool {
    let client = producer.clone();
    tokio::task::spawn_blocking(move || {
        client
            .client()
            .fetch_metadata(None, Duration::from_secs(3))
            .is_ok_and(|m| !m.brokers().is_empty())
    })
    .await
    .unwrap_or(false)
}

/// A record read from a topic, decoded as far as the platform can.
#[derive(Debug)]
pub struct ConsumedEvent {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    /// The record's timestamp (the producer's create time), in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Header name and value (values that are not UTF-8 are dropped).
    pub headers: Vec<(String, String)>,
    /// `None` for a tombstone (a record with a null value) or an undecodable record.
    pub envelope: Option<EventEnvelope>,
    /// The record had a value that is not an `EventEnvelope`; handlers should skip it.
    pub undecodable: bool,
    /// The record's `consume` span, a child of the producer's trace.
    pub span: tracing::Span,
}

impl ConsumedEvent {
    /// A record with a null value: the key's aggregate is gone (erasure on a compacted topic).
    pub fn is_tombstone(&self) -> bool {
        self.envelope.is_none() && !self.undecodable
    }
}

impl ConsumedEvent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a consumer does with each record. Returning `Err` means "not applied, try again":
/// the same record is retried with backoff and its offset is not stored, so nothing is
/// skipped. A handler must therefore be idempotent (see the `processed_events` table).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()>;
}

/// What a consumer does with each batch of records ([`EventConsumer::run_batches`]): the
/// same contract as [`EventHandler`], for all of them at once. `Err` retries the whole batch,
/// so applying a prefix of it must be harmless to apply again. Each event carries its
/// `consume` span: work done for one record should run in it.
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> anyhow::Result<()>;
}

/// A rebalance as the service sees it, forwarded from librdkafka's thread over a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

fn decode(message: &BorrowedMessage<'_>) -> ConsumedEvent {
    let headers = message
        .headers()
        .map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    let value = std::str::from_utf8(h.value?).ok()?;
                    Some((h.key.to_owned(), value.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let envelope = message.payload().and_then(|bytes| {
        match <EventEnvelope as prost::Message>::decode(bytes) {
            Ok(envelope) => Some(envelope),
            Err(error) => {
                // A record that is not an envelope can never be applied; retrying it would stop
                // the partition forever. It is counted and handed on as undecodable.
                metrics::counter!("kafka_events_undecodable_total").increment(1);
                tracing::error!(topic = message.topic(), offset = message.offset(), %error, "undecodable record");
                None
            }
        }
    });
    let undecodable = message.payload().is_some() && envelope.is_none();
    ConsumedEvent {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .map(str::to_owned),
        timestamp_ms: message.timestamp().to_millis(),
        headers,
        envelope,
        undecodable,
        span: tracing::Span::none(),
    }
}

/// Records that `consumer` applied `event_id`, inside the transaction that applied it.
/// Returns `false` when it was recorded before: the event is a redelivery and its effect must
/// not be applied again (roll back or skip).
pub async fn mark_processed(
    tx: &mut sqlx::PgConnection,
    consumer: &str,
    event_id: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
