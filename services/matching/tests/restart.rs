//! A restarted matching replica resumes the volunteer topic where its read model ends: it
//! applies what arrived while it was down, and nothing it had applied before (the offsets are
//! stored with the read model, in the same transactions). What arrived meanwhile is applied
//! in batches, each volunteer's records still in their order.

mod common;

use std::time::Duration;

use common::events::{point, volunteer};
use common::{CENTRE, TestApp};
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::{GetIncidentSummaryRequest, VolunteerStatus};
use uuid::Uuid;

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

/// The metrics are the process's: tests that read the batch histogram run one at a time.
static METRICS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The count and sum of `kafka_consume_batch_size` of the volunteer consumer in this process.
fn volunteer_batches() -> (u64, u64) {
    let rendered = spontan_platform::telemetry::metrics_handle().render();
    let value = |series: &str| {
        rendered
            .lines()
            .filter(|line| {
                line.starts_with(&format!("kafka_consume_batch_size_{series}{{"))
                    && line.contains("consumer=\"matching-volunteers\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|value| value as u64)
            .sum()
    };
    (value("count"), value("sum"))
}

/// The stored offsets of the volunteer topic, summed over its partitions: the number of
/// records the read model reflects (every partition starts at offset 0).
async fn stored_offsets(h: &TestApp) -> anyhow::Result<i64> {
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
    let _metrics = METRICS.lock().await;
    let mut h = TestApp::spawn().await?;
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
    try_eventually(
        Duration::from_secs(30),
        "every record's offset stored",
        || async { Ok((stored_offsets(&h).await? == records as i64).then_some(())) },
    )
    .await?;
    // Counted once stopped: a consumer counts a batch after finishing it, after its commit.
    h.stop_instance(0).await?;
    let consumed_before = consumed_from(&topic);
    assert!(
        consumed_before >= records as u64,
        "the first replica consumed the topic ({consumed_before} of {records})"
    );

    for n in 0..WHILE_DOWN {
        h.add_volunteer(2.0 + n as f64 * 0.1, |_| {}).await?;
    }
    h.spawn_instance().await?;

    h.wait_for_volunteers(incident, (BEFORE - 1 + WHILE_DOWN) as u32)
        .await?;
    try_eventually(
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

/// The read model's version, status and latitude of one volunteer.
async fn stored(h: &TestApp, id: Uuid) -> anyhow::Result<(i64, String, Option<f64>)> {
    Ok(
        sqlx::query_as("SELECT version, status, latitude FROM volunteers WHERE id = $1")
            .bind(id)
            .fetch_one(&h.pool)
            .await?,
    )
}

/// Asserts that the read model holds `id` at `version`, `status` and `km_north` of the centre.
async fn assert_stored(
    h: &TestApp,
    id: Uuid,
    (version, status, km_north): (i64, &str, f64),
    what: &str,
) -> anyhow::Result<()> {
    let (stored_version, stored_status, latitude) = stored(h, id).await?;
    assert_eq!(
        (stored_version, stored_status.as_str()),
        (version, status),
        "{what}"
    );
    let expected = CENTRE.0 + km_north / 111.2;
    assert!(
        latitude.is_some_and(|l| (l - expected).abs() < 1e-6),
        "{what}: at {latitude:?}, not {expected}"
    );
    Ok(())
}

#[tokio::test]
async fn records_that_arrived_together_are_applied_in_batches_in_each_volunteers_order()
-> anyhow::Result<()> {
    const PLAIN: usize = 20;
    let _metrics = METRICS.lock().await;
    let mut h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let first = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    // A task for everyone: offers follow each volunteer's last state in a batch.
    h.publish_task(&h.task(incident, 40)).await?;
    try_eventually(Duration::from_secs(30), "the first offer", || async {
        Ok((h.offers(first, false).await?.len() == 1).then_some(()))
    })
    .await?;
    h.stop_instance(0).await?;

    // While the replica is down. A registers near the task, pauses, then comes back 100 km
    // away, out of its reach.
    let a = Uuid::new_v4();
    let mut va = volunteer(a, 2.0);
    h.publish_volunteer(&va, 1).await?;
    va.status = VolunteerStatus::Paused as i32;
    h.publish_volunteer(&va, 2).await?;
    va.status = VolunteerStatus::Active as i32;
    va.approximate_location = Some(point(CENTRE.0 + 100.0 / 111.2, CENTRE.1));
    h.publish_volunteer(&va, 3).await?;
    // B registers and is erased (the erased event and the tombstone).
    let b = h.add_volunteer(2.5, |_| {}).await?;
    h.erase_volunteer(b).await?;
    // C's version 2 arrives before a late copy of version 1 from far away, which must not win.
    let c = Uuid::new_v4();
    let vc = volunteer(c, 3.0);
    h.publish_volunteer(&vc, 2).await?;
    let mut old = vc.clone();
    old.approximate_location = Some(point(CENTRE.0 + 1.0, CENTRE.1));
    h.publish_volunteer(&old, 1).await?;
    for n in 0..PLAIN {
        h.add_volunteer(4.0 + n as f64 * 0.1, |_| {}).await?;
    }
    let missed = 3 + 3 + 2 + PLAIN;

    let (batches_before, records_before) = volunteer_batches();
    h.spawn_instance().await?;
    try_eventually(
        Duration::from_secs(30),
        "the missed records' offsets stored",
        || async { Ok((stored_offsets(&h).await? == (1 + missed) as i64).then_some(())) },
    )
    .await?;

    assert_stored(
        &h,
        a,
        (3, "active", 100.0),
        "A's last record wins, where it put them",
    )
    .await?;
    assert_eq!(stored(&h, b).await?.1, "erased", "B stays erased");
    assert_stored(&h, c, (2, "active", 3.0), "C's stale copy changed nothing").await?;

    // The index agrees: the first volunteer, C and the plain ones are available in the
    // incident's region; A, now outside it, and erased B are not.
    let expected = (1 + 1 + PLAIN) as u32;
    let available = || async {
        let mut client = h.client(1).await?;
        let summary = client
            .get_incident_summary(authed(
                GetIncidentSummaryRequest {
                    incident_id: incident.to_string(),
                },
                &h.dashboard_token(),
            ))
            .await?;
        anyhow::Ok(summary.into_inner().available_volunteers)
    };
    try_eventually(Duration::from_secs(10), "the index caught up", || async {
        Ok((available().await? == expected).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(available().await?, expected, "available volunteers");
    // Offers: C and the plain ones get theirs; A, near the task only in a record the batch
    // replaced, holds none (an offer made for that state would escape the check that the
    // move to 100 km away had already passed).
    try_eventually(Duration::from_secs(10), "an offer for C", || async {
        Ok((h.offers(c, false).await?.len() == 1).then_some(()))
    })
    .await?;
    assert!(
        h.offers(a, false).await?.is_empty(),
        "A, out of reach, holds no offer"
    );

    h.stop_instance(1).await?;
    let (batches, records) = volunteer_batches();
    let (batches, records) = (batches - batches_before, records - records_before);
    assert_eq!(
        records, missed as u64,
        "every missed record was handled once"
    );
    assert!(
        batches < records,
        "records waiting together were applied together ({records} records in {batches} batches)"
    );
    Ok(())
}
