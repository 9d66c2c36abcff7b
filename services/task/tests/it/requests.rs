//! Validation with every field violation at once, the idempotent retry and the
//! optimistic-concurrency conflict.

use prost_types::{FieldMask, Timestamp};
use spontan_platform::events::timestamp;
use spontan_proto::v1::*;
use tonic::Code;

use crate::common::*;

/// One change that makes a good request bad.
type Edit = Box<dyn Fn(&mut CreateTaskRequest)>;

#[tokio::test]
async fn every_invalid_field_is_reported_in_one_answer() {
    let app = TestApp::spawn().await.expect("app");
    let incident_id = app.incident().await;
    let token = app.coordinator();
    let mut client = app.client.clone();
    let now = chrono::Utc::now();

    let bad_task = CreateTaskRequest {
        idempotency_key: "not-a-uuid".into(),
        incident_id: incident_id.clone(),
        title: "x".repeat(121),
        description: "y".repeat(4001),
        meeting_point: Some(GeoPoint {
            latitude: f64::NAN,
            longitude: -180.5,
        }),
        address: "Markt\u{0}platz".into(),
        required_skill_ids: vec!["first_aid".into(), "juggling".into(), "first_aid".into()],
        preferred_skill_ids: vec!["first_aid".into()],
        min_age: 15,
        headcount: 0,
        window: Some(TimeWindow {
            start_time: Some(timestamp(now - chrono::Duration::hours(5))),
            end_time: Some(timestamp(now - chrono::Duration::hours(1))),
        }),
        priority: 0,
        max_distance_km: f64::INFINITY,
        safety_notes: "z".repeat(2001),
        required_languages: vec![],
        preferred_languages: vec![],
    };
    let status = client
        .create_task(authed(bad_task, &token))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "idempotency_key",
            "title",
            "description",
            "meeting_point.latitude",
            "meeting_point.longitude",
            "address",
            "required_skill_ids[1]",
            "required_skill_ids[2]",
            "preferred_skill_ids[0]",
            "min_age",
            "headcount",
            "window.end_time",
            "priority",
            "max_distance_km",
            "safety_notes",
        ]
    );

    // More rules, one at a time on an otherwise good request.
    let cases: Vec<(&str, Edit)> = vec![
        ("title", Box::new(|r| r.title = "   ".into())),
        ("title", Box::new(|r| r.title = "a\nb".into())),
        ("meeting_point", Box::new(|r| r.meeting_point = None)),
        (
            "meeting_point.latitude",
            Box::new(|r| {
                r.meeting_point = Some(GeoPoint {
                    latitude: 91.0,
                    longitude: 7.0,
                })
            }),
        ),
        ("headcount", Box::new(|r| r.headcount = 501)),
        ("min_age", Box::new(|r| r.min_age = 100)),
        ("max_distance_km", Box::new(|r| r.max_distance_km = 200.5)),
        ("max_distance_km", Box::new(|r| r.max_distance_km = -1.0)),
        ("priority", Box::new(|r| r.priority = 9)),
        ("window", Box::new(|r| r.window = None)),
        (
            "window.start_time",
            Box::new(|r| {
                if let Some(w) = r.window.as_mut() {
                    w.start_time = None
                }
            }),
        ),
        (
            "window.end_time",
            Box::new(|r| {
                if let Some(w) = r.window.as_mut() {
                    w.end_time = w.start_time
                }
            }),
        ),
        (
            "window.end_time",
            Box::new(|r| {
                if let Some(w) = r.window.as_mut() {
                    w.end_time = Some(Timestamp {
                        seconds: 0,
                        nanos: -5,
                    })
                }
            }),
        ),
        (
            "window",
            Box::new(|r| {
                let now = chrono::Utc::now();
                r.window = Some(TimeWindow {
                    start_time: Some(timestamp(now)),
                    end_time: Some(timestamp(now + chrono::Duration::days(8))),
                })
            }),
        ),
        (
            "required_skill_ids",
            Box::new(|r| r.required_skill_ids = vec!["first_aid".into(); 21]),
        ),
        ("incident_id", Box::new(|r| r.incident_id = String::new())),
    ];
    for (field, change) in cases {
        let mut request = task_request(&incident_id);
        change(&mut request);
        let status = client
            .create_task(authed(request, &token))
            .await
            .expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_fields(&status), [field], "{field}");
    }

    let bad_incident = CreateIncidentRequest {
        idempotency_key: String::new(),
        organisation_id: ORG.into(),
        name: String::new(),
        description: "\u{1b}[31m".into(),
        region_centre: None,
        region_radius_km: 0.0,
    };
    let status = client
        .create_incident(authed(bad_incident, &token))
        .await
        .expect_err("invalid incident");
    assert_eq!(
        violated_fields(&status),
        [
            "idempotency_key",
            "name",
            "description",
            "region_centre",
            "region_radius_km"
        ]
    );

    let task = app.task(&incident_id, 2).await;
    let status = client
        .update_task(authed(
            UpdateTaskRequest {
                task: Some(Task {
                    task_id: task.task_id.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["status".into(), "headcount".into()],
                }),
                expected_version: 0,
            },
            &token,
        ))
        .await
        .expect_err("invalid update");
    assert_eq!(
        violated_fields(&status),
        ["update_mask.paths[0]", "expected_version"]
    );
    let status = client
        .update_task(authed(
            UpdateTaskRequest {
                task: Some(Task {
                    task_id: task.task_id.clone(),
                    headcount: 0,
                    title: String::new(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["headcount".into(), "title".into()],
                }),
                expected_version: 1,
            },
            &token,
        ))
        .await
        .expect_err("invalid values");
    assert_eq!(violated_fields(&status), ["task.title", "task.headcount"]);

    let status = client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: task.task_id.clone(),
                reason: String::new(),
            },
            &token,
        ))
        .await
        .expect_err("a reason is required");
    assert_eq!(violated_fields(&status), ["reason"]);
    let status = client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                page_size: 201,
                page_token: "garbage".into(),
                statuses: vec![0],
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("bad listing");
    assert_eq!(
        violated_fields(&status),
        ["statuses[0]", "page_size", "page_token"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_retry_returns_the_same_task_and_a_reused_key_is_refused() {
    let app = TestApp::spawn().await.expect("app");
    let incident_id = app.incident().await;
    let token = app.coordinator();
    let mut client = app.client.clone();

    let request = task_request(&incident_id);
    let first = client
        .create_task(authed(request.clone(), &token))
        .await
        .expect("first")
        .into_inner()
        .task
        .expect("task");
    let retry = client
        .create_task(authed(request.clone(), &token))
        .await
        .expect("retry")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(
        retry.task_id, first.task_id,
        "the same task, not a second one"
    );
    assert_eq!(retry.version, 1);

    let mut different = request.clone();
    different.headcount = 7;
    let conflict = client
        .create_task(authed(different, &token))
        .await
        .expect_err("same key, other content");
    assert_eq!(conflict.code(), Code::AlreadyExists);
    assert!(conflict.message().contains("idempotency_key"));

    let listed = client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.tasks.len(), 1);

    // A retry after the window has ended still gets its task: replays come before validation.
    let mut brief = task_request(&incident_id);
    let now = chrono::Utc::now();
    brief.window = Some(TimeWindow {
        start_time: Some(timestamp(now)),
        end_time: Some(timestamp(now + chrono::Duration::seconds(2))),
    });
    let created = client
        .create_task(authed(brief.clone(), &token))
        .await
        .expect("short task")
        .into_inner()
        .task
        .expect("task");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let late_retry = client
        .create_task(authed(brief, &token))
        .await
        .expect("late retry")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(late_retry.task_id, created.task_id);

    // Incidents are idempotent the same way.
    let incident = incident_request(ORG);
    let a = client
        .create_incident(authed(incident.clone(), &token))
        .await
        .expect("incident")
        .into_inner();
    let b = client
        .create_incident(authed(incident.clone(), &token))
        .await
        .expect("incident retry")
        .into_inner();
    assert_eq!(
        a.incident.expect("a").incident_id,
        b.incident.expect("b").incident_id
    );
    let mut renamed = incident;
    renamed.name = "Anderer Einsatz".into();
    let conflict = client
        .create_incident(authed(renamed, &token))
        .await
        .expect_err("reused key");
    assert_eq!(conflict.code(), Code::AlreadyExists);
    app.stop().await;
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted() {
    let app = TestApp::spawn().await.expect("app");
    let incident_id = app.incident().await;
    let token = app.coordinator();
    let mut client = app.client.clone();
    let task = app.task(&incident_id, 2).await;

    let update = |headcount: u32, expected_version: u64| UpdateTaskRequest {
        task: Some(Task {
            task_id: task.task_id.clone(),
            headcount,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["headcount".into()],
        }),
        expected_version,
    };
    let first = client
        .update_task(authed(update(3, 1), &token))
        .await
        .expect("first writer wins")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(first.version, 2);
    let stale = client
        .update_task(authed(update(5, 1), &token))
        .await
        .expect_err("second writer read version 1");
    assert_eq!(stale.code(), Code::Aborted);
    let now = app.get_task(&task.task_id).await;
    assert_eq!(now.headcount, 3, "the stale write changed nothing");
    let retried = client
        .update_task(authed(update(5, now.version), &token))
        .await
        .expect("re-read and retried")
        .into_inner()
        .task
        .expect("task");
    assert_eq!((retried.headcount, retried.version), (5, 3));
    app.stop().await;
}
