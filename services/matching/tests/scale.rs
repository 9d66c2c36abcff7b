//! Matching under concurrency and restarts: two instances in one consumer group, a dashboard
//! following the change log, and a restart in the middle.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::TestApp;
use spontan_platform::events::timestamp;
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tokio_stream::StreamExt as _;
use uuid::Uuid;

const ACTIVE: &str = "('proposed', 'offered', 'accepted', 'checked_in')";

/// Waits until the number of matches stops changing for three seconds; returns it.
async fn settled_match_count(h: &TestApp, incident: Uuid) -> anyhow::Result<i64> {
    let mut last = -1;
    let mut stable_since = tokio::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM match_changes WHERE incident_id = $1")
                .bind(incident)
                .fetch_one(&h.pool)
                .await?;
        if count != last {
            last = count;
            stable_since = tokio::time::Instant::now();
        } else if last > 0 && stable_since.elapsed() > Duration::from_secs(3) {
            return Ok(last);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "matching never settled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tasks of two hours, starting on the hour in six staggered slots, so a volunteer can hold
/// several tasks that do not overlap but never two that do.
fn staggered(h: &TestApp, incident: Uuid, i: usize) -> TaskSnapshot {
    let mut task = h.task(incident, 1);
    let start = h.window.0 + chrono::Duration::hours((i % 6) as i64);
    task.window = Some(TimeWindow {
        start_time: Some(timestamp(start)),
        end_time: Some(timestamp(start + chrono::Duration::hours(2))),
    });
    task.priority = [Priority::Critical, Priority::High, Priority::Medium][i % 3] as i32;
    task
}

#[tokio::test]
async fn two_instances_never_double_book_a_volunteer_across_many_tasks() -> anyhow::Result<()> {
    let mut h = TestApp::spawn().await?;
    h.spawn_instance().await?;
    let incident = h.open_incident().await?;
    for i in 0..50 {
        h.add_volunteer(0.1 * f64::from(i), |_| {}).await?;
    }
    h.wait_for_volunteers(incident, 50).await?;
    let tasks: Vec<TaskSnapshot> = (0..200).map(|i| staggered(&h, incident, i)).collect();
    for task in &tasks {
        h.publish_task(task).await?;
    }
    settled_match_count(&h, incident).await?;

    let overlapping: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM matches a JOIN matches b ON a.volunteer_id = b.volunteer_id \
         AND a.id < b.id AND a.slot && b.slot WHERE a.state IN {ACTIVE} AND b.state IN {ACTIVE}"
    ))
    .fetch_one(&h.pool)
    .await?;
    assert_eq!(overlapping, 0, "a volunteer was double-booked");
    let over_offered: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (SELECT task_id FROM matches WHERE state IN {ACTIVE} \
         GROUP BY task_id HAVING count(*) > 1) t"
    ))
    .fetch_one(&h.pool)
    .await?;
    assert_eq!(over_offered, 0, "a task got more offers than it needs");
    // 50 volunteers, three non-overlapping two-hour slots each in six hours: 150 places.
    let offers: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM matches WHERE state IN {ACTIVE}"
    ))
    .fetch_one(&h.pool)
    .await?;
    assert!(
        offers >= 100,
        "only {offers} offers for 200 tasks and 50 volunteers"
    );
    Ok(())
}

#[tokio::test]
async fn a_dashboard_polling_with_its_cursor_sees_every_change_once_in_order() -> anyhow::Result<()>
{
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let mut volunteers = Vec::new();
    for i in 0..20 {
        volunteers.push(h.add_volunteer(0.2 * f64::from(i), |_| {}).await?);
    }
    h.wait_for_volunteers(incident, 20).await?;

    // A stream and a poller follow the incident from the start, concurrently with matching.
    let mut client = h.client(0).await?;
    let mut stream = client
        .watch_match_changes(authed(
            WatchMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence: 0,
                limit: 5,
            },
            &h.dashboard_token(),
        ))
        .await?
        .into_inner();
    let poll_client = h.client(0).await?;
    let token = h.dashboard_token();
    let stop = tokio_util::sync::CancellationToken::new();
    let poller = tokio::spawn({
        let stop = stop.clone();
        let mut client = poll_client;
        async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let page = client
                    .list_match_changes(authed(
                        ListMatchChangesRequest {
                            incident_id: incident.to_string(),
                            after_sequence: cursor,
                            limit: 7,
                        },
                        &token,
                    ))
                    .await?
                    .into_inner();
                seen.extend(page.changes.iter().map(|c| c.sequence));
                cursor = page.next_after_sequence;
                if !page.has_more {
                    if stop.is_cancelled() {
                        return anyhow::Ok(seen);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });

    for i in 0..30 {
        h.publish_task(&staggered(&h, incident, i)).await?;
    }
    // Some volunteers decline, so changes keep coming while the dashboard polls.
    for v in volunteers.iter().take(6) {
        let offers = try_eventually(Duration::from_secs(30), "an offer", || async {
            let offers = h.offers(*v, false).await?;
            Ok((!offers.is_empty()).then_some(offers))
        })
        .await?;
        for offer in offers.iter().filter(|o| o.state() == MatchState::Offered) {
            h.respond(*v, &offer.match_id, OfferDecision::Decline)
                .await?;
        }
    }
    let total = settled_match_count(&h, incident).await?;
    stop.cancel();
    let polled = poller.await??;
    let expected: Vec<u64> = (1..=u64::try_from(total)?).collect();
    assert_eq!(polled, expected, "the poller missed or repeated a change");

    let mut streamed = Vec::new();
    while streamed.len() < expected.len() {
        let batch = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await?
            .transpose()?
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
        streamed.extend(batch.changes.iter().map(|c| c.sequence));
    }
    assert_eq!(streamed, expected, "the stream missed or repeated a change");
    Ok(())
}

#[tokio::test]
async fn a_restart_loses_no_match_and_sends_no_duplicate_offer() -> anyhow::Result<()> {
    let mut h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(2.0, |_| {}).await?;
    let c = h.add_volunteer(3.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 3).await?;
    let first = h.task(incident, 2);
    h.publish_task(&first).await?;
    let before = try_eventually(Duration::from_secs(30), "two offers", || async {
        let states = h.task_states(&first.task_id).await.unwrap_or_default();
        Ok((states.len() == 2).then_some(states))
    })
    .await?;

    h.stop_instance(0).await?;
    h.spawn_instance().await?;
    // The new instance replays the volunteer topic and sweeps: nothing new for the first task.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(h.task_states(&first.task_id).await?, before);

    // It keeps matching: the next task goes to the one volunteer still free at that time.
    let second = h.task(incident, 1);
    h.publish_task(&second).await?;
    let offer = try_eventually(Duration::from_secs(30), "an offer for C", || async {
        Ok(h.offers(c, false).await?.into_iter().next())
    })
    .await?;
    assert_eq!(offer.task_id, second.task_id);
    for v in [a, b] {
        let offers = h.offers(v, false).await?;
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].task_id, first.task_id);
    }

    // On the topic: exactly one MatchOffered per match, and per volunteer and task.
    let events = h.match_events(3).await?;
    let offered: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::MatchOffered(o)) => o
                .snapshot
                .as_ref()
                .map(|s| (s.task_id.clone(), s.volunteer_id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(offered.len(), 3, "{offered:?}");
    assert_eq!(offered.iter().collect::<HashSet<_>>().len(), 3);
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event was published twice");
    Ok(())
}
