//! The dashboard feed across replicas: a poll or a stream served by one instance sees, at
//! once, a change that another instance wrote; cursors beyond the head and callers of another
//! organisation are refused.

mod common;

use std::time::Duration;

use common::TestApp;
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

async fn poll(
    client: &mut MatchingServiceClient<Channel>,
    token: &str,
    incident: Uuid,
    after_sequence: u64,
) -> Result<ListMatchChangesResponse, tonic::Status> {
    client
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence,
                limit: 0,
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Follows the log from the start to its head; returns the head.
async fn head(
    client: &mut MatchingServiceClient<Channel>,
    token: &str,
    incident: Uuid,
) -> anyhow::Result<u64> {
    let mut cursor = 0;
    loop {
        let page = poll(client, token, incident, cursor).await?;
        cursor = page.next_after_sequence;
        if !page.has_more {
            return Ok(cursor);
        }
    }
}

/// The head as PostgreSQL has it.
async fn last_sequence(h: &TestApp, incident: Uuid) -> anyhow::Result<u64> {
    let last: i64 = sqlx::query_scalar("SELECT last_sequence FROM incidents WHERE id = $1")
        .bind(incident)
        .fetch_one(&h.pool)
        .await?;
    Ok(u64::try_from(last)?)
}

/// Polls `reader` at the head (nothing new, twice, so whatever it could remember is at the
/// head), lets `writer` accept `offer` of `volunteer`, and asserts that the very next poll
/// of `reader`, after the old head, returns that acceptance as the next change.
async fn accept_on_one_and_poll_the_other(
    h: &TestApp,
    incident: Uuid,
    (reader, writer): (usize, usize),
    volunteer: Uuid,
    offer: &Offer,
) -> anyhow::Result<()> {
    let token = h.dashboard_token();
    let mut reader_client = h.client(reader).await?;
    let mut writer_client = h.client(writer).await?;
    // Matching may still be writing (offers of the other task volunteers); wait for quiet.
    let before = try_eventually(WAIT, "a quiet change log", || async {
        let a = last_sequence(h, incident).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok((a == last_sequence(h, incident).await?).then_some(a))
    })
    .await?;
    assert_eq!(head(&mut reader_client, &token, incident).await?, before);
    for _ in 0..2 {
        let empty = poll(&mut reader_client, &token, incident, before).await?;
        assert!(empty.changes.is_empty() && !empty.has_more, "{empty:?}");
        assert_eq!(empty.next_after_sequence, before);
    }

    let answered = writer_client
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: offer.match_id.clone(),
                decision: OfferDecision::Accept as i32,
                decline_reason: 0,
            },
            &h.volunteer_token(volunteer),
        ))
        .await?
        .into_inner();
    assert_eq!(
        answered.offer.map(|o| o.state()),
        Some(MatchState::Accepted)
    );

    let page = poll(&mut reader_client, &token, incident, before).await?;
    let first = page.changes.first().unwrap_or_else(|| {
        panic!("instance {reader} answered nothing new after instance {writer} wrote a change")
    });
    assert_eq!(first.sequence, before + 1, "{page:?}");
    let accepted = page
        .changes
        .iter()
        .find(|c| c.match_id == offer.match_id)
        .unwrap_or_else(|| panic!("the acceptance is not in the page: {page:?}"));
    assert_eq!(accepted.state(), MatchState::Accepted);
    assert_eq!(accepted.previous_state(), MatchState::Offered);
    assert!(page.next_after_sequence > before);
    Ok(())
}

