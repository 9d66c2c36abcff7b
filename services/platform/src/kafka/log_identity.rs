//! Whether offsets a service stored still point into the log they were read from.
//!
//! An assigned consumer ([`super::EventConsumer::assign`]) resumes from offsets the service
//! keeps in its own database. An offset means something only in the log that issued it: once
//! the broker was rebuilt empty (a new cluster after a disaster recovery, a fresh local broker
//! over old databases) or the topic was recreated, offset 5,000 is a place in another log,
//! and resuming there skips every record before it with no error, and without lag to show it.
//! So each stored offset carries the identity of its log: the cluster id, and the identity of
//! the last record applied ([`RecordIdentity`]). Before assigning, [`verify`] compares them
//! with what the broker has now; a partition whose log is not the stored one is read from its
//! beginning (the read model must apply records idempotently). While the consumer runs,
//! [`Watch`] repeats the comparison every [`CHECK_INTERVAL`] against a checkpoint of its own,
//! because a broker can also be replaced under a running consumer.
//!
//! Evidence, strongest first: the cluster id (Apache Kafka gives every cluster its own; the
//! local broker, tansu, reports the same `tansu_cluster` for every instance, so there it
//! proves nothing), a log end before the stored offset, and the record before the stored
//! offset being another one. Topic ids (Kafka 2.8) would tell a recreated topic directly, but
//! rust-rdkafka does not expose them. Where the record before the stored offset no longer
//! exists (compacted away, or expired), nothing can be compared and the offset is kept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use spontan_proto::v1::EventEnvelope;

use super::{ConsumedEvent, client_config};
use crate::config::KafkaConfig;

/// How often a running assigned consumer checks its log ([`Watch`]). Only how soon records
/// skipped meanwhile are read depends on it (they are read again from the beginning of the
/// partition once the check fails), not whether they are; each check is a new connection
/// with a few requests per partition.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// The longest one broker request of a check may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a check waits for the records it compares.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What tells one record of a partition from any other: its event id (the envelope's, or
/// the `ce_id` header of a tombstone), or else its key and producer timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordIdentity(String);

impl RecordIdentity {
    /// An identity as stored before ([`Self::as_str`]).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity of a record the consumer handled.
    pub fn of_event(event: &ConsumedEvent) -> Self {
        let envelope_id = event.envelope.as_ref().map(|e| e.event_id.as_str());
        Self::from_parts(
            envelope_id,
            event.header("ce_id"),
            event.key.as_deref().map(str::as_bytes),
            event.timestamp_ms,
        )
    }

    fn of_message(message: &BorrowedMessage<'_>) -> Self {
        let envelope = message
            .payload()
            .and_then(|bytes| <EventEnvelope as prost::Message>::decode(bytes).ok());
        let ce_id = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == "ce_id")
                .and_then(|h| std::str::from_utf8(h.value?).ok())
        });
        Self::from_parts(
            envelope.as_ref().map(|e| e.event_id.as_str()),
            ce_id,
            message.key(),
            message.timestamp().to_millis(),
        )
    }

    fn from_parts(
        envelope_id: Option<&str>,
        ce_id: Option<&str>,
        key: Option<&[u8]>,
        timestamp_ms: Option<i64>,
    ) -> Self {
        match envelope_id.filter(|id| !id.is_empty()).or(ce_id) {
            Some(id) => Self(format!("id:{id}")),
            None => Self(format!(
                "key:{}@{}",
                String::from_utf8_lossy(key.unwrap_or_default()),
                timestamp_ms.unwrap_or(-1)
            )),
        }
    }
}

/// A partition's stored position, as the service kept it with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPosition {
    pub partition: i32,
    /// The offset of the next record to apply.
    pub next_offset: i64,
    /// The cluster the records came from (`None`: not known, stored before it was kept).
    pub cluster_id: Option<String>,
    /// The record at `next_offset - 1` (`None`: not known).
    pub last_record: Option<RecordIdentity>,
}

