//! Retention over real gRPC, PostgreSQL and the broker, with a clock the test moves: after
//! `privacy.retention_days` without activity a volunteer is erased exactly as `EraseMe`
//! erases (reason `retention`, `VolunteerErased` and a tombstone on the topic); a recent
//! token, match event or profile change keeps a volunteer; a second sweep changes nothing.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use common::*;
use prost::Message;
use spontan_platform::events::{envelope, timestamp};
use spontan_platform::testkit::authed;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use spontan_registration::clock::{Clock, ManualClock};
use spontan_registration::retention;
use spontan_registration::volunteers::Registry;
use tonic::Code;
use uuid::Uuid;

const DAYS: u32 = 730;

/// Registers with availability in the week after `at` (the service's clock time).
async fn register_at(
    app: &TestApp,
    name: &str,
    phone: &str,
    at: chrono::DateTime<Utc>,
) -> RegisterResponse {
    let request = RegisterRequest {
        availability: vec![TimeWindow {
            start_time: Some(ts(at + chrono::Duration::hours(1))),
            end_time: Some(ts(at + chrono::Duration::days(7))),
        }],
        ..named_request(name, phone)
    };
    app.register(request).await
}

/// A `MatchCompleted` for `volunteer_id` that happened at `at`, as matching publishes it.
async fn match_completed(app: &TestApp, volunteer_id: &str, at: chrono::DateTime<Utc>) {
    let snapshot = match_snapshot(volunteer_id, MatchState::Completed, MatchState::CheckedIn);
    let mut event = envelope(
        snapshot.match_id.clone(),
        5,
        Payload::MatchCompleted(MatchCompleted {
            snapshot: Some(snapshot.clone()),
        }),
    );
    event.occurred_at = Some(timestamp(at));
    app.publish_match(&snapshot.task_id, &event).await;
}