#[tokio::test]
async fn a_poll_on_one_replica_sees_a_change_another_replica_just_wrote() -> anyhow::Result<()> {
    let mut h = TestApp::spawn().await?;
    h.spawn_instance().await?;
    let incident = h.open_incident().await?;
    let a = h.add_volunteer(1.0, |_| {}).await?;
    let b = h.add_volunteer(2.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 2).await?;
    let task = h.task(incident, 2);
    h.publish_task(&task).await?;
    let offer = |v: Uuid| {
        let h = &h;
        async move {
            try_eventually(WAIT, "an offer", || async {
                Ok(h.offers(v, false)
                    .await?
                    .into_iter()
                    .find(|o| o.state() == MatchState::Offered))
            })
            .await
        }
    };
    let (offer_a, offer_b) = (offer(a).await?, offer(b).await?);

    // Instance 1 writes, instance 0 reads; then the other way round.
    accept_on_one_and_poll_the_other(&h, incident, (0, 1), a, &offer_a).await?;
    accept_on_one_and_poll_the_other(&h, incident, (1, 0), b, &offer_b).await?;
    Ok(())
}

#[tokio::test]
async fn a_stream_on_one_replica_delivers_a_change_another_replica_wrote() -> anyhow::Result<()> {
    let mut h = TestApp::spawn().await?;
    h.spawn_instance().await?;
    let incident = h.open_incident().await?;
    let v = h.add_volunteer(1.0, |_| {}).await?;
    h.wait_for_volunteers(incident, 1).await?;
    h.publish_task(&h.task(incident, 1)).await?;
    let offer = try_eventually(WAIT, "an offer", || async {
        Ok(h.offers(v, false)
            .await?
            .into_iter()
            .find(|o| o.state() == MatchState::Offered))
    })
    .await?;
    let token = h.dashboard_token();
    let mut reader = h.client(0).await?;
    let start = head(&mut reader, &token, incident).await?;
    let mut stream = reader
        .watch_match_changes(authed(
            WatchMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence: start,
                limit: 0,
            },
            &token,
        ))
        .await?
        .into_inner();

    let mut writer = h.client(1).await?;
    writer
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: offer.match_id.clone(),
                decision: OfferDecision::Accept as i32,
                decline_reason: 0,
            },
            &h.volunteer_token(v),
        ))
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let batch = tokio::time::timeout_at(deadline, stream.message())
            .await
            .map_err(|_| anyhow::anyhow!("the stream never delivered the acceptance"))??
            .ok_or_else(|| anyhow::anyhow!("the stream ended"))?;
        if let Some(change) = batch
            .changes
            .iter()
            .find(|c| c.match_id == offer.match_id && c.state() == MatchState::Accepted)
        {
            assert!(change.sequence > start);
            return Ok(());
        }
    }
}

#[tokio::test]
async fn a_cursor_beyond_the_head_and_other_organisations_are_refused() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = h.open_incident().await?;
    h.wait_for_volunteers(incident, 0).await?;
    let mut client = h.client(0).await?;
    let token = h.dashboard_token();

    let empty = poll(&mut client, &token, incident, 0).await?;
    assert!(empty.changes.is_empty() && !empty.has_more);
    assert_eq!(empty.next_after_sequence, 0);

    let ahead = poll(&mut client, &token, incident, 1)
        .await
        .expect_err("a cursor beyond the head");
    assert_eq!(ahead.code(), tonic::Code::FailedPrecondition);
    assert!(ahead.message().starts_with("CURSOR_AHEAD"), "{ahead:?}");
    let ahead = client
        .watch_match_changes(authed(
            WatchMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence: 1,
                limit: 0,
            },
            &token,
        ))
        .await
        .expect_err("a stream from beyond the head");
    assert_eq!(ahead.code(), tonic::Code::FailedPrecondition);

    let other = h
        .issuer
        .issue(
            "screen-9",
            Role::Dashboard,
            Some("drk-hamburg"),
            Duration::from_secs(60),
        )
        .expect("token");
    for token in [other, h.volunteer_token(Uuid::new_v4())] {
        // Also with a cursor beyond the head: access is decided before the cursor.
        for after in [0, 1] {
            let denied = poll(&mut client, &token, incident, after)
                .await
                .expect_err("not theirs to read");
            assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        }
    }
    let missing = poll(&mut client, &h.dashboard_token(), Uuid::now_v7(), 0)
        .await
        .expect_err("no such incident");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    Ok(())
}