/// Why a stored position was not used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The broker belongs to another cluster than the one the offset came from.
    Cluster { stored: String, current: String },
    /// The log ends before the stored offset: it is not the log the offset came from.
    LogEnd,
    /// The record before the stored offset is another one.
    Record {
        stored: RecordIdentity,
        found: RecordIdentity,
    },
    /// The log is the same, but records between the stored offset and the low watermark were
    /// deleted (retention) before they were read: they are lost to this consumer.
    Expired,
}

impl Mismatch {
    /// The metric label: `cluster`, `log_end`, `record` or `expired`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Cluster { .. } => "cluster",
            Self::LogEnd => "log_end",
            Self::Record { .. } => "record",
            Self::Expired => "expired",
        }
    }

    /// The offset belongs to another log: the partition is read from its beginning.
    pub fn is_foreign(&self) -> bool {
        !matches!(self, Self::Expired)
    }
}

/// One partition whose stored position did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub topic: String,
    pub partition: i32,
    /// The next offset the consumer would have read.
    pub offset: i64,
    /// The partition's low and high watermarks on the broker now.
    pub low: i64,
    pub high: i64,
    pub mismatch: Mismatch,
}

/// Where an assigned consumer starts, after [`verify`].
#[derive(Debug, Clone, Default)]
pub struct CheckedStart {
    /// The cluster the broker reports now (`None` when it reports none).
    pub cluster_id: Option<String>,
    /// The next offset per partition; a partition absent here is read from its beginning.
    pub offsets: HashMap<i32, i64>,
    /// The record before each offset where it was compared and matched: the consumer's first
    /// checkpoint ([`Watch`]).
    pub checkpoints: HashMap<i32, (i64, RecordIdentity)>,
    /// Stored positions that did not hold; the foreign ones are absent from `offsets`.
    pub findings: Vec<Finding>,
}

/// Checks `stored` against the broker's log of `topic` and says where to start each
/// partition: at its stored offset where the log is the one it came from, at the beginning
/// where it is not, at the low watermark where the records after the offset have expired.
/// `label` is the consumer's group id (it joins no group; see `EventConsumer::assign`).
pub async fn verify(
    config: &KafkaConfig,
    label: &str,
    topic: &str,
    stored: Vec<StoredPosition>,
) -> Result<CheckedStart, KafkaError> {
    let probe_config = probe_config(config, label);
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let probe: BaseConsumer = probe_config.create()?;
        verify_blocking(&probe, &topic, &stored)
    })
    .await
    .map_err(|_| KafkaError::MetadataFetch(RDKafkaErrorCode::Fail))?
}

/// A consumer that only reads single records at offsets it is given.
pub(super) fn probe_config(config: &KafkaConfig, label: &str) -> ClientConfig {
    let mut probe = client_config(config);
    // Its own client id, to tell its requests from the consumer's in the broker's logs.
    probe
        .set("client.id", "spontan-log-check")
        .set("group.id", label)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait_max_ms.min(100).to_string(),
        );
    probe
}