/// Status, whether contact data is still stored, and the retention audits of `id`.
async fn stored(app: &TestApp, id: &str) -> (String, bool, i64) {
    let id = Uuid::parse_str(id).expect("uuid");
    let (status, sealed): (String, bool) = sqlx::query_as(
        "SELECT status, contact_ciphertext IS NOT NULL AND wrapped_key IS NOT NULL \
         FROM volunteers WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("row");
    let audits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM erasure_audit WHERE volunteer_id = $1 AND reason = 'retention'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    (status, sealed, audits)
}

fn event_type(raw: &Option<Vec<u8>>) -> String {
    match raw {
        None => "tombstone".into(),
        Some(bytes) => {
            EventEnvelope::decode(bytes.as_slice())
                .expect("envelope")
                .event_type
        }
    }
}

#[tokio::test]
async fn inactive_volunteers_are_erased_once_and_active_ones_kept() {
    let t0 = Utc::now().trunc_subsecs(6);
    let clock = ManualClock::starting_at(t0);
    let app = TestApp::spawn_with_clock(
        |c| {
            c.privacy.retention_days = DAYS;
            // The background sweep runs once at start (nothing is due at t0); the test sweeps.
            c.privacy.retention_sweep_secs = 24 * 3600;
        },
        Arc::new(clock.clone()),
    )
    .await;
    let registry = Registry::from_config(app.pool.clone(), &app.config, Arc::new(clock.clone()))
        .expect("registry");
    let mut client = app.client().await;

    let idle = register_at(&app, "Ida Idle", "+4915100000001", t0).await;
    let renews = register_at(&app, "Rene Renew", "+4915100000002", t0).await;
    let helped = register_at(&app, "Hella Helped", "+4915100000003", t0).await;
    let paused = register_at(&app, "Paula Paused", "+4915100000004", t0).await;

    // One opens the app every 100 days: each refresh keeps the session (180 days) going.
    let mut refresh_token = renews.refresh_token.clone();
    for day in (100..=700).step_by(100) {
        clock.set(t0 + chrono::Duration::days(day));
        refresh_token = client
            .refresh_session(RefreshSessionRequest { refresh_token })
            .await
            .expect("session refreshed")
            .into_inner()
            .refresh_token;
    }
    // 700 days later two more do something: finish a match (the event says when), pause.
    // The fourth registers only now.
    match_completed(&app, &helped.volunteer_id, clock.now()).await;
    client
        .pause_me(authed(PauseMeRequest {}, &paused.access_token))
        .await
        .expect("paused");
    let recent = register_at(&app, "Rita Recent", "+4915100000005", clock.now()).await;
    let helped_id = Uuid::parse_str(&helped.volunteer_id).expect("uuid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM matches_seen WHERE volunteer_id = $1")
        .bind(helped_id)
        .fetch_one(&app.pool)
        .await
        .expect("matches")
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "match event never consumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An hour short of the period for the idle volunteer: nothing is due.
    clock.set(t0 + chrono::Duration::days(i64::from(DAYS)) - chrono::Duration::hours(1));
    let early = retention::sweep(&registry, DAYS).await.expect("sweep");
    assert!(early.erased.is_empty(), "erased too early: {early:?}");

    // Past the period for the idle volunteer, 31 days after the others' activity.
    clock.set(t0 + chrono::Duration::days(i64::from(DAYS) + 1));
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let first = retention::sweep(&registry, DAYS).await.expect("sweep");
    assert_eq!(
        first.erased,
        vec![Uuid::parse_str(&idle.volunteer_id).expect("uuid")],
        "exactly the idle volunteer is erased"
    );
    assert_eq!(
        stored(&app, &idle.volunteer_id).await,
        ("erased".into(), false, 1)
    );
    for kept in [&renews, &helped, &recent] {
        assert_eq!(
            stored(&app, &kept.volunteer_id).await,
            ("active".into(), true, 0)
        );
    }
    assert_eq!(
        stored(&app, &paused.volunteer_id).await,
        ("paused".into(), true, 0)
    );
    let status = client
        .get_my_profile(authed(GetMyProfileRequest {}, &idle.access_token))
        .await
        .expect_err("erased volunteer's token is refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    client
        .get_my_profile(authed(GetMyProfileRequest {}, &renews.access_token))
        .await
        .expect("kept volunteer still served");

    // The erasure went out: VolunteerErased, then the tombstone, after the volunteer's
    // earlier records (registration, and a yearly republish if the sweeps crossed a new year).
    let mut types = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while types.last().map(String::as_str) != Some("tombstone") {
        let record = records_for(&mut topic, &idle.volunteer_id, 1, Duration::from_secs(1)).await;
        types.extend(record.iter().map(event_type));
        assert!(
            tokio::time::Instant::now() < deadline,
            "no tombstone for the idle volunteer; records: {types:?}"
        );
    }
    assert_eq!(
        types.first().map(String::as_str),
        Some("spontan.v1.VolunteerRegistered")
    );
    assert_eq!(
        types[types.len() - 2..],
        ["spontan.v1.VolunteerErased", "tombstone"],
        "the idle volunteer's records: {types:?}"
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "spontan.v1.VolunteerErased")
            .count(),
        1
    );

    // Idempotent: a second sweep erases nobody, audits nothing new, publishes nothing new.
    let second = retention::sweep(&registry, DAYS).await.expect("sweep");
    assert!(second.erased.is_empty(), "second sweep erased {second:?}");
    assert_eq!(
        stored(&app, &idle.volunteer_id).await,
        ("erased".into(), false, 1)
    );
    let more = records_for(&mut topic, &idle.volunteer_id, 1, Duration::from_secs(2)).await;
    assert!(more.is_empty(), "second sweep published {more:?}");

    // Everyone else is due once the period has passed since their last activity too.
    clock.set(t0 + chrono::Duration::days(700 + i64::from(DAYS) + 1));
    let last = retention::sweep(&registry, DAYS).await.expect("sweep");
    assert_eq!(last.erased.len(), 4, "{last:?}");
    app.stop().await;
}
