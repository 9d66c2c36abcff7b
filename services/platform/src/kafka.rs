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
//! the offsets stored with the state.
//!
//! Every consumer reports its lag per assigned partition (`kafka_consumer_lag_records`) every
//! [`LAG_INTERVAL`]: the partition's high watermark minus the group's committed offset (an
//! assigned consumer: its own position), as
//! `kafka-consumer-groups.sh` and Kafka exporters count it, from the service's own point of
//! view, so that it needs no exporter next to the broker.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use spontan_proto::v1::EventEnvelope;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KafkaConfig;

/// Settings shared by every client of this service.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "spontan")
        .set("socket.keepalive.enable", "true");
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
/// `UnknownTopicOrPartition` for a moment right after creation.
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

/// Forwards rebalances and makes sure stored offsets are committed before partitions go.
pub struct RebalanceContext {
    events: mpsc::UnboundedSender<RebalanceEvent>,
}

impl ClientContext for RebalanceContext {}

fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            // Already on librdkafka's thread, so a synchronous commit blocks no async task.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(error) => tracing::warn!(%error, "commit before revocation failed"),
            }
            tracing::info!(partitions = ?partitions(list), "partitions revoked");
            let _ = self.events.send(RebalanceEvent::Revoked(partitions(list)));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(partitions = ?partitions(list), "partitions assigned");
                let _ = self.events.send(RebalanceEvent::Assigned(partitions(list)));
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A consumer that hands each record to an [`EventHandler`]: a consumer-group member
/// ([`EventConsumer::subscribe`]) or a reader of every partition of a topic from offsets the
/// service keeps itself ([`EventConsumer::assign`]).
pub struct EventConsumer {
    name: &'static str,
    group: String,
    consumer: Arc<StreamConsumer<RebalanceContext>>,
    /// For an assigned consumer: the next offset of each partition, after what the handler
    /// applied (nothing is committed to the broker; the service stores its own offsets).
    positions: Option<Arc<Positions>>,
}

/// The topic and next offset per partition of an assigned consumer.
struct Positions {
    topic: String,
    next: Mutex<HashMap<i32, i64>>,
}

/// How often each consumer reports its lag.
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// The longest one broker request of the lag report may take.
const LAG_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

impl EventConsumer {
    /// Joins `group_id` and subscribes to `topics`. `name` labels logs and metrics. Returns the
    /// consumer and the channel on which rebalances arrive (drop it if not needed).
    pub fn subscribe(
        config: &KafkaConfig,
        name: &'static str,
        group_id: &str,
        topics: &[&str],
    ) -> Result<(Self, mpsc::UnboundedReceiver<RebalanceEvent>), KafkaError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let consumer: StreamConsumer<RebalanceContext> = client_config(config)
            .set("group.id", group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", config.fetch_wait_max_ms.to_string())
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .create_with_context(RebalanceContext { events: tx })?;
        consumer.subscribe(topics)?;
        Ok((
            Self {
                name,
                group: group_id.to_owned(),
                consumer: Arc::new(consumer),
                positions: None,
            },
            rx,
        ))
    }

    /// Reads every partition of `topic`, each from the offset in `start` (the next record to
    /// apply) or from the beginning when `start` has none, without joining a group: for a
    /// read model that stores its offsets in the same transaction as its state, so that a
    /// restart resumes where that state ends instead of replaying the topic. Nothing is
    /// committed to the broker; `label` names the consumer in the lag metrics. Partitions added
    /// to the topic later are picked up from their beginning.
    pub async fn assign(
        config: &KafkaConfig,
        name: &'static str,
        label: &str,
        topic: &str,
        start: &HashMap<i32, i64>,
    ) -> Result<Self, KafkaError> {
        let (tx, _) = mpsc::unbounded_channel();
        // librdkafka needs a group id for a consumer queue; with `assign` it joins no group,
        // and with auto-commit off it never commits to one.
        let consumer: StreamConsumer<RebalanceContext> = client_config(config)
            .set("group.id", label)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", config.fetch_wait_max_ms.to_string())
            .create_with_context(RebalanceContext { events: tx })?;
        let consumer = Arc::new(consumer);
        let partitions = {
            let (consumer, topic) = (Arc::clone(&consumer), topic.to_owned());
            tokio::task::spawn_blocking(move || partition_ids(&consumer, &topic))
                .await
                .map_err(|_| KafkaError::MetadataFetch(RDKafkaErrorCode::Fail))??
        };
        let mut list = TopicPartitionList::new();
        for &partition in &partitions {
            let offset = start
                .get(&partition)
                .map_or(Offset::Beginning, |&o| Offset::Offset(o));
            list.add_partition_offset(topic, partition, offset)?;
        }
        consumer.assign(&list)?;
        tracing::info!(
            consumer = name,
            topic,
            ?start,
            "partitions assigned from stored offsets"
        );
        Ok(Self {
            name,
            group: label.to_owned(),
            consumer,
            positions: Some(Arc::new(Positions {
                topic: topic.to_owned(),
                next: Mutex::new(
                    partitions
                        .iter()
                        .filter_map(|p| start.get(p).map(|&o| (*p, o)))
                        .collect(),
                ),
            })),
        })
    }