fn verify_blocking(
    probe: &BaseConsumer,
    topic: &str,
    stored: &[StoredPosition],
) -> Result<CheckedStart, KafkaError> {
    let partitions = partition_ids(probe, topic)?;
    let cluster_id = cluster_id(probe);
    let mut start = CheckedStart {
        cluster_id: cluster_id.clone(),
        ..CheckedStart::default()
    };
    // (partition, offset of the record to compare, its stored identity, next offset, watermarks)
    let mut compare = Vec::new();
    for position in stored {
        let (partition, next) = (position.partition, position.next_offset);
        let (low, high) = if partitions.contains(&partition) {
            probe.fetch_watermarks(topic, partition, REQUEST_TIMEOUT)?
        } else {
            // Recreated with fewer partitions: this one is no log at all.
            (0, 0)
        };
        let finding = |mismatch| Finding {
            topic: topic.to_owned(),
            partition,
            offset: next,
            low,
            high,
            mismatch,
        };
        if let (Some(stored), Some(current)) = (&position.cluster_id, &cluster_id)
            && stored != current
        {
            start.findings.push(finding(Mismatch::Cluster {
                stored: stored.clone(),
                current: current.clone(),
            }));
        } else if high < next {
            start.findings.push(finding(Mismatch::LogEnd));
        } else if low > next {
            start.findings.push(finding(Mismatch::Expired));
            start.offsets.insert(partition, low);
        } else if let Some(identity) = position.last_record.clone().filter(|_| next > low) {
            compare.push((partition, next - 1, identity, next, (low, high)));
        } else {
            // Nothing to compare with: the record before the offset is gone, or its identity
            // was never stored. The watermarks above are all the evidence there is.
            start.offsets.insert(partition, next);
        }
    }
    let wanted: Vec<(i32, i64)> = compare.iter().map(|c| (c.0, c.1)).collect();
    let found = fetch_records(probe, topic, &wanted)?;
    for (partition, offset, stored, next, (low, high)) in compare {
        match found.get(&partition) {
            Some((at, identity)) if *at == offset && *identity != stored => {
                start.findings.push(Finding {
                    topic: topic.to_owned(),
                    partition,
                    offset: next,
                    low,
                    high,
                    mismatch: Mismatch::Record {
                        stored,
                        found: identity.clone(),
                    },
                });
            }
            Some((at, _)) if *at == offset => {
                start.offsets.insert(partition, next);
                start.checkpoints.insert(partition, (offset, stored));
            }
            // Compacted away since: the next record came instead, nothing to compare.
            _ => {
                start.offsets.insert(partition, next);
            }
        }
    }
    Ok(start)
}

/// The cluster id the broker reported in its latest metadata; `None` when it reports none.
fn cluster_id(probe: &BaseConsumer) -> Option<String> {
    probe
        .client()
        .fetch_cluster_id(REQUEST_TIMEOUT)
        .filter(|id| !id.is_empty())
}

/// The partition ids of `topic` (fresh metadata, which also refreshes the cluster id).
fn partition_ids(probe: &BaseConsumer, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let metadata = probe.fetch_metadata(Some(topic), REQUEST_TIMEOUT)?;
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

/// The first record at or after each `(partition, offset)`, with its offset: the record
/// itself, or the next one where it was compacted away. Every asked offset lies below the
/// partition's high watermark, so a record always comes; an error when it does not in time.
fn fetch_records(
    probe: &BaseConsumer,
    topic: &str,
    wanted: &[(i32, i64)],
) -> Result<HashMap<i32, (i64, RecordIdentity)>, KafkaError> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in wanted {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    probe.assign(&list)?;
    let deadline = Instant::now() + FETCH_TIMEOUT;
    let outcome = loop {
        if found.len() == wanted.len() {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        match probe.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                found
                    .entry(message.partition())
                    .or_insert_with(|| (message.offset(), RecordIdentity::of_message(&message)));
            }
            Some(Err(error)) => {
                tracing::debug!(topic, %error, "reading records to compare failed");
            }
            None => {}
        }
    };
    probe.unassign()?;
    outcome.map(|()| found)
}

/// The running consumer's half of the check: every [`CHECK_INTERVAL`], the cluster id,
/// the log end and a checkpoint record per partition. The checkpoint is a record applied
/// before the previous check that passed, so a log replaced since then shows even when the
/// consumer has already read on in the new log (the local broker answers a fetch beyond its
/// log end by waiting, not with `OFFSET_OUT_OF_RANGE`, so a consumer there sits at its old
/// offset until the new log reaches it and then reads on, past every record before it).
///
/// Each check reads through a consumer of its own, made for it: one kept between checks would
/// carry cached metadata of the old log (topic ids) across the replacement, where librdkafka
/// has known faults.
pub struct Watch {
    probe_config: ClientConfig,
    cluster_id: Option<String>,
    checkpoints: HashMap<i32, (i64, RecordIdentity)>,
}

impl Watch {
    /// A watch of the log that `start` was checked against ([`verify`], same `label`).
    pub fn new(config: &KafkaConfig, label: &str, start: &CheckedStart) -> Self {
        Self {
            probe_config: probe_config(config, label),
            cluster_id: start.cluster_id.clone(),
            checkpoints: start.checkpoints.clone(),
        }
    }

