//! Stored volunteer offsets that belong to another log. The broker is replaced by a new,
//! empty one on the same address (as after a disaster recovery with a new cluster, or a fresh
//! local broker over old databases; tansu reports the same cluster id for both, so only the
//! log itself can tell them apart), and matching must read the new log from its beginning
//! instead of resuming at offsets it stored from the old one, which would skip the new log's
//! first records without an error. At start, with a new log shorter and one longer than the
//! stored offsets. (A replica left running while the broker is replaced does not survive it
//! on the local broker: librdkafka crashes on tansu's answer to a fetch for the old topic id.
//! The check a running consumer makes is tested in the platform, `tests/log_identity.rs`.)

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestApp, fast_settings};
use spontan_platform::testkit::{TestBroker, try_eventually};
use uuid::Uuid;

/// `matching_foreign_offsets_total` of `topic` in this process, summed over reasons.
fn foreign_offsets(topic: &str) -> u64 {
    spontan_platform::telemetry::metrics_handle()
        .render()
        .lines()
        .filter(|line| {
            line.starts_with("matching_foreign_offsets_total{")
                && line.contains(&format!("topic=\"{topic}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// The stored offsets of the volunteer topic, summed over its partitions.
async fn stored_offsets(h: &TestApp) -> anyhow::Result<i64> {
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT sum(next_offset)::bigint FROM volunteer_offsets WHERE topic = $1",
    )
    .bind(&h.config.platform.kafka.topics.volunteer)
    .fetch_one(&h.pool)
    .await?;
    Ok(sum.unwrap_or(0))
}

/// Replaces the test's broker with an empty one on the same address, creates the suite's
/// topics there (as the topic operator of a rebuilt cluster would) and a new producer.
async fn replace_broker(h: &mut TestApp) -> anyhow::Result<()> {
    h.broker.replace_with_empty(None).await?;
    let kafka = &h.config.platform.kafka;
    let topics = &kafka.topics;
    spontan_platform::kafka::ensure_topics(
        kafka,
        &[&topics.volunteer, &topics.task, &topics.matching],
    )
    .await?;
    h.producer = spontan_platform::kafka::producer(kafka)?;
    Ok(())
}

/// Publishes `n` new volunteers near the incident.
async fn add_volunteers(h: &TestApp, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(h.add_volunteer(1.0 + i as f64 * 0.05, |_| {}).await?);
    }
    Ok(ids)
}

/// Waits until every one of `ids` is in the read model and the index holds `total`.
async fn all_applied(
    h: &TestApp,
    incident: Uuid,
    ids: &[Uuid],
    total: usize,
) -> anyhow::Result<()> {
    try_eventually(
        Duration::from_secs(30),
        "every volunteer of the new log in the read model",
        || async {
            let stored: Vec<Uuid> =
                sqlx::query_scalar("SELECT id FROM volunteers WHERE id = ANY($1)")
                    .bind(ids)
                    .fetch_all(&h.pool)
                    .await?;
            let stored: HashSet<Uuid> = stored.into_iter().collect();
            Ok((stored.len() == ids.len()).then_some(()))
        },
    )
    .await?;
    h.wait_for_volunteers(incident, total as u32).await
}

#[tokio::test]
async fn a_start_against_another_log_reads_it_from_its_beginning() -> anyhow::Result<()> {
    const FIRST: usize = 24;
    const SHORTER: usize = 4;
    const LONGER: usize = 60;
    let mut h = TestApp::spawn_on(TestBroker::start_owned().await?, fast_settings()).await?;
    let topic = h.config.platform.kafka.topics.volunteer.clone();
    let incident = h.open_incident().await?;
    add_volunteers(&h, FIRST).await?;
    h.wait_for_volunteers(incident, FIRST as u32).await?;
    try_eventually(Duration::from_secs(30), "offsets stored", || async {
        Ok((stored_offsets(&h).await? == FIRST as i64).then_some(()))
    })
    .await?;
    h.stop_instance(0).await?;

    // A new log shorter than the stored offsets: its ends lie before them.
    replace_broker(&mut h).await?;
    let shorter = add_volunteers(&h, SHORTER).await?;
    h.spawn_instance().await?;
    all_applied(&h, incident, &shorter, FIRST + SHORTER).await?;
    assert!(foreign_offsets(&topic) > 0, "the foreign offsets counted");
    try_eventually(
        Duration::from_secs(30),
        "the new log's offsets stored",
        || async { Ok((stored_offsets(&h).await? == SHORTER as i64).then_some(())) },
    )
    .await?;
    h.stop_instance(1).await?;

    // A new log longer than the stored offsets, with other records at them: resuming there
    // would skip its first records.
    let counted = foreign_offsets(&topic);
    replace_broker(&mut h).await?;
    let longer = add_volunteers(&h, LONGER).await?;
    h.spawn_instance().await?;
    all_applied(&h, incident, &longer, FIRST + SHORTER + LONGER).await?;
    assert!(
        foreign_offsets(&topic) > counted,
        "the foreign offsets counted again"
    );
    try_eventually(
        Duration::from_secs(30),
        "the longer log's offsets stored",
        || async { Ok((stored_offsets(&h).await? == LONGER as i64).then_some(())) },
    )
    .await?;

    // The same log again: nothing is foreign, nothing read twice.
    let counted = foreign_offsets(&topic);
    h.stop_instance(2).await?;
    h.spawn_instance().await?;
    h.wait_for_volunteers(incident, (FIRST + SHORTER + LONGER) as u32)
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        foreign_offsets(&topic),
        counted,
        "the same log is not foreign"
    );
    h.stop().await
}
