//! Bounds on `WatchMatchChanges`: streams per caller and per replica, the end of a stream with
//! its token and at its maximum age, and one head poller per incident shared by all of its
//! streams.

mod common;

use std::time::Duration;

use common::{ORG, TestApp, fast_settings};
use spontan_matching::MatchingSettings;
use spontan_matching::streams::{Head, StreamSettings, Streams};
use spontan_platform::auth::Role;
use spontan_platform::testkit::{authed, eventually, try_eventually};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Streaming};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn bounded(per_subject: usize, total: usize, max_stream_secs: u64) -> MatchingSettings {
    MatchingSettings {
        streams: StreamSettings {
            max_streams_per_subject: per_subject,
            max_streams: total,
            max_stream_secs,
        },
        ..fast_settings()
    }
}

async fn watch(
    client: &mut MatchingServiceClient<Channel>,
    token: &str,
    incident: Uuid,
) -> Result<Streaming<WatchMatchChangesResponse>, tonic::Status> {
    client
        .watch_match_changes(authed(
            WatchMatchChangesRequest {
                incident_id: incident.to_string(),
                after_sequence: 0,
                limit: 0,
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// An incident matching knows of (it learns of it from the task topic).
async fn known_incident(h: &TestApp) -> anyhow::Result<Uuid> {
    let incident = h.open_incident().await?;
    let token = h.dashboard_token();
    let client = h.client(0).await?;
    try_eventually(WAIT, "matching knows the incident", || {
        let mut client = client.clone();
        let token = token.clone();
        async move {
            let found = client
                .list_match_changes(authed(
                    ListMatchChangesRequest {
                        incident_id: incident.to_string(),
                        after_sequence: 0,
                        limit: 0,
                    },
                    &token,
                ))
                .await;
            Ok(found.is_ok().then_some(()))
        }
    })
    .await?;
    Ok(incident)
}

/// The status a stream ends with, reading until it ends (at most `within`).
async fn end_of(
    mut stream: Streaming<WatchMatchChangesResponse>,
    within: Duration,
) -> anyhow::Result<tonic::Status> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => anyhow::bail!("the stream did not end within {within:?}"),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => anyhow::bail!("the stream ended without an error"),
            Ok(Err(status)) => return Ok(status),
        }
    }
}

#[tokio::test]
async fn streams_are_capped_per_caller_and_per_replica() -> anyhow::Result<()> {
    let h = TestApp::spawn_with(bounded(3, 5, 3_600)).await?;
    let incident = known_incident(&h).await?;
    let mut client = h.client(0).await?;
    let screen = h.token("screen-a", Role::Dashboard);

    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(watch(&mut client, &screen, incident).await?);
    }
    let refused = watch(&mut client, &screen, incident)
        .await
        .expect_err("a fourth stream of one caller");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

    // Another caller has places of their own, up to the replica's total of five.
    let other = h.token("screen-b", Role::Dashboard);
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(watch(&mut client, &other, incident).await?);
    }
    let full = watch(&mut client, &other, incident)
        .await
        .expect_err("a sixth stream on the replica");
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");

    // A closed stream gives its place back.
    drop(open.pop());
    try_eventually(WAIT, "a place after a stream closed", || {
        let mut client = client.clone();
        let screen = screen.clone();
        async move { Ok(watch(&mut client, &screen, incident).await.ok()) }
    })
    .await?;

    // Refusals before admission take no place: a caller who may not read the incident.
    let stranger = h.issuer.issue(
        "screen-x",
        Role::Dashboard,
        Some("other-org"),
        Duration::from_secs(3600),
    )?;
    let denied = watch(&mut client, &stranger, incident)
        .await
        .expect_err("another organisation's incident");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    drop((open, others));
    Ok(())
}

#[tokio::test]
async fn a_stream_ends_with_its_token_and_at_its_maximum_age() -> anyhow::Result<()> {
    let h = TestApp::spawn_with(bounded(8, 100, 10)).await?;
    let incident = known_incident(&h).await?;
    let mut client = h.client(0).await?;

    // A token with five seconds left: the stream ends when it does, long before its age.
    let short = h.issuer.issue(
        "screen-short",
        Role::Dashboard,
        Some(ORG),
        Duration::from_secs(5),
    )?;
    let opened = tokio::time::Instant::now();
    let stream = watch(&mut client, &short, incident).await?;
    let ended = end_of(stream, Duration::from_secs(20)).await?;
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert!(
        opened.elapsed() >= Duration::from_secs(3),
        "ended after {:?}, before the token did",
        opened.elapsed()
    );

    // A token for an hour: the stream ends at its maximum age (10 s here), retryably.
    let long = h.dashboard_token();
    let opened = tokio::time::Instant::now();
    let stream = watch(&mut client, &long, incident).await?;
    let ended = end_of(stream, Duration::from_secs(30)).await?;
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    let age = opened.elapsed();
    assert!(age >= Duration::from_secs(9), "ended after {age:?}");
    Ok(())
}

#[tokio::test]
async fn the_streams_of_an_incident_share_one_head_poller() -> anyhow::Result<()> {
    let h = TestApp::spawn().await?;
    let incident = known_incident(&h).await?;
    let head: i64 = sqlx::query_scalar("SELECT last_sequence FROM incidents WHERE id = $1")
        .bind(incident)
        .fetch_one(&h.pool)
        .await?;
    let first = Head {
        last_sequence: head,
        closed: false,
    };
    let shutdown = CancellationToken::new();
    let streams = Streams::new(StreamSettings::default(), h.pool.clone(), shutdown.clone());

    let mut receivers: Vec<_> = (0..20).map(|_| streams.head(incident, first)).collect();
    assert_eq!(streams.pollers(), 1, "one poller for twenty streams");
    let elsewhere = streams.head(Uuid::now_v7(), first);
    assert_eq!(streams.pollers(), 2, "one more for another incident");
    drop(elsewhere);

    // A change to the incident's head reaches every stream through the one poller.
    sqlx::query("UPDATE incidents SET last_sequence = last_sequence + 1 WHERE id = $1")
        .bind(incident)
        .execute(&h.pool)
        .await?;
    for receiver in &mut receivers {
        tokio::time::timeout(WAIT, receiver.changed()).await??;
        assert_eq!(receiver.borrow().last_sequence, head + 1);
    }

    // The poller stops with its last stream.
    drop(receivers);
    eventually(WAIT, "the pollers stopped", || async {
        (streams.pollers() == 0).then_some(())
    })
    .await;
    shutdown.cancel();
    Ok(())
}