    /// Reads until `shutdown` is cancelled, then commits what was stored and leaves the group.
    pub async fn run<H: EventHandler>(self, handler: H, shutdown: CancellationToken) {
        self.run_batches(OneByOne(handler), 1, shutdown).await;
    }

    /// [`Self::run`] for a handler that applies records in batches: whatever has arrived, up to
    /// `max_batch` records, goes to [`BatchHandler::handle_batch`] at once (a batch never
    /// waits for records to arrive; under light load it holds one).
    pub async fn run_batches<H: BatchHandler>(
        self,
        handler: H,
        max_batch: usize,
        shutdown: CancellationToken,
    ) {
        let stop_lag = shutdown.child_token();
        let lag = tokio::spawn(report_lag(
            self.name,
            self.group.clone(),
            Arc::clone(&self.consumer),
            self.positions.clone(),
            stop_lag.clone(),
        ));
        let max_batch = max_batch.max(1);
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                message = self.consumer.recv() => message,
            };
            let mut messages = match first {
                Ok(message) => vec![message],
                Err(error) => {
                    tracing::warn!(consumer = self.name, %error, "kafka receive failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    continue;
                }
            };
            while messages.len() < max_batch {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(message)) => messages.push(message),
                    // An error is met again (and logged) by the next `recv` above.
                    Some(Err(_)) | None => break,
                }
            }
            metrics::histogram!("kafka_consume_batch_size", "consumer" => self.name)
                .record(messages.len() as f64);
            if !self.process(&handler, &messages, &shutdown).await {
                break;
            }
        }
        // The reporter holds the consumer: it must let go before the consumer can close.
        stop_lag.cancel();
        let _ = lag.await;
        let consumer = self.consumer;
        let name = self.name;
        if self.positions.is_none() {
            let committing = Arc::clone(&consumer);
            let _ = tokio::task::spawn_blocking(move || {
                match committing.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(error) => tracing::warn!(consumer = name, %error, "final commit failed"),
                }
                committing.unsubscribe();
            })
            .await;
            leave_group(name, &consumer).await;
        } else if let Err(error) = consumer.unassign() {
            tracing::debug!(consumer = name, %error, "unassign failed");
        }
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        tracing::info!(consumer = name, "consumer stopped");
    }

    /// Applies one batch, retrying all of it until it is applied or shutdown begins. Returns
    /// `false` when shutdown interrupted it (the offsets are then not stored: it is
    /// redelivered).
    async fn process<H: BatchHandler>(
        &self,
        handler: &H,
        messages: &[BorrowedMessage<'_>],
        shutdown: &CancellationToken,
    ) -> bool {
        // How long each record took from the producer to this consumer: the producer's
        // linger, the broker's append, the fetch wait and any lag.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let delay = metrics::histogram!("kafka_consume_delay_seconds", "consumer" => self.name);
        for message in messages {
            if let Some(produced_ms) = message.timestamp().to_millis() {
                delay.record((now_ms - produced_ms).max(0) as f64 / 1000.0);
            }
        }
        let started = std::time::Instant::now();
        let events: Vec<ConsumedEvent> = messages.iter().map(|m| self.decode(m)).collect();
        let mut backoff = Duration::from_millis(100);
        loop {
            match handler.handle_batch(&events).await {
                Ok(()) => break,
                Err(error) => {
                    metrics::counter!("kafka_consume_retries_total", "consumer" => self.name)
                        .increment(1);
                    tracing::warn!(parent: &events[0].span, records = events.len(), error = format!("{error:#}"), "event not applied, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        for (message, event) in messages.iter().zip(&events) {
            match &self.positions {
                Some(positions) => {
                    positions
                        .next
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(event.partition, event.offset + 1);
                }
                None => {
                    if let Err(error) = self.consumer.store_offset_from_message(message) {
                        tracing::warn!(consumer = self.name, %error, "offset could not be stored");
                    }
                }
            }
        }
        // Each record's handling took as long as its batch.
        let handled = started.elapsed().as_secs_f64();
        let duration =
            metrics::histogram!("kafka_handle_duration_seconds", "consumer" => self.name);
        for event in &events {
            duration.record(handled);
            metrics::counter!("kafka_events_consumed_total", "consumer" => self.name, "topic" => event.topic.clone())
                .increment(1);
        }
        true
    }

    /// Decodes a record and opens its `consume` span, continuing the producer's trace.
    fn decode(&self, message: &BorrowedMessage<'_>) -> ConsumedEvent {
        let mut event = decode(message);
        let span = tracing::info_span!(
            "consume",
            otel.kind = "consumer",
            consumer = self.name,
            topic = event.topic.as_str(),
            partition = event.partition,
            offset = event.offset,
            event_type = tracing::field::Empty,
        );
        crate::telemetry::set_parent_from(
            &span,
            event.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if let Some(envelope) = &event.envelope {
            span.record("event_type", envelope.event_type.as_str());
        }
        event.span = span;
        event
    }
}

/// The longest a stopping consumer keeps polling for its revocation to finish.
const LEAVE_WAIT: Duration = Duration::from_secs(5);

/// Keeps polling an unsubscribed consumer until its partitions are revoked (or
/// [`LEAVE_WAIT`] has passed): librdkafka aborts the process when a consumer is destroyed while
/// an assignment change is still under way (`rd_kafka_cgrp_terminated: assert:
/// !rd_kafka_assignment_in_progress`), as happens to a consumer stopped just after it joined
/// or just after the broker came back. Records that still arrive are not stored: they are
/// redelivered to the group.
async fn leave_group(name: &'static str, consumer: &StreamConsumer<RebalanceContext>) {
    let deadline = tokio::time::Instant::now() + LEAVE_WAIT;
    let mut settled = 0;
    while tokio::time::Instant::now() < deadline && settled < 2 {
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
        let assigned = consumer.assignment().map_or(0, |list| list.count());
        settled = if assigned == 0 { settled + 1 } else { 0 };
    }
    if settled < 2 {
        tracing::warn!(
            consumer = name,
            "partitions still assigned when the consumer closed"
        );
    }
}

/// Runs an [`EventHandler`] as a [`BatchHandler`] of batches of one, in the record's span.
struct OneByOne<H>(H);

#[async_trait]
impl<H: EventHandler> BatchHandler for OneByOne<H> {
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> anyhow::Result<()> {
        for event in events {
            self.0.handle(event).instrument(event.span.clone()).await?;
        }
        Ok(())
    }
}

/// Reports the lag of `consumer`'s partitions every [`LAG_INTERVAL`] until `stop`. The broker
/// requests block, so each report runs on the blocking pool.
async fn report_lag(
    name: &'static str,
    group: String,
    consumer: Arc<StreamConsumer<RebalanceContext>>,
    positions: Option<Arc<Positions>>,
    stop: CancellationToken,
) {
    let mut reported = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LAG_INTERVAL) => {}
        }
        let (consumer, group, stop) = (Arc::clone(&consumer), group.clone(), stop.clone());
        let positions = positions.clone();
        let mut partitions = std::mem::take(&mut reported);
        let report = tokio::task::spawn_blocking(move || {
            let outcome = match &positions {
                Some(positions) => assign_new_partitions(&consumer, positions)
                    .and_then(|()| positions_as_list(&consumer, positions))
                    .and_then(|list| {
                        lag_once(name, &group, &consumer, &list, &stop, &mut partitions)
                    }),
                None => consumer.committed(LAG_REQUEST_TIMEOUT).and_then(|list| {
                    lag_once(name, &group, &consumer, &list, &stop, &mut partitions)
                }),
            };
            (partitions, outcome)
        })
        .await;
        match report {
            Ok((partitions, outcome)) => {
                reported = partitions;
                if let Err(error) = outcome {
                    tracing::debug!(consumer = name, %error, "consumer lag not known");
                }
            }
            Err(_) => return,
        }
    }
}

/// The partition ids of `topic`, from the broker's metadata; an error while it has none.
fn partition_ids(
    consumer: &StreamConsumer<RebalanceContext>,
    topic: &str,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), LAG_REQUEST_TIMEOUT)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(ids)
}

