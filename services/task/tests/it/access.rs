//! Who may do what: coordinators only for their organisation, dashboards read-only, admins
//! everything, volunteers and anonymous callers nothing.

use prost_types::FieldMask;
use spontan_platform::auth::Role;
use spontan_proto::v1::*;
use tonic::{Code, Request};

use crate::common::*;

#[tokio::test]
async fn access_follows_role_and_organisation() {
    let app = TestApp::spawn().await.expect("app");
    let incident_id = app.incident().await;
    let task = app.task(&incident_id, 2).await;
    let mut client = app.client.clone();
    let other = app.token("coordinator-9", Role::Coordinator, Some(OTHER_ORG));
    let dashboard = app.token("screen-1", Role::Dashboard, Some(ORG));
    let other_dashboard = app.token("screen-2", Role::Dashboard, Some(OTHER_ORG));
    let volunteer = app.token(
        "0192f3c4-7d1e-7a3b-9c2d-4e5f6a7b8c9d",
        Role::Volunteer,
        None,
    );
    let admin = app.token("operator", Role::Admin, None);

    // Another organisation's coordinator can neither write nor read.
    let denied = client
        .create_task(authed(task_request(&incident_id), &other))
        .await
        .expect_err("other organisation");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .create_incident(authed(incident_request(ORG), &other))
        .await
        .expect_err("incident for another organisation");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: task.task_id.clone(),
                reason: "nicht meins".into(),
            },
            &other,
        ))
        .await
        .expect_err("cancel another organisation's task");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .close_incident(authed(
            CloseIncidentRequest {
                incident_id: incident_id.clone(),
            },
            &other,
        ))
        .await
        .expect_err("close another organisation's incident");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .get_task(authed(
            GetTaskRequest {
                task_id: task.task_id.clone(),
            },
            &other,
        ))
        .await
        .expect_err("read another organisation's task");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .list_incidents(authed(
            ListIncidentsRequest {
                organisation_id: ORG.into(),
                ..Default::default()
            },
            &other,
        ))
        .await
        .expect_err("list another organisation's incidents");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let own_only = client
        .list_incidents(authed(ListIncidentsRequest::default(), &other))
        .await
        .expect("own incidents")
        .into_inner();
    assert!(
        own_only.incidents.is_empty(),
        "no other organisation's incidents"
    );

    // The organisation's dashboard reads but never writes.
    let read = client
        .get_task(authed(
            GetTaskRequest {
                task_id: task.task_id.clone(),
            },
            &dashboard,
        ))
        .await
        .expect("dashboard reads");
    assert_eq!(read.into_inner().task.expect("task").task_id, task.task_id);
    client
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident_id.clone(),
                ..Default::default()
            },
            &dashboard,
        ))
        .await
        .expect("dashboard lists");
    client
        .get_incident(authed(
            GetIncidentRequest {
                incident_id: incident_id.clone(),
            },
            &dashboard,
        ))
        .await
        .expect("dashboard reads the incident");
    let denied = client
        .update_task(authed(
            UpdateTaskRequest {
                task: Some(Task {
                    task_id: task.task_id.clone(),
                    headcount: 3,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["headcount".into()],
                }),
                expected_version: 1,
            },
            &dashboard,
        ))
        .await
        .expect_err("dashboards are read-only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .create_incident(authed(incident_request(ORG), &dashboard))
        .await
        .expect_err("dashboards are read-only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = client
        .get_incident(authed(
            GetIncidentRequest {
                incident_id: incident_id.clone(),
            },
            &other_dashboard,
        ))
        .await
        .expect_err("another organisation's dashboard");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Volunteers have no business here; without a token nothing works.
    let denied = client
        .get_task(authed(
            GetTaskRequest {
                task_id: task.task_id.clone(),
            },
            &volunteer,
        ))
        .await
        .expect_err("volunteer");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let anonymous = client
        .get_task(Request::new(GetTaskRequest {
            task_id: task.task_id.clone(),
        }))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let anonymous = client
        .create_incident(Request::new(incident_request(ORG)))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let forged = client
        .list_incidents(authed(ListIncidentsRequest::default(), "not.a.token"))
        .await
        .expect_err("bad token");
    assert_eq!(forged.code(), Code::Unauthenticated);

    // Admins do everything, for every organisation.
    let theirs = client
        .create_incident(authed(incident_request(OTHER_ORG), &admin))
        .await
        .expect("admin opens for any organisation")
        .into_inner()
        .incident
        .expect("incident");
    assert_eq!(theirs.organisation_id, OTHER_ORG);
    let all = client
        .list_incidents(authed(ListIncidentsRequest::default(), &admin))
        .await
        .expect("admin lists all")
        .into_inner();
    assert_eq!(all.incidents.len(), 2);
    assert_eq!(
        all.incidents[0].incident_id, theirs.incident_id,
        "newest first"
    );
    client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: task.task_id.clone(),
                reason: "Einsatzleitung".into(),
            },
            &admin,
        ))
        .await
        .expect("admin cancels");
    app.stop().await;
}
