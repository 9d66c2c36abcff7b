//! Staffing follows the match events on `spontan.match.v1`, published here with a real
//! producer: counts per task, `staffed` and back to `open`, `in_progress` on the first
//! check-in; redelivered and out-of-date events change nothing.

use std::time::Duration;

use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;

use crate::common::*;

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn staffing_counts_and_status_follow_match_events() {
    let mut app = TestApp::spawn().await.expect("app");
    let mut events = app.task_events();
    let incident_id = app.incident().await;
    let task = app.task(&incident_id, 2).await;
    let t = task.task_id.as_str();
    let topic = app.config.platform.kafka.topics.matching.clone();
    let producer = app.match_producer();
    let (a, b, c) = (id(), id(), id());

    publish_match(&producer, &topic, &a, t, 1, MatchState::Offered).await;
    publish_match(&producer, &topic, &b, t, 1, MatchState::Offered).await;
    let offered = publish_match(&producer, &topic, &c, t, 1, MatchState::Offered).await;
    // A redelivery of the same event counts once.
    republish(&producer, &topic, t, &offered).await;
    let now = wait_for_task(&app, t, |t| t.offered_count == 3).await;
    assert_eq!(now.status, TaskStatus::Open as i32);
    assert_eq!(now.version, 1, "counts alone do not move the version");

    publish_match(&producer, &topic, &a, t, 2, MatchState::Accepted).await;
    let now = wait_for_task(&app, t, |t| t.accepted_count == 1).await;
    assert_eq!(
        (now.offered_count, now.status),
        (2, TaskStatus::Open as i32)
    );

    publish_match(&producer, &topic, &b, t, 2, MatchState::Accepted).await;
    let now = wait_for_task(&app, t, |t| t.status == TaskStatus::Staffed as i32).await;
    assert_eq!((now.offered_count, now.accepted_count), (1, 2));
    assert_eq!(now.version, 2);

    // An old event arriving late (version 1 < 2) does not undo the acceptance.
    publish_match(&producer, &topic, &a, t, 1, MatchState::Offered).await;
    // The volunteer withdraws: not enough people any more.
    publish_match(&producer, &topic, &b, t, 3, MatchState::Declined).await;
    let now = wait_for_task(&app, t, |t| t.status == TaskStatus::Open as i32).await;
    assert_eq!(
        (now.offered_count, now.accepted_count),
        (1, 1),
        "the late offer of a was ignored"
    );

    publish_match(&producer, &topic, &c, t, 2, MatchState::Accepted).await;
    wait_for_task(&app, t, |t| t.status == TaskStatus::Staffed as i32).await;
    publish_match(&producer, &topic, &a, t, 3, MatchState::CheckedIn).await;
    let now = wait_for_task(&app, t, |t| t.status == TaskStatus::InProgress as i32).await;
    assert_eq!(
        (now.offered_count, now.accepted_count, now.checked_in_count),
        (0, 2, 1)
    );

    // Status changes from staffing are on the task topic for matching.
    let seen = receive_until(&mut events, Duration::from_secs(30), |s| {
        s.iter().any(|(e, _)| match &e.payload {
            Some(Payload::TaskUpdated(u)) => {
                u.task.as_ref().map(|t| t.status) == Some(TaskStatus::InProgress as i32)
            }
            _ => false,
        })
    })
    .await;
    let statuses: Vec<i32> = seen
        .iter()
        .filter_map(|(e, _)| match &e.payload {
            Some(Payload::TaskUpdated(u)) => {
                assert_eq!(u.changed_fields, ["status"]);
                u.task.as_ref().map(|t| t.status)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            TaskStatus::Staffed as i32,
            TaskStatus::Open as i32,
            TaskStatus::Staffed as i32,
            TaskStatus::InProgress as i32
        ]
    );

    // Staffing changes are audited as the service's own, without any volunteer data.
    let pool = sqlx::PgPool::connect(app.config.platform.database.url.expose())
        .await
        .expect("database");
    let trail: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor_role, details::text FROM audit_log WHERE action = 'task.status_changed' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit trail");
    assert_eq!(trail.len(), 4);
    assert!(trail.iter().all(|(role, details)| role == "system"
        && !details.contains("volunteer")
        && ![&a, &b, &c].iter().any(|m| details.contains(m.as_str()))));
    pool.close().await;

    // Closing the incident completes the task that is in progress.
    let closed = app
        .client
        .clone()
        .close_incident(authed(
            CloseIncidentRequest {
                incident_id: incident_id.clone(),
            },
            &app.coordinator(),
        ))
        .await
        .expect("close")
        .into_inner();
    assert_eq!(
        (closed.completed_task_count, closed.cancelled_task_count),
        (1, 0)
    );
    assert_eq!(app.get_task(t).await.status, TaskStatus::Completed as i32);
    app.stop().await;
}
