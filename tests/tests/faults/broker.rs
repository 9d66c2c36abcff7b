//! A 30 s broker outage while registrations keep coming.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use spontan_e2e::{Service, eventually, read_topic};
use spontan_platform::testkit::TestBroker;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    WAIT, count, outbox_drained, outbox_event_ids, read_until, registration, registration_client,
    start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_30_second_broker_outage_fails_no_registration_and_loses_no_event() {
    let broker = TestBroker::start_owned()
        .await
        .expect("a broker of this test");
    let mut suite = start(broker).await;
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let matching = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let client = registration_client(&suite).await;

    // Before: ten registrations reach matching, so the pipeline works.
    let mut acknowledged: Vec<String> = Vec::new();
    let before = futures::future::join_all((0..10).map(|n| {
        let mut c = client.clone();
        async move { c.register(registration(n)).await }
    }))
    .await;
    for result in before {
        acknowledged.push(result.expect("registered").into_inner().volunteer_id);
    }
    eventually(WAIT, "the first ten in matching", || async {
        (count(&matching, "SELECT count(*) FROM volunteers").await == 10).then_some(())
    })
    .await;

    // The outage: registrations keep coming, four at a time, every second for 30 s.
    suite.broker.stop().await.expect("broker stopped");
    let outage = Instant::now();
    let mut sent = 10u32;
    let mut failed = Vec::new();
    while outage.elapsed() < Duration::from_secs(30) {
        let burst = futures::future::join_all((sent..sent + 4).map(|n| {
            let mut c = client.clone();
            async move { c.register(registration(n)).await }
        }))
        .await;
        sent += 4;
        for result in burst {
            match result {
                Ok(r) => acknowledged.push(r.into_inner().volunteer_id),
                Err(status) => failed.push(status),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let waiting = count(
        &registrations,
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
    )
    .await;
    suite.broker.restart().await.expect("broker restarted");
    let recovered = Instant::now();

    assert!(failed.is_empty(), "registrations failed: {failed:?}");
    assert_eq!(
        acknowledged.len(),
        sent as usize,
        "every registration answered"
    );
    assert!(waiting > 0, "events waited in the outbox during the outage");
    let stored = count(&registrations, "SELECT count(*) FROM volunteers").await;
    assert_eq!(
        stored,
        i64::from(sent),
        "every acknowledged volunteer stored"
    );

    outbox_drained(&registrations, "the outbox to drain after the outage").await;
    let drained_after = recovered.elapsed();
    let expected = outbox_event_ids(&registrations, &suite.kafka.topics.volunteer).await;
    assert_eq!(expected.len(), sent as usize, "one event per registration");

    let stop = CancellationToken::new();
    let mut rx = read_topic(&suite.kafka, &suite.kafka.topics.volunteer, stop.clone())
        .expect("volunteer topic");
    let mut seen = HashMap::new();
    read_until(&mut rx, &expected, &mut seen).await;
    stop.cancel();
    let records: u32 = seen.values().map(|(n, _)| n).sum();
    let repeated = seen.values().filter(|(n, _)| *n > 1).count();

    // The consumer's effect: each volunteer once in matching's read model, at version 1.
    eventually(WAIT, "every volunteer in matching", || async {
        (count(&matching, "SELECT count(*) FROM volunteers").await == i64::from(sent)).then_some(())
    })
    .await;
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM volunteers WHERE version = 1")
        .fetch_all(&matching)
        .await
        .expect("read model");
    let in_read_model: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let registered: HashSet<String> = acknowledged.iter().cloned().collect();
    assert_eq!(registered.len(), sent as usize, "distinct volunteers");
    assert_eq!(
        in_read_model, registered,
        "matching knows exactly the registered"
    );

    println!(
        "broker outage: sent {sent}, acknowledged {}, failed {}, stored {stored}, \
         waiting in outbox at restart {waiting}, outbox drained {drained_after:?} after restart, \
         events {} distinct / {records} records read ({repeated} read more than once), \
         matching read model {}",
        acknowledged.len(),
        failed.len(),
        seen.len(),
        in_read_model.len()
    );
    suite.stop().await.expect("stopped");
}
