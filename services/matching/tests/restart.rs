//! A restarted matching replica resumes the volunteer topic where its read model ends: it
//! applies what arrived while it was down, and nothing it had applied before (the offsets are
//! stored with the read model, in the same transactions).

mod common;

use std::time::Duration;

use common::{Harness, eventually, fast_settings};

const BEFORE: usize = 40;
const WHILE_DOWN: usize = 5;

/// How many volunteer records this process's matching consumers handled from `topic`, as
/// `kafka_events_consumed_total` reports it on `/metrics`.
fn consumed_from(topic: &str) -> u64 {
    let rendered = spontan_platform::telemetry::metrics_handle().render();
    rendered
        .lines()
        .filter(|line| {
            line.starts_with("kafka_events_consumed_total{")
                && line.contains("consumer=\"matching-volunteers\"")
                && line.contains(&format!("topic=\"{topic}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// The stored offsets of the volunteer topic, summed over its partitions: the number of
/// records the read model reflects (every partition starts at offset 0).
async fn stored_offsets(h: &Harness) -> anyhow::Result<i64> {
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT sum(next_offset)::bigint FROM volunteer_offsets WHERE topic = $1",
    )
    .bind(&h.config.platform.kafka.topics.volunteer)
    .fetch_one(&h.pool)
    .await?;
    Ok(sum.unwrap_or(0))
}

#[tokio::test]
async fn a_restarted_replica_applies_only_what_arrived_while_it_was_down() -> anyhow::Result<()> {
    let mut h = Harness::start(fast_settings()).await?;
    let topic = h.config.platform.kafka.topics.volunteer.clone();
    let incident = h.open_incident().await?;
    let mut volunteers = Vec::new();
    for n in 0..BEFORE {
        volunteers.push(h.add_volunteer(1.0 + n as f64 * 0.1, |_| {}).await?);
    }
    // An erasure is two records (the erased event and the tombstone).
    h.erase_volunteer(volunteers[0]).await?;
    let records = BEFORE + 2;
    h.wait_for_volunteers(incident, (BEFORE - 1) as u32).await?;
    eventually(
        Duration::from_secs(30),
        "every record's offset stored",
        || async { Ok((stored_offsets(&h).await? == records as i64).then_some(())) },
    )
    .await?;
    let consumed_before = consumed_from(&topic);
    assert!(
        consumed_before >= records as u64,
        "the first replica consumed the topic ({consumed_before} of {records})"
    );

    h.stop_instance(0).await?;
    for n in 0..WHILE_DOWN {
        h.add_volunteer(2.0 + n as f64 * 0.1, |_| {}).await?;
    }
    h.spawn_instance().await?;

    h.wait_for_volunteers(incident, (BEFORE - 1 + WHILE_DOWN) as u32)
        .await?;
    eventually(
        Duration::from_secs(30),
        "the new records' offsets stored",
        || async { Ok((stored_offsets(&h).await? == (records + WHILE_DOWN) as i64).then_some(())) },
    )
    .await?;
    // Give a replay, if there were one, time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        consumed_from(&topic) - consumed_before,
        WHILE_DOWN as u64,
        "the restarted replica read only the records published while it was down"
    );
    Ok(())
}
