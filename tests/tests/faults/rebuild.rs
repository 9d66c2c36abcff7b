//! The broker rebuilt empty while every database stays (a disaster recovery that brings back
//! the databases with a new Kafka cluster, or `up.sh` with a fresh broker over old databases):
//! matching keeps offsets of the volunteer topic from the old log, and the volunteers who
//! register after the rebuild are the ones at risk (registration's outbox publishes nothing
//! twice, so the new log holds only them). Resuming the new log at the old offsets would skip
//! the first of them; every one must reach matching.
//!
//! The services stop for the rebuild and start again on their databases, as pods do: a
//! consumer left running while the local broker is replaced does not survive it (librdkafka
//! crashes on tansu's answer for the old topic).

use std::collections::HashSet;
use std::time::Instant;

use spontan_e2e::{Service, Suite, eventually, scrape_metrics};
use spontan_platform::testkit::TestBroker;
use uuid::Uuid;

use super::{WAIT, count, registration, registration_client, serving, start};

/// Volunteers before the rebuild: about ten per partition of the test topics' three.
const BEFORE: u32 = 30;
/// Volunteers after it: more than the old offsets of every partition, so that a consumer
/// resuming there would skip some of them.
const AFTER: u32 = 60;

async fn register(suite: &Suite, numbers: std::ops::Range<u32>) -> Vec<Uuid> {
    let client = registration_client(suite).await;
    let answers = futures::future::join_all(numbers.map(|n| {
        let mut c = client.clone();
        async move { c.register(registration(n)).await }
    }))
    .await;
    answers
        .into_iter()
        .map(|answer| {
            let id = answer.expect("registered").into_inner().volunteer_id;
            id.parse().expect("a volunteer id")
        })
        .collect()
}

/// How many of `ids` matching's read model holds.
async fn known_to_matching(matching: &sqlx::PgPool, ids: &[Uuid]) -> usize {
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM volunteers WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(matching)
        .await
        .expect("read model");
    found.into_iter().collect::<HashSet<_>>().len()
}

/// `matching_foreign_offsets_total` of `topic` on matching's metrics endpoint.
async fn foreign_offsets(suite: &Suite, topic: &str) -> u64 {
    let metrics = scrape_metrics(suite.matching.metrics)
        .await
        .expect("metrics");
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("matching_foreign_offsets_total{")
                && line.contains(&format!("topic=\"{topic}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_rebuilt_empty_loses_no_volunteer_registered_after_it() {
    let started = Instant::now();
    let broker = TestBroker::start_owned()
        .await
        .expect("a broker of this test");
    let mut suite = start(broker).await;
    let matching = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let topic = suite.kafka.topics.volunteer.clone();

    let before = register(&suite, 0..BEFORE).await;
    eventually(WAIT, "the first volunteers in matching", || async {
        (known_to_matching(&matching, &before).await == before.len()).then_some(())
    })
    .await;
    let stored_sql = format!(
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM volunteer_offsets WHERE topic = '{topic}'"
    );
    eventually(WAIT, "their offsets stored", || async {
        (count(&matching, &stored_sql).await == i64::from(BEFORE)).then_some(())
    })
    .await;

    // The rebuild: the services stop, the broker comes back empty at the same address (the
    // same cluster id, as tansu reports for every instance: only the log can tell), and the
    // services start again on their databases.
    suite.stop_services().await.expect("services stopped");
    let config = suite.config.clone();
    let address = suite.broker.brokers().to_owned();
    let mut broker = std::mem::replace(&mut suite.broker, TestBroker::attach(address));
    drop(suite);
    broker
        .replace_with_empty(None)
        .await
        .expect("broker rebuilt");
    let suite = Suite::start_from(broker, config)
        .await
        .expect("suite again");
    serving(&suite).await;

    let after = register(&suite, BEFORE..BEFORE + AFTER).await;
    eventually(
        WAIT,
        "every volunteer registered after the rebuild in matching",
        || async { (known_to_matching(&matching, &after).await == after.len()).then_some(()) },
    )
    .await;
    assert_eq!(
        known_to_matching(&matching, &before).await,
        before.len(),
        "the volunteers from before the rebuild stay"
    );
    // Only the new log's records are counted now (the stored offsets started again).
    eventually(WAIT, "the new log's offsets stored", || async {
        (count(&matching, &stored_sql).await == i64::from(AFTER)).then_some(())
    })
    .await;
    let counted = foreign_offsets(&suite, &topic).await;
    assert!(counted > 0, "the foreign offsets were counted");

    println!(
        "broker rebuild: {BEFORE} volunteers before, {AFTER} after, all in matching; \
         {counted} partitions' offsets found foreign; {:?} in all",
        started.elapsed()
    );
    suite.stop().await.expect("stopped");
}
