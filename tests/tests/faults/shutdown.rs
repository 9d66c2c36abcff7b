//! A shutdown under load, and a restart on the same databases, topics and groups.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use spontan_e2e::{Service, Suite, authed, channel, eventually};
use spontan_platform::auth::Role;
use spontan_platform::testkit::{TestBroker, read_events, receive_until_quiet};
use spontan_proto::v1::task_service_client::TaskServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use uuid::Uuid;

use super::{
    ORG, WAIT, count, open_incident, outbox_drained, outbox_event_ids, register_retrying,
    registration, registration_client, serving, start, task_request,
};

/// Per partition of `topic`, the committed offset of `group`.
fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            (e.partition(), offset)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shutdown_under_load_keeps_every_acknowledged_registration_and_its_offsets() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let mut suite = start(broker).await;
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let task_db = suite.database(Service::Task).await.expect("task db");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-1", Some(ORG));
    let mut tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("channel"));
    let incident = open_incident(&tasks, &coordinator).await;
    for n in 0..8 {
        tasks
            .create_task(authed(
                task_request(&incident, n, Uuid::new_v4().to_string()),
                &coordinator,
            ))
            .await
            .expect("task created");
    }

    // Six clients register without pause; the services are told to shut down mid-load.
    let client = registration_client(&suite).await;
    let stopping = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let mut client = client.clone();
            let stopping = stopping.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stopping.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed) as u32;
                    let request = registration(n);
                    let result = client.register(request.clone()).await;
                    let failed = result.is_err();
                    outcomes.push((request, result.map(|r| r.into_inner().volunteer_id)));
                    if failed {
                        break;
                    }
                }
                outcomes
            })
        })
        .collect();
    // Shut down once matches flow too (the staffing consumer has applied some), under load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    eventually(WAIT, "match events applied under load", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            >= 5)
            .then_some(())
    })
    .await;
    suite.stop_services().await.expect("services drained");
    stopping.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("worker"));
    }

    // Every acknowledged registration is stored; errors only say "come back later".
    let acknowledged: HashSet<String> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let failed: Vec<&tonic::Status> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    let stored_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM volunteers")
        .fetch_all(&registrations)
        .await
        .expect("volunteers");
    let stored: HashSet<String> = stored_ids.iter().map(Uuid::to_string).collect();
    assert!(acknowledged.len() > 10, "load ran: {}", acknowledged.len());
    assert!(
        acknowledged.is_subset(&stored),
        "{} acknowledged registrations missing",
        acknowledged.difference(&stored).count()
    );
    // A request that reaches a server that is shutting down is refused before it is read:
    // the client sees Unavailable, or (tonic's mapping of a stream beyond the server's GOAWAY,
    // or of a connection that closed under a queued request) Internal "h2 protocol error" or
    // Cancelled. One the server had begun is finished and answered. So no failure may come
    // from a handler, and nothing may be stored without an answer.
    let mut failed_codes: HashMap<String, u32> = HashMap::new();
    for status in &failed {
        *failed_codes
            .entry(format!("{:?}: {}", status.code(), status.message()))
            .or_default() += 1;
    }
    // Every gRPC answer carries `content-type: application/grpc`; a failure without it came
    // from the client's transport (GOAWAY, closed connection), not from a handler.
    let unexpected: Vec<_> = failed
        .iter()
        .filter(|s| s.code() != Code::Unavailable && s.metadata().get("content-type").is_some())
        .map(|s| (s.code(), s.message().to_owned()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the server failed requests: {unexpected:?}"
    );
    let in_limbo = stored.len() - acknowledged.len();
    assert_eq!(in_limbo, 0, "registrations stored but never answered");

    // Offsets: the staffing consumer applied a prefix of each match partition, and committed
    // exactly up to its end, so a restart neither re-applies nor skips an event.
    let topic = suite.kafka.topics.matching.clone();
    let matching_db = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let published = count(
        &matching_db,
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL",
    )
    .await as usize;
    let processed: HashSet<String> = {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT event_id FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .fetch_all(&task_db)
        .await
        .expect("processed");
        ids.iter().map(Uuid::to_string).collect()
    };
    // Positions of the match events, from a reader that sees partitions and offsets.
    let positions = match_positions(&suite, &topic, published).await;
    let partitions = suite.kafka.partitions;
    let committed = committed_offsets(
        suite.broker.brokers(),
        &suite.config.task.platform.kafka.group_id,
        &topic,
        partitions,
    );
    for p in 0..partitions {
        let mut in_partition: Vec<&(i32, i64, String)> =
            positions.iter().filter(|(q, ..)| *q == p).collect();
        in_partition.sort_by_key(|(_, offset, _)| *offset);
        let applied = in_partition
            .iter()
            .take_while(|(_, _, id)| processed.contains(id))
            .count();
        let after_gap = in_partition
            .iter()
            .skip(applied)
            .filter(|(_, _, id)| processed.contains(id))
            .count();
        assert_eq!(after_gap, 0, "partition {p} applied out of order");
        let next_offset = in_partition
            .get(applied.wrapping_sub(1))
            .map_or(0, |(_, offset, _)| offset + 1);
        let committed = committed.get(&p).copied().unwrap_or(0);
        assert_eq!(
            committed, next_offset,
            "partition {p}: committed {committed}, applied up to {next_offset}"
        );
    }
    let processed_before = processed.len();

    // Restart on the same databases, topics and groups; the failed requests are retried.
    let config = suite.config.clone();
    let restarted = Suite::start_from(TestBroker::attach(suite.broker.brokers()), config)
        .await
        .expect("restarted");
    serving(&restarted).await;
    let client = registration_client(&restarted).await;
    let retried = futures::future::join_all(
        outcomes
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(request, _)| register_retrying(client.clone(), request.clone())),
    )
    .await;
    for (outcome, _, other) in &retried {
        assert!(
            outcome.is_some() && other.is_empty(),
            "retry failed: {other:?}"
        );
    }
    let keys = outcomes.len() as i64;
    assert_eq!(
        count(&registrations, "SELECT count(*) FROM volunteers").await,
        keys,
        "one volunteer per key, acknowledged or retried"
    );
    let matching_db = restarted
        .database(Service::Matching)
        .await
        .expect("matching db");
    outbox_drained(&matching_db, "matching's outbox after the restart").await;
    let all_match_events = outbox_event_ids(&matching_db, &topic).await.len() as i64;
    eventually(WAIT, "staffing to apply every match event once", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            == all_match_events)
            .then_some(())
    })
    .await;

    println!(
        "shutdown under load: sent {keys}, acknowledged {}, failed {} {failed_codes:?}, \
         stored {} ({in_limbo} stored without an answer), match events {} on topic, applied \
         before shutdown {processed_before}, committed offsets matched the applied prefix in \
         {partitions} partitions; after restart {} retried, {keys} volunteers, {all_match_events} \
         match events applied once",
        acknowledged.len(),
        failed.len(),
        stored.len(),
        positions.len(),
        retried.len(),
    );
    restarted.stop().await.expect("stopped");
}

/// (partition, offset, event id) of every record of `topic`, read by a fresh group until
/// `count` records arrived and nothing more came for two seconds.
async fn match_positions(suite: &Suite, topic: &str, count: usize) -> Vec<(i32, i64, String)> {
    let stop = CancellationToken::new();
    let (mut rx, reader) = read_events(&suite.kafka, topic, stop.clone(), |event| {
        let envelope = event.envelope.as_ref()?;
        Some((event.partition, event.offset, envelope.event_id.clone()))
    })
    .expect("reader");
    let positions = receive_until_quiet(&mut rx, WAIT, |p| p.len() >= count).await;
    stop.cancel();
    let _ = reader.await;
    assert!(
        positions.len() >= count,
        "read {} of {count}",
        positions.len()
    );
    positions
}
