//! The consumer: a group member ([`EventConsumer::subscribe`]) or a reader of every partition
//! from offsets the service keeps ([`EventConsumer::assign`]), its loop, its rebalances and
//! how it leaves.
//!
//! A group member needs no check of its log: after a broker rebuild (or a recreated topic)
//! the new coordinator has no committed offsets for the group, so `auto.offset.reset =
//! earliest` starts it at the beginning of what the broker has, and the handlers' dedupe
//! (processed events, aggregate versions) makes the replay harmless. An assigned consumer
//! starts from the service's own offsets, which [`super::log_identity`] checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt as _;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KafkaConfig;

use super::lag::{partition_ids, report_lag};
use super::log_identity::{Applied, CheckedStart, Finding, RecordIdentity, Watch};
use super::{BatchHandler, ConsumedEvent, EventHandler, RebalanceEvent, client_config, decode};

/// Forwards rebalances and makes sure stored offsets are committed before partitions go.
pub struct RebalanceContext {
    events: mpsc::UnboundedSender<RebalanceEvent>,
}

impl ClientContext for RebalanceContext {}

pub(super) fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
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

/// The topic and next offset per partition of an assigned consumer, and what checks that its
/// log is still the one it started in.
pub(super) struct Positions {
    pub(super) topic: String,
    pub(super) next: Mutex<HashMap<i32, i64>>,
    /// The first and last record applied of each partition since the start.
    pub(super) applied: Mutex<HashMap<i32, Applied>>,
    /// Run by the lag reporter (it is on the blocking pool already).
    pub(super) watch: Mutex<Watch>,
    /// Cancelled when [`Self::watch`] found a partition's log replaced; the findings are in
    /// [`Self::replaced_by`].
    pub(super) replaced: CancellationToken,
    pub(super) replaced_by: Mutex<Vec<Finding>>,
}

/// Why [`EventConsumer::run_batches`] returned.
#[derive(Debug)]
pub enum Ended {
    /// Shutdown began.
    Shutdown,
    /// An assigned consumer found that the log of these partitions is no longer the one it
    /// was reading (the broker was rebuilt, the topic recreated). It stopped after the batch
    /// in hand; the service must not resume these partitions from the offsets it stored
    /// meanwhile, but read them from the beginning.
    LogReplaced(Vec<Finding>),
}

/// A lock that a panic elsewhere does not poison for good.
pub(super) fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

    /// Reads every partition of `topic`, each from the offset in `start.offsets` (the next
    /// record to apply) or from the beginning when it has none, without joining a group: for a
    /// read model that stores its offsets in the same transaction as its state, so that a
    /// restart resumes where that state ends instead of replaying the topic. `start` comes from
    /// [`super::log_identity::verify`] with the same `label`: the stored offsets checked against
    /// the broker's log. While it runs, the consumer checks every
    /// [`super::log_identity::CHECK_INTERVAL`] that the log is still that one, and ends with
    /// [`Ended::LogReplaced`] when it is not. Nothing
    /// is committed to the broker; `label` names the consumer in the lag metrics. Partitions
    /// added to the topic later are picked up from their beginning.
    pub async fn assign(
        config: &KafkaConfig,
        name: &'static str,
        label: &str,
        topic: &str,
        checked: &CheckedStart,
    ) -> Result<Self, KafkaError> {
        let start = &checked.offsets;
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
                applied: Mutex::default(),
                watch: Mutex::new(Watch::new(config, label, checked)),
                replaced: CancellationToken::new(),
                replaced_by: Mutex::default(),
            })),
        })
    }

    /// Reads until `shutdown` is cancelled, then commits what was stored and leaves the group.
    pub async fn run<H: EventHandler>(self, handler: H, shutdown: CancellationToken) {
        let _ = self.run_batches(OneByOne(handler), 1, shutdown).await;
    }

    /// [`Self::run`] for a handler that applies records in batches: whatever has arrived, up to
    /// `max_batch` records, goes to [`BatchHandler::handle_batch`] at once (a batch never
    /// waits for records to arrive; under light load it holds one). An assigned consumer also
    /// returns when its log was replaced ([`Ended::LogReplaced`]).
    pub async fn run_batches<H: BatchHandler>(
        self,
        handler: H,
        max_batch: usize,
        shutdown: CancellationToken,
    ) -> Ended {
        let replaced = self
            .positions
            .as_ref()
            .map_or_else(CancellationToken::new, |p| p.replaced.clone());
        let mut ended = Ended::Shutdown;
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
                _ = replaced.cancelled() => {
                    let findings = self
                        .positions
                        .as_ref()
                        .map(|p| std::mem::take(&mut *locked(&p.replaced_by)));
                    ended = Ended::LogReplaced(findings.unwrap_or_default());
                    break;
                }
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
        ended
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
                    locked(&positions.next).insert(event.partition, event.offset + 1);
                    let record = (event.offset, RecordIdentity::of_event(event));
                    locked(&positions.applied)
                        .entry(event.partition)
                        .and_modify(|a| a.last = record.clone())
                        .or_insert_with(|| Applied {
                            first: record.clone(),
                            last: record,
                        });
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
const LEAVE_WAIT: Duration = Duration::from_secs(10);
/// Polls of 100 ms with nothing assigned before a stopping consumer counts as settled: the
/// fetchers of the partitions it gave up stop only after their last fetch returned, and
/// until then librdkafka still counts the assignment as changing.
const SETTLED_POLLS: u32 = 10;

/// Keeps polling an unsubscribed consumer until its partitions are revoked and it has had
/// nothing assigned for a second (or [`LEAVE_WAIT`] has passed): librdkafka aborts the process when a consumer is destroyed while
/// an assignment change is still under way (`rd_kafka_cgrp_terminated: assert:
/// !rd_kafka_assignment_in_progress`), as happens to a consumer stopped just after it joined
/// or just after the broker came back. Records that still arrive are not stored: they are
/// redelivered to the group.
async fn leave_group(name: &'static str, consumer: &StreamConsumer<RebalanceContext>) {
    let deadline = tokio::time::Instant::now() + LEAVE_WAIT;
    let mut settled = 0;
    while tokio::time::Instant::now() < deadline && settled < SETTLED_POLLS {
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
        let assigned = consumer.assignment().map_or(0, |list| list.count());
        settled = if assigned == 0 { settled + 1 } else { 0 };
    }
    if settled < SETTLED_POLLS {
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