/// Adds the partitions of an assigned consumer's topic that appeared since it started, from
/// their beginning (Kafka can add partitions to a topic, never remove them).
fn assign_new_partitions(
    consumer: &StreamConsumer<RebalanceContext>,
    positions: &Positions,
) -> Result<(), KafkaError> {
    let assigned: HashSet<i32> = partitions(&consumer.assignment()?)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut added = TopicPartitionList::new();
    for partition in partition_ids(consumer, &positions.topic)? {
        if !assigned.contains(&partition) {
            added.add_partition_offset(&positions.topic, partition, Offset::Beginning)?;
        }
    }
    if added.count() > 0 {
        consumer.incremental_assign(&added)?;
        tracing::info!(partitions = ?partitions(&added), "new partitions assigned from the beginning");
    }
    Ok(())
}

/// An assigned consumer's partitions with the next offset it will apply (none for one it has
/// applied nothing of yet, which [`lag_once`] counts from the low watermark).
fn positions_as_list(
    consumer: &StreamConsumer<RebalanceContext>,
    positions: &Positions,
) -> Result<TopicPartitionList, KafkaError> {
    let next = positions
        .next
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions(&consumer.assignment()?) {
        let offset = next
            .get(&partition)
            .map_or(Offset::Invalid, |&o| Offset::Offset(o));
        list.add_partition_offset(&topic, partition, offset)?;
    }
    Ok(list)
}

