//! An incident from opening to closing, its tasks from creation to completion or
//! cancellation, stable pagination, and the events all of it publishes on the task topic.

use std::collections::HashSet;
use std::time::Duration;

use prost_types::FieldMask;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;

use crate::common::*;

#[tokio::test]
async fn the_lifecycle_of_incident_and_tasks_is_published_on_the_task_topic() {
    let mut app = TestApp::spawn().await.expect("app");
    let mut events = app.task_events();
    let mut client = app.client.clone();
    let token = app.coordinator();

    let incident = client
        .create_incident(authed(incident_request(ORG), &token))
        .await
        .expect("incident")
        .into_inner()
        .incident
        .expect("incident");
    assert_eq!(incident.status, IncidentStatus::Open as i32);
    assert_eq!(incident.version, 1);
    let incident_id = incident.incident_id.clone();

    // Three tasks: one is completed, one cancelled, one left open for the incident's close.
    let done = app.task(&incident_id, 2).await;
    assert_eq!(done.status, TaskStatus::Open as i32);
    assert_eq!(done.version, 1);
    assert_eq!(done.organisation_id, ORG);
    let dropped = app.task(&incident_id, 1).await;
    let left = app.task(&incident_id, 3).await;

    let updated = client
        .update_task(authed(
            UpdateTaskRequest {
                task: Some(Task {
                    task_id: done.task_id.clone(),
                    title: "Sandsäcke füllen, Deich Nord".into(),
                    headcount: 4,
                    preferred_languages: vec!["uk-ua".into(), "ar".into()],
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec![
                        "title".into(),
                        "headcount".into(),
                        "preferred_languages".into(),
                    ],
                }),
                expected_version: 1,
            },
            &token,
        ))
        .await
        .expect("update")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(updated.title, "Sandsäcke füllen, Deich Nord");
    assert_eq!(updated.headcount, 4);
    assert_eq!(
        updated.required_languages,
        ["de"],
        "stored in canonical case"
    );
    assert_eq!(updated.preferred_languages, ["uk-UA", "ar"]);
    assert_eq!(updated.version, 2);
    assert_eq!(
        updated.address, done.address,
        "fields outside the mask stay"
    );

    let completed = client
        .complete_task(authed(
            CompleteTaskRequest {
                task_id: done.task_id.clone(),
            },
            &token,
        ))
        .await
        .expect("complete")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(completed.status, TaskStatus::Completed as i32);
    let again = client
        .complete_task(authed(
            CompleteTaskRequest {
                task_id: done.task_id.clone(),
            },
            &token,
        ))
        .await
        .expect("completing twice returns the task unchanged")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(again.version, completed.version);

    let cancelled = client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: dropped.task_id.clone(),
                reason: "Deich hält, kein Bedarf mehr".into(),
            },
            &token,
        ))
        .await
        .expect("cancel")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(cancelled.status, TaskStatus::Cancelled as i32);
    assert_eq!(
        cancelled.cancellation_reason,
        "Deich hält, kein Bedarf mehr"
    );
    let finished = client
        .complete_task(authed(
            CompleteTaskRequest {
                task_id: dropped.task_id.clone(),
            },
            &token,
        ))
        .await
        .expect_err("a cancelled task cannot be completed");
    assert_eq!(finished.code(), tonic::Code::FailedPrecondition);
    assert!(finished.message().contains("TASK_FINISHED"));
    let update_finished = client
        .update_task(authed(
            UpdateTaskRequest {
                task: Some(Task {
                    task_id: dropped.task_id.clone(),
                    headcount: 9,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["headcount".into()],
                }),
                expected_version: cancelled.version,
            },
            &token,
        ))
        .await
        .expect_err("a cancelled task cannot change");
    assert_eq!(update_finished.code(), tonic::Code::FailedPrecondition);

    let closed = client
        .close_incident(authed(
            CloseIncidentRequest {
                incident_id: incident_id.clone(),
            },
            &token,
        ))
        .await
        .expect("close")
        .into_inner();
    assert_eq!(closed.cancelled_task_count, 1, "the open task is cancelled");
    assert_eq!(closed.completed_task_count, 0);
    let closed_incident = closed.incident.expect("incident");
    assert_eq!(closed_incident.status, IncidentStatus::Closed as i32);
    assert!(closed_incident.closed_at.is_some());
    let left_now = app.get_task(&left.task_id).await;
    assert_eq!(left_now.status, TaskStatus::Cancelled as i32);

    let refused = client
        .create_task(authed(task_request(&incident_id), &token))
        .await
        .expect_err("a closed incident takes no tasks");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("INCIDENT_CLOSED"));

    // Every change is on the topic, keyed by its aggregate, with what matching needs. The
    // keys differ, so the partitions (and the order between them) do too: wait for all nine.
    let seen = receive_until(&mut events, Duration::from_secs(30), |s| s.len() >= 9).await;
    assert_eq!(
        seen.len(),
        9,
        "1 opened, 3 created, 1 updated, 1 completed, 2 cancelled, 1 closed"
    );
    let types: Vec<&str> = seen.iter().map(|(e, _)| e.event_type.as_str()).collect();
    for wanted in [
        "spontan.v1.IncidentOpened",
        "spontan.v1.TaskCreated",
        "spontan.v1.TaskUpdated",
        "spontan.v1.TaskCompleted",
        "spontan.v1.TaskCancelled",
        "spontan.v1.IncidentClosed",
    ] {
        assert!(types.contains(&wanted), "{wanted} missing from {types:?}");
    }
    for (event, key) in &seen {
        assert_eq!(key.as_deref(), Some(event.aggregate_id.as_str()));
        match event.payload.as_ref().expect("payload") {
            Payload::IncidentOpened(e) => {
                assert_eq!(e.incident_id, incident_id);
                assert_eq!(e.organisation_id, ORG);
                assert_eq!(e.region_radius_km, 25.0);
            }
            Payload::TaskCreated(e) => {
                let s = e.task.as_ref().expect("snapshot");
                assert_eq!(event.aggregate_version, s.version);
                assert_eq!(s.incident_id, incident_id);
                assert_eq!(s.required_skill_ids, ["sandbag_filling"]);
                assert_eq!(s.required_languages, ["de"]);
                assert_eq!(s.preferred_skill_ids, ["heavy_lifting"]);
                assert_eq!(s.min_age, 18);
                assert_eq!(s.priority, Priority::High as i32);
                assert!(s.window.is_some() && s.meeting_point.is_some());
                assert_eq!(s.max_distance_km, 30.0);
            }
            Payload::TaskUpdated(e) => {
                // In the order of the Task message's updatable fields.
                assert_eq!(
                    e.changed_fields,
                    ["title", "preferred_languages", "headcount"]
                );
                let s = e.task.as_ref().expect("snapshot");
                assert_eq!(s.headcount, 4);
                assert_eq!(s.preferred_languages, ["uk-UA", "ar"]);
                assert_eq!(event.aggregate_version, 2);
            }
            Payload::TaskCancelled(e) => {
                let reason = if event.aggregate_id == left.task_id {
                    TaskCancelReason::IncidentClosed
                } else {
                    TaskCancelReason::Coordinator
                };
                assert_eq!(e.reason, reason as i32);
            }
            Payload::TaskCompleted(e) => {
                assert_eq!(e.task.as_ref().expect("snapshot").task_id, done.task_id)
            }
            Payload::IncidentClosed(e) => assert_eq!(e.organisation_id, ORG),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let cancellations = seen
        .iter()
        .filter(|(e, _)| matches!(e.payload, Some(Payload::TaskCancelled(_))))
        .count();
    assert_eq!(
        cancellations, 2,
        "the dropped task and the one the close cancelled"
    );

    // Every change is in the audit trail: who, what, when.
    let pool = sqlx::PgPool::connect(app.config.platform.database.url.expose())
        .await
        .expect("database");
    let trail: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor_subject, actor_role, action FROM audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("audit trail");
    let actions: Vec<&str> = trail.iter().map(|(_, _, a)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "incident.opened",
            "task.created",
            "task.created",
            "task.created",
            "task.updated",
            "task.completed",
            "task.cancelled",
            "task.cancelled",
            "incident.closed",
        ]
    );
    assert!(
        trail
            .iter()
            .all(|(who, role, _)| who == "coordinator-1" && role == "coordinator")
    );
    pool.close().await;
    app.stop().await;
}

