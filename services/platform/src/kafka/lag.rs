//! Consumer lag per partition (`kafka_consumer_lag_records`) and the assigned partitions
//! (`kafka_consumer_assigned_partitions`), reported every [`LAG_INTERVAL`]; for an assigned
//! consumer, the check that its log is still the one it started in
//! ([`super::log_identity`]) runs first, every [`CHECK_INTERVAL`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::consumer::{Positions, RebalanceContext, locked, partitions};
use super::log_identity::CHECK_INTERVAL;

/// How often each consumer reports its lag.
pub const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// The longest one broker request of the lag report may take.
const LAG_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Reports the lag of `consumer`'s partitions every [`LAG_INTERVAL`] until `stop`. The broker
/// requests block, so each report runs on the blocking pool.
pub(super) async fn report_lag(
    name: &'static str,
    group: String,
    consumer: Arc<StreamConsumer<RebalanceContext>>,
    positions: Option<Arc<Positions>>,
    stop: CancellationToken,
) {
    let mut reported = HashSet::new();
    let check_every = (CHECK_INTERVAL.as_secs() / LAG_INTERVAL.as_secs()).max(1);
    for round in 0u64.. {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LAG_INTERVAL) => {}
        }
        let check = round % check_every == 0;
        let (consumer, group, stop) = (Arc::clone(&consumer), group.clone(), stop.clone());
        let positions = positions.clone();
        let mut partitions = std::mem::take(&mut reported);
        let report = tokio::task::spawn_blocking(move || {
            let outcome = match &positions {
                Some(positions) => {
                    if check && let Err(error) = check_log(name, positions) {
                        tracing::debug!(consumer = name, %error, "the log could not be checked");
                    }
                    assign_new_partitions(&consumer, positions)
                        .and_then(|()| positions_as_list(&consumer, positions))
                        .and_then(|list| {
                            lag_once(name, &group, &consumer, &list, &stop, &mut partitions)
                        })
                }
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

/// Checks that an assigned consumer's log is still the one it started in; when it is not,
/// ends the consumer's loop ([`super::Ended::LogReplaced`]).
fn check_log(name: &'static str, positions: &Positions) -> Result<(), KafkaError> {
    if positions.replaced.is_cancelled() {
        return Ok(());
    }
    let applied = locked(&positions.applied).clone();
    let findings = locked(&positions.watch).check(&positions.topic, &applied)?;
    if !findings.is_empty() {
        tracing::warn!(consumer = name, topic = positions.topic, partitions = ?findings.iter().map(|f| f.partition).collect::<Vec<_>>(), "the log of the partitions was replaced under the consumer");
        *locked(&positions.replaced_by) = findings;
        positions.replaced.cancel();
    }
    Ok(())
}

/// The partition ids of `topic`, from the broker's metadata; an error while it has none.
pub(super) fn partition_ids(
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