    /// One check (blocking: run it on the blocking pool). `applied` holds the first and the last record the consumer
    /// applied of each partition since it started; a partition without a checkpoint is
    /// checked at its first record. Returns the partitions whose log is no longer the one
    /// the consumer read; when there are none, the last records become the checkpoints.
    pub fn check(
        &mut self,
        topic: &str,
        applied: &HashMap<i32, Applied>,
    ) -> Result<Vec<Finding>, KafkaError> {
        let probe: BaseConsumer = self.probe_config.create()?;
        let probe = &probe;
        let partitions = partition_ids(probe, topic)?;
        let current = cluster_id(probe);
        let mut points: Vec<(i32, i64, RecordIdentity)> = Vec::new();
        for (partition, applied) in applied {
            let (offset, identity) = self
                .checkpoints
                .get(partition)
                .unwrap_or(&applied.first)
                .clone();
            points.push((*partition, offset, identity));
        }
        for (partition, (offset, identity)) in &self.checkpoints {
            if !applied.contains_key(partition) {
                points.push((*partition, *offset, identity.clone()));
            }
        }
        let mut findings = Vec::new();
        let mut compare = Vec::new();
        for (partition, offset, identity) in points {
            let (low, high) = if partitions.contains(&partition) {
                probe.fetch_watermarks(topic, partition, REQUEST_TIMEOUT)?
            } else {
                (0, 0)
            };
            let finding = |mismatch| Finding {
                topic: topic.to_owned(),
                partition,
                offset: offset + 1,
                low,
                high,
                mismatch,
            };
            if let (Some(before), Some(now)) = (&self.cluster_id, &current)
                && before != now
            {
                findings.push(finding(Mismatch::Cluster {
                    stored: before.clone(),
                    current: now.clone(),
                }));
            } else if high <= offset {
                findings.push(finding(Mismatch::LogEnd));
            } else if low <= offset {
                compare.push((partition, offset, identity, (low, high)));
            }
        }
        if findings.is_empty() {
            let wanted: Vec<(i32, i64)> = compare.iter().map(|c| (c.0, c.1)).collect();
            let found = fetch_records(probe, topic, &wanted)?;
            for (partition, offset, stored, (low, high)) in compare {
                if let Some((at, identity)) = found.get(&partition)
                    && *at == offset
                    && *identity != stored
                {
                    findings.push(Finding {
                        topic: topic.to_owned(),
                        partition,
                        offset: offset + 1,
                        low,
                        high,
                        mismatch: Mismatch::Record {
                            stored,
                            found: identity.clone(),
                        },
                    });
                }
            }
        }
        if findings.is_empty() {
            for (partition, applied) in applied {
                self.checkpoints.insert(*partition, applied.last.clone());
            }
            if self.cluster_id.is_none() {
                self.cluster_id = current;
            }
        }
        Ok(findings)
    }
}

/// The first and the last record (offset and identity) a consumer applied of one partition.
#[derive(Debug, Clone)]
pub struct Applied {
    pub first: (i64, RecordIdentity),
    pub last: (i64, RecordIdentity),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_identifies_a_record_before_its_key_and_time() {
        let by_envelope = RecordIdentity::from_parts(Some("e1"), Some("h1"), Some(b"k"), Some(5));
        assert_eq!(by_envelope.as_str(), "id:e1");
        let tombstone = RecordIdentity::from_parts(None, Some("h1"), Some(b"k"), Some(5));
        assert_eq!(tombstone.as_str(), "id:h1");
        let bare = RecordIdentity::from_parts(Some(""), None, Some(b"k"), Some(5));
        assert_eq!(bare.as_str(), "key:k@5");
        assert_eq!(
            RecordIdentity::from_parts(None, None, None, None).as_str(),
            "key:@-1"
        );
    }

    #[test]
    fn only_expired_records_keep_the_log() {
        assert!(!Mismatch::Expired.is_foreign());
        assert!(Mismatch::LogEnd.is_foreign());
        assert_eq!(Mismatch::LogEnd.reason(), "log_end");
    }
}