/// One lag report: for each partition in `applied`, its high watermark minus the offset there
/// (the group's committed offset, or an assigned consumer's own position), or minus the low
/// watermark when there is none yet, as `auto.offset.reset` is `earliest`. Partitions in
/// `reported` but no longer in `applied` are set to 0: their new owner reports them, so a sum
/// over the group's members stays right. `reported` becomes the partitions reported now; it is
/// left alone when the assignment could not be read.
fn lag_once(
    name: &'static str,
    group: &str,
    consumer: &StreamConsumer<RebalanceContext>,
    applied: &TopicPartitionList,
    stop: &CancellationToken,
    reported: &mut HashSet<(String, i32)>,
) -> Result<(), KafkaError> {
    let gauge = |topic: &str, partition: i32| {
        metrics::gauge!(
            "kafka_consumer_lag_records",
            "consumer" => name,
            "group" => group.to_owned(),
            "topic" => topic.to_owned(),
            "partition" => partition.to_string(),
        )
    };
    let mut now = HashSet::new();
    for element in applied.elements() {
        if stop.is_cancelled() {
            return Ok(());
        }
        let (topic, partition) = (element.topic(), element.partition());
        match consumer.fetch_watermarks(topic, partition, LAG_REQUEST_TIMEOUT) {
            Ok((low, high)) => {
                let from = match element.offset() {
                    Offset::Offset(committed) => committed.max(low),
                    _ => low,
                };
                gauge(topic, partition).set((high - from).max(0) as f64);
            }
            Err(error) => {
                tracing::debug!(consumer = name, topic, partition, %error, "watermarks not known");
            }
        }
        now.insert((topic.to_owned(), partition));
    }
    for (topic, partition) in reported.difference(&now) {
        gauge(topic, *partition).set(0.0);
    }
    // A member without partitions reports no lag at all, so lag alone cannot show a group
    // that stopped consuming (a session lost to an overloaded broker, never rejoined): this
    // gauge can (alert SpontanConsumerNotAssigned).
    metrics::gauge!(
        "kafka_consumer_assigned_partitions",
        "consumer" => name,
        "group" => group.to_owned(),
    )
    .set(now.len() as f64);
    *reported = now;
    Ok(())
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
