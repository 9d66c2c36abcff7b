//! The group commit of registrations over real gRPC and PostgreSQL: a burst of concurrent
//! `Register` calls shares transactions and loses nothing (rows, windows, tokens, events,
//! duplicate links, idempotent retries), and one registration the database refuses fails alone.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use spontan_proto::v1::*;
use tonic::Code;
use uuid::Uuid;

/// A stored volunteer: id, skills, languages, the earlier volunteer it duplicates.
type StoredRow = (Uuid, Vec<String>, Vec<String>, Option<Uuid>);

const BURST: usize = 120;

/// `BURST` registrations: every fifth shares its phone with the one before, every third has
/// two windows, and each sixth is sent three times at once under one idempotency key.
fn burst() -> Vec<RegisterRequest> {
    (0..BURST)
        .map(|i| {
            let mut r = valid_request();
            let contact = r.contact.as_mut().expect("contact");
            let phone_of = if i % 5 == 4 { i - 1 } else { i };
            contact.phone_e164 = format!("+49151{:08}", 10_000 + phone_of);
            contact.email = format!("v{i}@example.org");
            r.skill_ids = match i % 3 {
                0 => vec!["first_aid".into()],
                1 => vec!["sandbag_filling".into(), "chainsaw".into()],
                _ => vec![
                    "cooking".into(),
                    "first_aid".into(),
                    "driving_licence_b".into(),
                ],
            };
            r.languages = if i % 2 == 0 {
                vec!["de".into()]
            } else {
                vec!["de".into(), "en".into(), "uk".into()]
            };
            if i % 3 == 0 {
                let mut later = r.availability[0];
                let shift = |t: &prost_types::Timestamp| prost_types::Timestamp {
                    seconds: t.seconds + 86_400,
                    nanos: 0,
                };
                later.start_time = later.start_time.as_ref().map(shift);
                later.end_time = later.end_time.as_ref().map(shift);
                r.availability.push(later);
            }
            r
        })
        .collect()
}

#[tokio::test]
async fn a_burst_of_registrations_shares_commits_and_loses_nothing() {
    burst_through(1).await;
}

#[tokio::test]
async fn a_burst_through_concurrent_writers_loses_nothing() {
    burst_through(4).await;
}

/// Sends the burst through `writers` writers. With one, batches commit one after the other
/// and every shared phone is linked; with several, two registrations in batches committing
/// at the same moment cannot see each other (as two single transactions could not), so a
/// pair may stay unlinked, but never both linked.
async fn burst_through(writers: u32) {
    let app = TestApp::spawn_with(|c| {
        c.register_limit.burst = 10_000;
        c.register_limit.global_burst = 10_000;
        c.register_commit.writers = writers;
        c.register_commit.max_batch = 32;
    })
    .await;
    let client = app.client().await;
    let requests = burst();
    let mut calls = tokio::task::JoinSet::new();
    for (i, request) in requests.iter().enumerate() {
        let sends = if i % 6 == 0 { 3 } else { 1 };
        for _ in 0..sends {
            let (mut c, r) = (client.clone(), request.clone());
            calls.spawn(async move { (i, c.register(r).await) });
        }
    }
    let mut ids: HashMap<usize, HashSet<String>> = HashMap::new();
    while let Some(joined) = calls.join_next().await {
        let (i, answer) = joined.expect("join");
        let answer = answer.unwrap_or_else(|s| panic!("registration {i}: {s:?}"));
        ids.entry(i)
            .or_default()
            .insert(answer.into_inner().volunteer_id);
    }
    assert_eq!(ids.len(), BURST);
    for (i, answered) in &ids {
        assert_eq!(
            answered.len(),
            1,
            "registration {i} got several ids: {answered:?}"
        );
    }
    let id_of = |i: usize| -> Uuid { ids[&i].iter().next().expect("id").parse().expect("uuid") };

    // Every row as the request said, through the batch's array encoding.
    let rows: Vec<StoredRow> =
        sqlx::query_as("SELECT id, skill_ids, languages, duplicate_of FROM volunteers")
            .fetch_all(&app.pool)
            .await
            .expect("rows");
    assert_eq!(
        rows.len(),
        BURST,
        "one volunteer per registration, retries included"
    );
    let by_id: HashMap<Uuid, _> = rows.iter().map(|r| (r.0, r)).collect();
    for (i, request) in requests.iter().enumerate() {
        let row = by_id[&id_of(i)];
        assert_eq!(row.1, request.skill_ids, "skills of {i}");
        let expected: Vec<String> = request.languages.iter().map(|l| l.to_lowercase()).collect();
        assert_eq!(row.2, expected, "languages of {i}");
    }
    // Each shared phone: exactly one of the two points at the other.
    for i in (4..BURST).step_by(5) {
        let (a, b) = (id_of(i - 1), id_of(i));
        let links = [by_id[&a].3, by_id[&b].3];
        let linked = links == [None, Some(a)] || links == [Some(b), None];
        assert!(
            linked || (writers > 1 && links == [None, None]),
            "pair {i}: {links:?}"
        );
    }
    let linked = rows.iter().filter(|r| r.3.is_some()).count();
    if writers == 1 {
        assert_eq!(linked, BURST / 5, "exactly the shared phones are linked");
    } else {
        assert!(linked <= BURST / 5, "only shared phones are linked");
    }

    let count = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    let windows = BURST + BURST.div_ceil(3);
    assert_eq!(
        count("SELECT count(*) FROM availability").await,
        windows as i64
    );
    assert_eq!(
        count("SELECT count(*) FROM idempotency_keys").await,
        BURST as i64
    );
    // A first session per volunteer, plus one per answered retry.
    let retries = 2 * BURST.div_ceil(6);
    assert_eq!(
        count("SELECT count(*) FROM volunteer_sessions").await,
        (BURST + retries) as i64
    );
    assert_eq!(
        count("SELECT count(DISTINCT message_key) FROM outbox").await,
        BURST as i64,
        "one VolunteerRegistered per volunteer"
    );
    assert_eq!(count("SELECT count(*) FROM outbox").await, BURST as i64);
    // The point of it: fewer transactions than registrations (rows of one commit share xmin).
    let transactions = count("SELECT count(DISTINCT xmin::text) FROM volunteers").await;
    assert!(
        transactions < BURST as i64,
        "{transactions} transactions for {BURST} registrations"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_registration_the_database_refuses_fails_alone() {
    let app = TestApp::spawn_with(|c| {
        c.register_limit.burst = 10_000;
        c.register_limit.global_burst = 10_000;
        c.register_commit.writers = 1;
        c.register_commit.max_batch = 64;
    })
    .await;
    // Stands in for any row-level failure the validators cannot foresee.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by test'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON volunteers FOR EACH ROW \
         WHEN (NEW.travel_radius_km = 42.5) EXECUTE FUNCTION refuse();",
    )
    .execute(&app.pool)
    .await
    .expect("trigger");
    let client = app.client().await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40 {
        let mut r = valid_request();
        r.contact.as_mut().expect("contact").phone_e164 = format!("+49151{:08}", 20_000 + i);
        if i == 17 {
            r.travel_radius_km = 42.5;
        }
        let mut c = client.clone();
        calls.spawn(async move { (i, c.register(r).await) });
    }
    let mut refused = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let (i, answer) = joined.expect("join");
        if let Err(status) = answer {
            assert_eq!(status.code(), Code::Internal, "{status:?}");
            assert!(
                !status.message().contains("refused by test"),
                "details leak"
            );
            refused.push(i);
        }
    }
    assert_eq!(refused, [17]);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM volunteers")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 39);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(events, 39);
    app.stop().await;
}
