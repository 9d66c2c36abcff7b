//! The transactional outbox.
//!
//! A service writes its state change and the events that describe it in one PostgreSQL
//! transaction ([`enqueue`]), so that an event exists if and only if the change committed. The
//! [`OutboxRelay`] publishes unpublished rows in id order with the idempotent producer and
//! marks them published. A broker outage delays events; it never loses them and never fails
//! the write that produced them.
//!
//! Only one relay per database publishes at a time (a transaction-scoped advisory lock), so
//! that events of one aggregate reach the topic in the order they were written, even with
//! several replicas. A row whose delivery failed stays unpublished and is retried; consumers
//! deduplicate by event id, so a retry after an unclear failure is harmless.
//!
//! Waking up: [`enqueue`] wakes the relays of its own process, which then poll eagerly (after
//! 1, 2, 4 … 64 ms) until the transaction has committed and its rows are published. Rows
//! written by another replica are found by the regular poll (`outbox.poll_interval_ms`).
//! There is deliberately no `NOTIFY`: PostgreSQL serialises the commits of notifying
//! transactions on one global lock, which halved the commit rate of registration under load
//! (docs/benchmarks.md).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use spontan_proto::v1::EventEnvelope;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{KafkaConfig, OutboxConfig};

/// Incremented by every [`enqueue`] of this process; a relay that sees it change polls eagerly.
static ENQUEUED: AtomicU64 = AtomicU64::new(0);
/// Wakes the relays of this process that are waiting.
static WAKE: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);
/// First and last delay of the eager polls after a wake-up.
const EAGER_FIRST: Duration = Duration::from_millis(1);
const EAGER_LAST: Duration = Duration::from_millis(64);
/// Advisory lock key of the relay ("outbox" in ASCII), the same in every service database.
/// Only the relay holding it publishes; a session that takes it (another replica, or an
/// operator with `SELECT pg_advisory_lock(...)`) holds every relay of that database back.
pub const RELAY_LOCK: i64 = 0x6f75_7462_6f78;

/// One record to publish: where to, under which key, with which headers.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub event_id: Uuid,
    pub topic: String,
    pub key: String,
    /// `None` is a tombstone.
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
}

impl OutboxMessage {
    /// An event keyed by its aggregate id, with CloudEvents headers (Kafka protocol binding,
    /// binary mode) and the W3C trace context of the current span.
    pub fn event(topic: &str, source: &str, envelope: &EventEnvelope) -> Self {
        let time = envelope
            .occurred_at
            .as_ref()
            .and_then(crate::events::from_timestamp)
            .unwrap_or_else(chrono::Utc::now);
        let mut headers = vec![
            ("ce_specversion".to_owned(), "1.0".to_owned()),
            ("ce_id".to_owned(), envelope.event_id.clone()),
            ("ce_type".to_owned(), envelope.event_type.clone()),
            ("ce_source".to_owned(), source.to_owned()),
            ("ce_subject".to_owned(), envelope.aggregate_id.clone()),
            (
                "ce_time".to_owned(),
                time.to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
            (
                "content-type".to_owned(),
                "application/x-protobuf".to_owned(),
            ),
        ];
        headers.extend(crate::telemetry::current_trace_headers());
        Self {
            event_id: envelope.event_id.parse().unwrap_or_else(|_| Uuid::now_v7()),
            topic: topic.to_owned(),
            key: envelope.aggregate_id.clone(),
            payload: Some(prost::Message::encode_to_vec(envelope)),
            headers,
        }
    }

    /// The same record under another key (the match topic is keyed by task id, not by the
    /// match id that is the envelope's aggregate id).
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// A null-valued record for `key`: compacted topics then forget the aggregate entirely.
    pub fn tombstone(topic: &str, source: &str, key: &str) -> Self {
        let event_id = Uuid::now_v7();
        let mut headers = vec![
            ("ce_specversion".to_owned(), "1.0".to_owned()),
            ("ce_id".to_owned(), event_id.to_string()),
            ("ce_type".to_owned(), "spontan.v1.Tombstone".to_owned()),
            ("ce_source".to_owned(), source.to_owned()),
            ("ce_subject".to_owned(), key.to_owned()),
        ];
        headers.extend(crate::telemetry::current_trace_headers());
        Self {
            event_id,
            topic: topic.to_owned(),
            key: key.to_owned(),
            payload: None,
            headers,
        }
    }
}

/// Writes `messages` inside the caller's transaction and wakes this process's relays, which
/// poll eagerly until the transaction has committed.
pub async fn enqueue(tx: &mut PgConnection, messages: &[OutboxMessage]) -> Result<(), sqlx::Error> {
    // One statement for any number of messages (a batch of registrations is one round trip),
    // ids in the order given: a volunteer's erasure event must precede its tombstone.
    let headers: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::to_value(&m.headers).unwrap_or_default())
        .collect();
    let ids: Vec<Uuid> = messages.iter().map(|m| m.event_id).collect();
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    let keys: Vec<&str> = messages.iter().map(|m| m.key.as_str()).collect();
    // A tombstone has no payload: NULL elements in the bytea array.
    let payloads: Vec<Option<&[u8]>> = messages.iter().map(|m| m.payload.as_deref()).collect();
    sqlx::query!(
        "INSERT INTO outbox (event_id, topic, message_key, payload, headers) \
         SELECT e, t, k, p, h \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) \
         WITH ORDINALITY AS m(e, t, k, p, h, n) ORDER BY n",
        &ids,
        &topics as &[&str],
        &keys as &[&str],
        &payloads as &[Option<&[u8]>],
        &headers,
    )
    .execute(&mut *tx)
    .await?;
    ENQUEUED.fetch_add(1, Ordering::Release);
    WAKE.notify_waiters();
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{failed} of {attempted} events could not be delivered")]
    Delivery { failed: usize, attempted: usize },
}