#[tokio::test]
async fn list_tasks_orders_by_priority_and_pages_stably() {
    let app = TestApp::spawn().await.expect("app");
    let incident_id = app.incident().await;
    let token = app.coordinator();
    let mut client = app.client.clone();
    let mut ids = Vec::new();
    for priority in [
        Priority::Low,
        Priority::Critical,
        Priority::Medium,
        Priority::Critical,
        Priority::High,
    ] {
        let mut request = task_request(&incident_id);
        request.priority = priority as i32;
        let task = client
            .create_task(authed(request, &token))
            .await
            .expect("task")
            .into_inner()
            .task
            .expect("task");
        ids.push(task.task_id);
    }

    let mut listed: Vec<Task> = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_tasks(authed(
                ListTasksRequest {
                    incident_id: incident_id.clone(),
                    page_size: 2,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        listed.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(listed.len(), 5);
    let unique: HashSet<_> = listed.iter().map(|t| t.task_id.clone()).collect();
    assert_eq!(unique.len(), 5, "no task twice");
    let priorities: Vec<i32> = listed.iter().map(|t| t.priority).collect();
    let mut sorted = priorities.clone();
    sorted.sort();
    assert_eq!(priorities, sorted, "most urgent first");

    let critical = client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                priorities: vec![Priority::Critical as i32],
                statuses: vec![TaskStatus::Open as i32],
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(critical.tasks.len(), 2);

    // A token is bound to its filters.
    let first = client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                page_size: 1,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("page")
        .into_inner();
    let mismatch = client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                page_size: 1,
                priorities: vec![Priority::Low as i32],
                page_token: first.next_page_token,
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("token with other filters");
    assert_eq!(violated_fields(&mismatch), ["page_token"]);

    let incidents = client
        .list_incidents(authed(ListIncidentsRequest::default(), &token))
        .await
        .expect("incidents")
        .into_inner();
    assert_eq!(incidents.incidents.len(), 1);
    assert_eq!(incidents.incidents[0].incident_id, incident_id);
    app.stop().await;
}
