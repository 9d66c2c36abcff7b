//! What staff see over real gRPC, PostgreSQL and the broker: a volunteer's pseudonym per task,
//! so that one person's matches cannot be put together across tasks (the distance bands and
//! the missing score are checked in `offers.rs` and the access matrix), and the audit trail
//! of what staff did, for admins.

mod common;

use std::time::Duration;

use common::TestApp;
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::*;

#[tokio::test]
async fn pseudonyms_differ_between_tasks() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let volunteer = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    let morning = h.task(incident, 1);
    // Later the same day, so that one person can take both.
    let mut afternoon = h.task(incident, 1);
    afternoon.window = Some(TimeWindow {
        start_time: Some(spontan_platform::events::timestamp(
            h.window.1 + chrono::Duration::hours(1),
        )),
        end_time: Some(spontan_platform::events::timestamp(
            h.window.1 + chrono::Duration::hours(3),
        )),
    });
    h.publish_task(&morning).await?;
    h.publish_task(&afternoon).await?;
    try_eventually(Duration::from_secs(30), "offers of both tasks", || async {
        let offered = h.offers(volunteer, false).await?;
        Ok((offered.len() == 2).then_some(()))
    })
    .await?;

    let mut refs = Vec::new();
    for task in [&morning, &afternoon] {
        let staffing = h.staffing(&task.task_id).await?;
        let [only] = staffing.matches.as_slice() else {
            anyhow::bail!("one match on {}: {:?}", task.task_id, staffing.matches);
        };
        assert!(
            only.volunteer_ref.starts_with("v-"),
            "{}",
            only.volunteer_ref
        );
        refs.push(only.volunteer_ref.clone());
    }
    assert_ne!(
        refs[0], refs[1],
        "the same volunteer has another pseudonym on every task"
    );
    Ok(())
}

#[tokio::test]
async fn admins_read_what_staff_did_in_an_incident() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    let volunteer = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    let task = h.task(incident, 1);
    h.publish_task(&task).await?;
    let offer = h.current_offer(volunteer).await?;
    h.respond(volunteer, &offer.match_id, OfferDecision::Accept)
        .await?;
    let mut client = h.client(0).await?;
    // A no-show marked by the coordinator, then an optimisation applied.
    client
        .complete_match(authed(
            CompleteMatchRequest {
                match_id: offer.match_id.clone(),
                outcome: MatchOutcome::NoShow as i32,
            },
            &h.coordinator_token(),
        ))
        .await?;
    client
        .optimize_incident(authed(
            OptimizeIncidentRequest {
                incident_id: incident.to_string(),
                dry_run: false,
                ..Default::default()
            },
            &h.coordinator_token(),
        ))
        .await?;

    let ask = |after_id, limit| ListAuditEntriesRequest {
        incident_id: incident.to_string(),
        after_id,
        limit,
    };
    let admin = h.token("betrieb", Role::Admin);
    let first = client
        .list_audit_entries(authed(ask(0, 1), &admin))
        .await?
        .into_inner();
    let [no_show] = first.entries.as_slice() else {
        anyhow::bail!("one entry per page: {:?}", first.entries);
    };
    assert_eq!(
        (
            no_show.actor_subject.as_str(),
            no_show.actor_role.as_str(),
            no_show.action.as_str(),
            no_show.match_id.as_str()
        ),
        (
            "coordinator-1",
            "coordinator",
            "match.no_show",
            offer.match_id.as_str()
        )
    );
    let details: serde_json::Value = serde_json::from_str(&no_show.details_json)?;
    assert_eq!(details["task_id"], task.task_id.as_str());
    let second = client
        .list_audit_entries(authed(ask(first.next_after_id, 0), &admin))
        .await?
        .into_inner();
    let actions: Vec<&str> = second.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["incident.optimized"]);
    assert!(second.entries[0].match_id.is_empty());

    // Only admins read it; a bad request is refused at its fields.
    let refused = client
        .list_audit_entries(authed(ask(0, 0), &h.coordinator_token()))
        .await
        .expect_err("a coordinator does not read the trail");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let bad = client
        .list_audit_entries(authed(
            ListAuditEntriesRequest {
                incident_id: "nope".into(),
                after_id: -1,
                limit: 501,
            },
            &admin,
        ))
        .await
        .expect_err("invalid");
    assert_eq!(
        spontan_platform::testkit::violated_fields(&bad),
        ["incident_id", "limit", "after_id"]
    );
    let unknown = client
        .list_audit_entries(authed(
            ListAuditEntriesRequest {
                incident_id: uuid::Uuid::new_v4().to_string(),
                ..ask(0, 0)
            },
            &admin,
        ))
        .await
        .expect_err("unknown incident");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    Ok(())
}
