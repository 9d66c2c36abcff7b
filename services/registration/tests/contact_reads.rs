//! Who read which volunteer's contact, as admins list it per task: every GetVolunteerContact
//! of a coordinator is there with the match and task, reads of other tasks stay out, and
//! only admins may list.

mod common;

use std::time::Duration;

use common::*;
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

#[tokio::test]
async fn admins_list_the_contact_reads_of_their_tasks() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let accepted = match_snapshot(&me.volunteer_id, MatchState::Accepted, MatchState::Offered);
    let accepted_event = Payload::MatchAccepted(MatchAccepted {
        snapshot: Some(accepted.clone()),
    });
    app.publish_snapshot(&accepted, 3, accepted_event).await;
    let token = |subject: &str, role, organisation: Option<&str>| {
        app.issuer
            .issue(subject, role, organisation, Duration::from_secs(600))
            .expect("token")
    };
    let coordinator = token("einsatzleiter-7", Role::Coordinator, Some("thw-ahrweiler"));
    let ask = GetVolunteerContactRequest {
        match_id: accepted.match_id.clone(),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .get_volunteer_contact(authed(ask.clone(), &coordinator))
            .await
        {
            Ok(_) => break,
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => panic!("unexpected {s:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "match never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let admin = token("admin-1", Role::Admin, None);
    let list = |task_ids: Vec<String>| ListContactReadsRequest {
        task_ids,
        after_id: 0,
        limit: 0,
    };
    let reads = client
        .list_contact_reads(authed(list(vec![accepted.task_id.clone()]), &admin))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(reads.reads.len(), 1);
    let read = &reads.reads[0];
    assert_eq!(read.reader_subject, "einsatzleiter-7");
    assert_eq!(read.match_id, accepted.match_id);
    assert_eq!(read.task_id, accepted.task_id);
    assert_eq!(read.organisation_id, "thw-ahrweiler");
    assert_eq!(reads.next_after_id, read.id);

    let elsewhere = client
        .list_contact_reads(authed(list(vec![uuid::Uuid::new_v4().to_string()]), &admin))
        .await
        .expect("listed")
        .into_inner();
    assert!(elsewhere.reads.is_empty(), "another task's reads stay out");
    let refused = client
        .list_contact_reads(authed(list(vec![accepted.task_id.clone()]), &coordinator))
        .await
        .expect_err("admins only");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = client
        .list_contact_reads(authed(list(vec!["nope".into()]), &admin))
        .await
        .expect_err("no UUID");
    assert_eq!(violated_fields(&bad), ["task_ids[0]"]);
}