/// Publishes the outbox of one service database.
pub struct OutboxRelay {
    pool: PgPool,
    kafka: KafkaConfig,
    producer: FutureProducer,
    config: OutboxConfig,
}

impl OutboxRelay {
    pub fn new(pool: PgPool, kafka: KafkaConfig, config: OutboxConfig) -> Result<Self, KafkaError> {
        let producer = crate::kafka::producer(&kafka)?;
        Ok(Self {
            pool,
            kafka,
            producer,
            config,
        })
    }

    /// After failed deliveries the idempotent producer may be left in a state it cannot leave
    /// by itself (timed-out sequences, a fenced or forgotten producer id after a broker
    /// restart); a new producer starts from a fresh producer id. Rows are re-sent from the
    /// outbox either way, so nothing is lost.
    fn renew_producer(&mut self) {
        match crate::kafka::producer(&self.kafka) {
            Ok(producer) => self.producer = producer,
            Err(error) => tracing::warn!(%error, "producer could not be recreated"),
        }
    }

    /// Publishes until `shutdown`; the batch in flight is finished first.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut last_housekeeping = Instant::now() - Duration::from_secs(3600);
        // `None` when idle; otherwise the delay before the next eager poll.
        let mut eager: Option<Duration> = Some(EAGER_FIRST);
        let mut seen = ENQUEUED.load(Ordering::Acquire);
        while !shutdown.is_cancelled() {
            let outcome = self.publish_batch().await;
            if last_housekeeping.elapsed() > Duration::from_secs(5) {
                self.housekeeping().await;
                last_housekeeping = Instant::now();
            }
            let wait = match outcome {
                Ok(published) if published as i64 >= self.config.batch_size => {
                    backoff = Duration::from_millis(100);
                    continue;
                }
                Ok(published) => {
                    backoff = Duration::from_millis(100);
                    eager = match eager {
                        _ if published > 0 => Some(EAGER_FIRST),
                        Some(delay) if delay < EAGER_LAST => Some(delay * 2),
                        _ => None,
                    };
                    eager.unwrap_or(Duration::from_millis(self.config.poll_interval_ms))
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed");
                    if matches!(error, RelayError::Delivery { .. }) {
                        self.renew_producer();
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    wait
                }
            };
            // Registered before the check, so that an enqueue in between is not missed.
            let woken = WAKE.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let now = ENQUEUED.load(Ordering::Acquire);
            if now != seen {
                seen = now;
                eager = Some(EAGER_FIRST);
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = woken => {
                    seen = ENQUEUED.load(Ordering::Acquire);
                    eager = Some(EAGER_FIRST);
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Publishes up to one batch; returns how many rows were published.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let leader = sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_xact_lock($1) AS "leader!""#,
            RELAY_LOCK
        )
        .fetch_one(&mut *tx)
        .await?;
        if !leader {
            return Ok(0);
        }
        let rows = sqlx::query!(
            "SELECT id, topic, message_key, payload, headers FROM outbox \
             WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self.config.batch_size,
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let records: Vec<_> = rows
            .into_iter()
            .map(|row| {
                let headers: Vec<(String, String)> =
                    serde_json::from_value(row.headers).unwrap_or_default();
                (row.id, row.topic, row.message_key, row.payload, headers)
            })
            .collect();
        // Enqueued in id order (join_all polls in order), delivered concurrently.
        let deliveries = records.iter().map(|(_, topic, key, payload, headers)| {
            let mut kafka_headers = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                kafka_headers = kafka_headers.insert(Header {
                    key: name,
                    value: Some(value.as_bytes()),
                });
            }
            let mut record = FutureRecord::<String, Vec<u8>>::to(topic)
                .key(key)
                .headers(kafka_headers);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            self.producer.send(record, Timeout::Never)
        });
        let results = futures::future::join_all(deliveries).await;
        let mut published = Vec::with_capacity(records.len());
        for ((id, topic, ..), result) in records.iter().zip(&results) {
            match result {
                Ok(_) => published.push(*id),
                Err((error, _)) => {
                    tracing::warn!(outbox_id = id, topic, %error, "event not delivered")
                }
            }
        }
        // Seconds from each row's transaction to the broker's acknowledgement.
        let delays = sqlx::query_scalar!(
            r#"UPDATE outbox SET published_at = now() WHERE id = ANY($1)
             RETURNING extract(epoch FROM clock_timestamp() - created_at)::float8 AS "delay!""#,
            &published,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let histogram = metrics::histogram!("outbox_publish_delay_seconds");
        for delay in delays {
            histogram.record(delay);
        }
        metrics::counter!("outbox_events_published_total").increment(published.len() as u64);
        let failed = records.len() - published.len();
        if failed > 0 {
            return Err(RelayError::Delivery {
                failed,
                attempted: records.len(),
            });
        }
        Ok(published.len())
    }

    /// Backlog metrics and deletion of rows published longer ago than the retention.
    async fn housekeeping(&self) {
        let backlog = sqlx::query!(
            r#"SELECT count(*) AS "backlog!",
             COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS "age!"
             FROM outbox WHERE published_at IS NULL"#,
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok(row) = backlog {
            let (count, age) = (row.backlog, row.age);
            let database = crate::db::database_label(&self.pool);
            metrics::gauge!("outbox_backlog_events", "database" => database.clone())
                .set(count as f64);
            metrics::gauge!("outbox_oldest_unpublished_age_seconds", "database" => database)
                .set(age);
        }
        let retention = f64::from(self.config.retention_hours) * 3600.0;
        let _ = sqlx::query!(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
            retention,
        )
        .execute(&self.pool)
        .await;
        crate::db::record_pool_metrics(&self.pool);
    }
}
