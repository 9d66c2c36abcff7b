//! The audit trail of an incident as admins read it: what coordinators did to the incident
//! and its tasks, oldest first, a page at a time; nobody else may read it, and another
//! incident's entries stay out.

use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::*;
use tonic::Code;

use crate::common::*;

fn page(incident_id: &str, after_id: i64, limit: u32) -> ListTaskAuditEntriesRequest {
    ListTaskAuditEntriesRequest {
        incident_id: incident_id.to_owned(),
        after_id,
        limit,
    }
}

#[tokio::test]
async fn admins_read_what_staff_did_to_an_incident_and_its_tasks() {
    let app = TestApp::spawn().await.expect("service");
    let mut client = app.client.clone();
    let incident = app.incident().await;
    let task = app.task(&incident, 2).await;
    let other_incident = app.incident().await;
    let _elsewhere = app.task(&other_incident, 1).await;
    client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: task.task_id.clone(),
                reason: "Deich hält".into(),
            },
            &app.coordinator(),
        ))
        .await
        .expect("cancelled");

    let admin = app.token("admin-1", Role::Admin, None);
    let first = client
        .list_task_audit_entries(authed(page(&incident, 0, 2), &admin))
        .await
        .expect("first page")
        .into_inner();
    let rest = client
        .list_task_audit_entries(authed(page(&incident, first.next_after_id, 0), &admin))
        .await
        .expect("next page")
        .into_inner();
    let entries: Vec<_> = first.entries.iter().chain(&rest.entries).collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.entity_id.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("incident.opened", incident.as_str()),
            ("task.created", task.task_id.as_str()),
            ("task.cancelled", task.task_id.as_str()),
        ],
        "this incident's entries only, oldest first"
    );
    assert!(entries.iter().all(|e| e.actor_subject == "coordinator-1"
        && e.actor_role == "coordinator"
        && e.organisation_id == ORG));
    assert!(entries[2].details_json.contains("Deich hält"));
    assert_eq!(rest.next_after_id, entries[2].id);

    for token in [
        app.coordinator(),
        app.token("leitstelle", Role::Dashboard, Some(ORG)),
    ] {
        let refused = client
            .list_task_audit_entries(authed(page(&incident, 0, 0), &token))
            .await
            .expect_err("admins only");
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    let bad = client
        .list_task_audit_entries(authed(page("nope", -1, 501), &admin))
        .await
        .expect_err("bad request");
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["after_id", "incident_id", "limit"]);
    let unknown = client
        .list_task_audit_entries(authed(
            page(&uuid::Uuid::new_v4().to_string(), 0, 0),
            &admin,
        ))
        .await
        .expect_err("unknown incident");
    assert_eq!(unknown.code(), Code::NotFound);
    app.stop().await;
}
