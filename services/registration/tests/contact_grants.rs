//! GetVolunteerContact follows what matching decided (issue #19, item 6): matching's contact
//! grant opens the contact of a match whose acceptance has not reached registration yet, for
//! the grant's organisation only, never for another match, never with another key, and never
//! against a later state registration knows.

mod common;

use std::time::Duration;

use common::*;
use spontan_platform::auth::grant::{ContactGrant, GrantSigner};
use spontan_platform::auth::{AuthConfig, Role, generate_signing_key};
use spontan_platform::secret::Secret;
use spontan_platform::testkit::authed;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

fn grant_for(signer: &GrantSigner, s: &MatchSnapshot) -> String {
    signer
        .sign(&ContactGrant {
            match_id: s.match_id.parse().expect("uuid"),
            task_id: s.task_id.parse().expect("uuid"),
            volunteer_id: s.volunteer_id.parse().expect("uuid"),
            organisation_id: s.organisation_id.clone(),
        })
        .expect("signed")
}

fn ask(s: &MatchSnapshot, grant: &str) -> GetVolunteerContactRequest {
    GetVolunteerContactRequest {
        match_id: s.match_id.clone(),
        contact_grant: grant.to_owned(),
    }
}

#[tokio::test]
async fn a_grant_from_matching_opens_the_contact_before_the_event_arrives() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let signer = GrantSigner::from_config(&app.config.platform.auth)
        .expect("key")
        .expect("the test configuration has a grant key");
    let token = |subject: &str, role, organisation: Option<&str>| {
        app.issuer
            .issue(subject, role, organisation, Duration::from_secs(600))
            .expect("token")
    };
    let coordinator = token("einsatzleiter-7", Role::Coordinator, Some("thw-ahrweiler"));
    let other_org = token(
        "einsatzleiterin-2",
        Role::Coordinator,
        Some("drk-ahrweiler"),
    );

    // Matching accepted this match; registration has not heard of it.
    let unseen = match_snapshot(&me.volunteer_id, MatchState::Accepted, MatchState::Offered);
    let grant = grant_for(&signer, &unseen);

    let without = client
        .get_volunteer_contact(authed(ask(&unseen, ""), &coordinator))
        .await
        .expect_err("without a grant registration knows no such match");
    assert_eq!(without.code(), Code::NotFound);

    let contact = client
        .get_volunteer_contact(authed(ask(&unseen, &grant), &coordinator))
        .await
        .expect("the grant stands for the acceptance")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(
        contact.phone_e164,
        valid_request().contact.expect("c").phone_e164
    );

    let refused = client
        .get_volunteer_contact(authed(ask(&unseen, &grant), &other_org))
        .await
        .expect_err("the grant is for the match's organisation only");
    assert_eq!(refused.code(), Code::PermissionDenied);

    let another_match = match_snapshot(&me.volunteer_id, MatchState::Accepted, MatchState::Offered);
    let borrowed = client
        .get_volunteer_contact(authed(ask(&another_match, &grant), &coordinator))
        .await
        .expect_err("a grant for one match opens no other");
    assert_eq!(borrowed.code(), Code::NotFound);

    let foreign = GrantSigner::from_config(&AuthConfig {
        contact_grant_key: Secret::new(generate_signing_key()),
        ..AuthConfig::default()
    })
    .expect("key")
    .expect("signer");
    let forged = client
        .get_volunteer_contact(authed(
            ask(&unseen, &grant_for(&foreign, &unseen)),
            &coordinator,
        ))
        .await
        .expect_err("a grant signed with another key counts for nothing");
    assert_eq!(forged.code(), Code::NotFound);

    // The read through the grant is audited with its task and organisation.
    let admin = token("admin-1", Role::Admin, None);
    let reads = client
        .list_contact_reads(authed(
            ListContactReadsRequest {
                task_ids: vec![unseen.task_id.clone()],
                after_id: 0,
                limit: 0,
            },
            &admin,
        ))
        .await
        .expect("listed")
        .into_inner()
        .reads;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].match_id, unseen.match_id);
    assert_eq!(reads[0].organisation_id, "thw-ahrweiler");
    assert_eq!(reads[0].reader_subject, "einsatzleiter-7");
}

/// Waits until registration has applied the match's latest event: asked without a grant, it
/// answers `FAILED_PRECONDITION` instead of `NOT_FOUND`.
async fn until_seen(app: &TestApp, s: &MatchSnapshot, token: &str) {
    let mut client = app.client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .get_volunteer_contact(authed(ask(s, ""), token))
            .await
        {
            Err(e) if e.code() == Code::FailedPrecondition => return,
            Err(e) if e.code() == Code::NotFound => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "match never seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_grant_bridges_an_offer_but_never_overrides_a_cancellation() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let signer = GrantSigner::from_config(&app.config.platform.auth)
        .expect("key")
        .expect("signer");
    let coordinator = app
        .issuer
        .issue(
            "einsatzleiter-7",
            Role::Coordinator,
            Some("thw-ahrweiler"),
            Duration::from_secs(600),
        )
        .expect("token");

    // Registration knows the match as offered; matching has since seen it accepted.
    let offered = match_snapshot(&me.volunteer_id, MatchState::Offered, MatchState::Proposed);
    let event = Payload::MatchOffered(MatchOffered {
        snapshot: Some(offered.clone()),
        ..Default::default()
    });
    app.publish_snapshot(&offered, 2, event).await;
    until_seen(&app, &offered, &coordinator).await;
    client
        .get_volunteer_contact(authed(
            ask(&offered, &grant_for(&signer, &offered)),
            &coordinator,
        ))
        .await
        .expect("accepted in matching, offered as far as registration knows: the grant counts");

    // Registration knows the match as cancelled: a grant from before does not bring it back.
    let cancelled = match_snapshot(
        &me.volunteer_id,
        MatchState::Cancelled,
        MatchState::Accepted,
    );
    let event = Payload::MatchCancelled(MatchCancelled {
        snapshot: Some(cancelled.clone()),
        ..Default::default()
    });
    app.publish_snapshot(&cancelled, 4, event).await;
    until_seen(&app, &cancelled, &coordinator).await;
    let refused = client
        .get_volunteer_contact(authed(
            ask(&cancelled, &grant_for(&signer, &cancelled)),
            &coordinator,
        ))
        .await
        .expect_err("a later state registration knows wins over a grant");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("not accepted"),
        "{}",
        refused.message()
    );
}
