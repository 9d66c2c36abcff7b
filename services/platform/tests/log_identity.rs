//! The identity check of stored offsets (`kafka::log_identity`) against real brokers: the
//! positions of one log hold on that log, and not on a new, empty broker at the same address
//! whose log is shorter, nor on one whose log is longer but holds other records, nor on a
//! broker of another cluster. The check at start ([`verify`]) and the running consumer's
//! ([`Watch`]) alike.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use spontan_platform::config::KafkaConfig;
use spontan_platform::events::envelope;
use spontan_platform::kafka::log_identity::{
    Applied, Mismatch, RecordIdentity, StoredPosition, Watch, verify,
};
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::IncidentOpened;
use spontan_proto::v1::event_envelope::Payload;

const LABEL: &str = "spontan-test-log-identity";

/// Publishes `n` records with random keys; returns the last (offset, identity) per partition.
async fn publish(
    kafka: &KafkaConfig,
    topic: &str,
    n: usize,
) -> HashMap<i32, (i64, RecordIdentity)> {
    let producer = spontan_platform::kafka::producer(kafka).expect("producer");
    let mut last = HashMap::new();
    for _ in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let event = envelope(
            id.clone(),
            1,
            Payload::IncidentOpened(IncidentOpened {
                incident_id: id.clone(),
                ..Default::default()
            }),
        );
        let bytes = prost::Message::encode_to_vec(&event);
        let delivery = producer
            .send(
                FutureRecord::to(topic).key(&id).payload(&bytes),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("published");
        let identity = RecordIdentity::new(format!("id:{}", event.event_id));
        last.insert(delivery.partition, (delivery.offset, identity));
    }
    last
}

fn positions(
    last: &HashMap<i32, (i64, RecordIdentity)>,
    cluster_id: Option<&str>,
) -> Vec<StoredPosition> {
    last.iter()
        .map(|(partition, (offset, identity))| StoredPosition {
            partition: *partition,
            next_offset: offset + 1,
            cluster_id: cluster_id.map(str::to_owned),
            last_record: Some(identity.clone()),
        })
        .collect()
}

/// Replaces the broker with an empty one reporting `cluster_id`, with the topic created again.
async fn replace(
    broker: &mut TestBroker,
    kafka: &KafkaConfig,
    topic: &str,
    cluster_id: Option<&str>,
) {
    broker
        .replace_with_empty(cluster_id)
        .await
        .expect("replaced");
    spontan_platform::kafka::ensure_topics(kafka, &[topic])
        .await
        .expect("topic");
}

fn check(watch: Watch, topic: &str, applied: HashMap<i32, Applied>) -> (Watch, Vec<Mismatch>) {
    let mut watch = watch;
    let findings = watch.check(topic, &applied).expect("checked");
    (watch, findings.into_iter().map(|f| f.mismatch).collect())
}

async fn check_blocking(
    watch: Watch,
    topic: &str,
    applied: HashMap<i32, Applied>,
) -> (Watch, Vec<Mismatch>) {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || check(watch, &topic, applied))
        .await
        .expect("check")
}

#[tokio::test]
async fn stored_positions_hold_only_on_the_log_they_came_from() {
    testkit::init_logging();
    let mut broker = TestBroker::start_owned().await.expect("broker");
    let config = testkit::platform_config("platform", "postgres://unused/unused", broker.brokers());
    let kafka = config.kafka;
    let topic = kafka.topics.volunteer.clone();
    spontan_platform::kafka::ensure_topics(&kafka, &[&topic])
        .await
        .expect("topic");
    let first = publish(&kafka, &topic, 12).await;
    assert!(!first.is_empty());

    // The same log: every position holds, with its record as the first checkpoint.
    let same = verify(&kafka, LABEL, &topic, positions(&first, None))
        .await
        .expect("verified");
    println!("cluster id reported by the broker: {:?}", same.cluster_id);
    assert!(same.findings.is_empty(), "{:?}", same.findings);
    let expected: HashMap<i32, i64> = first.iter().map(|(p, (o, _))| (*p, o + 1)).collect();
    assert_eq!(same.offsets, expected);
    assert_eq!(same.checkpoints, first);
    let watch = Watch::new(&kafka, LABEL, &same);
    let (watch, found) = check_blocking(watch, &topic, HashMap::new()).await;
    assert!(found.is_empty(), "the same log: {found:?}");

    // A new, empty broker at the same address, then a shorter log.
    replace(&mut broker, &kafka, &topic, None).await;
    let (watch, found) = check_blocking(watch, &topic, HashMap::new()).await;
    assert!(
        !found.is_empty() && found.iter().all(|m| *m == Mismatch::LogEnd),
        "an empty log ends before every position: {found:?}"
    );
    let shorter = verify(&kafka, LABEL, &topic, positions(&first, None))
        .await
        .expect("verified");
    assert!(
        shorter.offsets.is_empty(),
        "nothing resumes: {:?}",
        shorter.offsets
    );
    assert_eq!(shorter.findings.len(), first.len());
    assert!(shorter.findings.iter().all(|f| f.mismatch.is_foreign()));

    // The new log grows past every position with other records.
    publish(&kafka, &topic, 60).await;
    let longer = verify(&kafka, LABEL, &topic, positions(&first, None))
        .await
        .expect("verified");
    assert!(
        longer.offsets.is_empty(),
        "nothing resumes: {:?}",
        longer.offsets
    );
    assert!(
        longer
            .findings
            .iter()
            .all(|f| matches!(f.mismatch, Mismatch::Record { .. }) && f.high >= f.offset),
        "{:?}",
        longer.findings
    );
    // A running consumer that read on in the new log (its last records are the new log's)
    // still sees it by its checkpoints in the old one.
    let applied: HashMap<i32, Applied> = first
        .iter()
        .map(|(p, (o, id))| {
            let moved_on = (o + 5, RecordIdentity::new("id:read-in-the-new-log"));
            (
                *p,
                Applied {
                    first: (*o, id.clone()),
                    last: moved_on,
                },
            )
        })
        .collect();
    let (_, found) = check_blocking(watch, &topic, applied).await;
    assert!(
        !found.is_empty() && found.iter().all(|m| matches!(m, Mismatch::Record { .. })),
        "{found:?}"
    );

    // Another cluster: its id alone tells, whatever its log holds.
    let stored_cluster = "spontan-test-cluster-a";
    replace(&mut broker, &kafka, &topic, Some("spontan-test-cluster-b")).await;
    publish(&kafka, &topic, 60).await;
    let other = verify(
        &kafka,
        LABEL,
        &topic,
        positions(&first, Some(stored_cluster)),
    )
    .await
    .expect("verified");
    println!("cluster id of the other broker: {:?}", other.cluster_id);
    if other.cluster_id.is_some() {
        assert!(
            other
                .findings
                .iter()
                .all(|f| matches!(f.mismatch, Mismatch::Cluster { .. })),
            "{:?}",
            other.findings
        );
    }
    assert!(
        other.offsets.is_empty(),
        "nothing resumes: {:?}",
        other.offsets
    );
}
