//! Fault tests: the suite under a broker outage, lost database connections, two replicas of
//! every service and a shutdown under load. Each test counts what was sent, acknowledged,
//! stored, published and consumed, and shows that nothing was lost or applied twice.
//! (SIGKILL of a matching process is `services/matching/tests/kill.rs`: it needs the binary.)
//!
//! Everything runs on loopback: real PostgreSQL, the real broker, real gRPC.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use spontan_e2e::{
    Record, Service, Suite, SuiteConfig, authorized, channel, eventually, read_topic,
    wait_for_health,
};
use spontan_platform::auth::Role;
use spontan_platform::events::timestamp;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

const ORG: &str = "thw-ov-ahrweiler";
const WAIT: Duration = Duration::from_secs(60);

fn near(north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        latitude: 50.5427 + north_km / 111.2,
        longitude: 7.1125 + east_km / 70.6,
    }
}

fn window(from_hours: i64, to_hours: i64) -> TimeWindow {
    let now = chrono::Utc::now();
    TimeWindow {
        start_time: Some(timestamp(now + chrono::Duration::hours(from_hours))),
        end_time: Some(timestamp(now + chrono::Duration::hours(to_hours))),
    }
}

/// Registration number `n` of a test: its own phone number, within 15 km of the incident.
fn registration(n: u32) -> RegisterRequest {
    RegisterRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: "2025-06-de".into(),
        }),
        contact: Some(Contact {
            display_name: format!("Helfer {n}"),
            phone_e164: format!("+49152{n:07}"),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Signal.into(),
        channel_addresses: None,
        skill_ids: vec!["sandbag_filling".into()],
        languages: vec!["de".into()],
        birth_year: 1990,
        home_location: Some(near(f64::from(n % 30) * 0.5, 0.0)),
        travel_radius_km: 30.0,
        availability: vec![window(0, 12)],
    }
}

/// Every service of the suite may take all registrations of a test from one address.
fn generous_limits(config: &mut SuiteConfig) {
    config.registration.register_limit.burst = 100_000;
    config.registration.register_limit.per_minute = 1_000_000;
}

async fn serving(suite: &Suite) {
    for (name, service) in suite.services() {
        wait_for_health(service.grpc, name, ServingStatus::Serving, WAIT)
            .await
            .expect("serving");
    }
}

async fn registration_client(suite: &Suite) -> RegistrationServiceClient<Channel> {
    RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("channel"))
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits until the outbox of `pool` has nothing left to publish.
async fn outbox_drained(pool: &sqlx::PgPool, what: &str) {
    eventually(Duration::from_secs(120), what, || async {
        (count(
            pool,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        )
        .await
            == 0)
            .then_some(())
    })
    .await;
}

/// The event ids of `topic` in the outbox of `pool`.
async fn outbox_event_ids(pool: &sqlx::PgPool, topic: &str) -> HashSet<String> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_all(pool)
        .await
        .expect("outbox ids");
    ids.into_iter().map(|id| id.to_string()).collect()
}

/// Reads records from `rx` until every id of `expected` arrived and two quiet seconds passed;
/// returns how many times each event id was read.
async fn read_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Record>,
    expected: &HashSet<String>,
    seen: &mut HashMap<String, (u32, Option<EventEnvelope>)>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let complete = expected.iter().all(|id| seen.contains_key(id));
        let wait = if complete {
            Duration::from_secs(2)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some((_, Some(envelope)))) => {
                let entry = seen
                    .entry(envelope.event_id.clone())
                    .or_insert((0, Some(envelope)));
                entry.0 += 1;
            }
            Ok(Some((_, None))) => {}
            _ => break,
        }
    }
    let missing = expected.iter().filter(|id| !seen.contains_key(*id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} events never arrived",
        expected.len()
    );
}

/// Registers with `request`, retrying with the same idempotency key while the answer is
/// `Unavailable`. Returns the volunteer id and token, how many attempts were Unavailable, and
/// any other error code seen (which the caller treats as a failure).
async fn register_retrying(
    mut client: RegistrationServiceClient<Channel>,
    request: RegisterRequest,
) -> (Option<(String, String)>, u32, Vec<(Code, String)>) {
    let mut unavailable = 0;
    let mut unexpected = Vec::new();
    for _ in 0..100 {
        match client.register(request.clone()).await {
            Ok(response) => {
                let r = response.into_inner();
                return (
                    Some((r.volunteer_id, r.access_token)),
                    unavailable,
                    unexpected,
                );
            }
            Err(status) if status.code() == Code::Unavailable => unavailable += 1,
            Err(status) => unexpected.push((status.code(), status.message().to_owned())),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (None, unavailable, unexpected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_30_second_broker_outage_fails_no_registration_and_loses_no_event() {
    let broker = TestBroker::start_owned()
        .await
        .expect("a broker of this test");
    let mut suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    serving(&suite).await;
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let matching = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let client = registration_client(&suite).await;

    // Before: ten registrations reach matching, so the pipeline works.
    let mut acknowledged: Vec<String> = Vec::new();
    let before = futures::future::join_all((0..10).map(|n| {
        let mut c = client.clone();
        async move { c.register(registration(n)).await }
    }))
    .await;
    for result in before {
        acknowledged.push(result.expect("registered").into_inner().volunteer_id);
    }
    eventually(WAIT, "the first ten in matching", || async {
        (count(&matching, "SELECT count(*) FROM volunteers").await == 10).then_some(())
    })
    .await;

    // The outage: registrations keep coming, four at a time, every second for 30 s.
    suite.broker.stop().await.expect("broker stopped");
    let outage = Instant::now();
    let mut sent = 10u32;
    let mut failed = Vec::new();
    while outage.elapsed() < Duration::from_secs(30) {
        let burst = futures::future::join_all((sent..sent + 4).map(|n| {
            let mut c = client.clone();
            async move { c.register(registration(n)).await }
        }))
        .await;
        sent += 4;
        for result in burst {
            match result {
                Ok(r) => acknowledged.push(r.into_inner().volunteer_id),
                Err(status) => failed.push(status),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let waiting = count(
        &registrations,
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
    )
    .await;
    suite.broker.restart().await.expect("broker restarted");
    let recovered = Instant::now();

    assert!(failed.is_empty(), "registrations failed: {failed:?}");
    assert_eq!(
        acknowledged.len(),
        sent as usize,
        "every registration answered"
    );
    assert!(waiting > 0, "events waited in the outbox during the outage");
    let stored = count(&registrations, "SELECT count(*) FROM volunteers").await;
    assert_eq!(
        stored,
        i64::from(sent),
        "every acknowledged volunteer stored"
    );

    outbox_drained(&registrations, "the outbox to drain after the outage").await;
    let drained_after = recovered.elapsed();
    let expected = outbox_event_ids(&registrations, &suite.kafka.topics.volunteer).await;
    assert_eq!(expected.len(), sent as usize, "one event per registration");

    let stop = CancellationToken::new();
    let mut rx = read_topic(&suite.kafka, &suite.kafka.topics.volunteer, stop.clone())
        .expect("volunteer topic");
    let mut seen = HashMap::new();
    read_until(&mut rx, &expected, &mut seen).await;
    stop.cancel();
    let records: u32 = seen.values().map(|(n, _)| n).sum();
    let repeated = seen.values().filter(|(n, _)| *n > 1).count();

    // The consumer's effect: each volunteer once in matching's read model, at version 1.
    eventually(WAIT, "every volunteer in matching", || async {
        (count(&matching, "SELECT count(*) FROM volunteers").await == i64::from(sent)).then_some(())
    })
    .await;
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM volunteers WHERE version = 1")
        .fetch_all(&matching)
        .await
        .expect("read model");
    let in_read_model: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let registered: HashSet<String> = acknowledged.iter().cloned().collect();
    assert_eq!(registered.len(), sent as usize, "distinct volunteers");
    assert_eq!(
        in_read_model, registered,
        "matching knows exactly the registered"
    );

    println!(
        "broker outage: sent {sent}, acknowledged {}, failed {}, stored {stored}, \
         waiting in outbox at restart {waiting}, outbox drained {drained_after:?} after restart, \
         events {} distinct / {records} records read ({repeated} read more than once), \
         matching read model {}",
        acknowledged.len(),
        failed.len(),
        seen.len(),
        in_read_model.len()
    );
    suite.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_database_connections_are_unavailable_and_retries_register_once() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    serving(&suite).await;
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let url = suite.config.registration.platform.database.url.expose();
    let database = url
        .rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .expect("db name");

    // Terminates every backend of the registration database every 300 ms.
    let stop = CancellationToken::new();
    let terminated = Arc::new(AtomicU64::new(0));
    let killer = {
        let stop = stop.clone();
        let terminated = terminated.clone();
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&spontan_platform::testkit::admin_database_url())
            .await
            .expect("admin connection");
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FILTER (WHERE t) FROM (SELECT pg_terminate_backend(pid) AS t \
                     FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) k",
                )
                .bind(&database)
                .fetch_one(&admin)
                .await
                .expect("terminate backends");
                terminated.fetch_add(n as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    // Rounds of 100 registrations until the terminations have met some of them (a fast
    // round can fall between two terminations), at most ten rounds.
    const ROUND: u32 = 100;
    let client = registration_client(&suite).await;
    let mut sent = 0u32;
    let mut results = Vec::new();
    while sent < 10 * ROUND {
        let round: Vec<_> = futures::stream::iter((sent..sent + ROUND).map(registration))
            .map(|request| register_retrying(client.clone(), request))
            .buffer_unordered(8)
            .collect()
            .await;
        sent += ROUND;
        let met = round.iter().any(|(_, unavailable, _)| *unavailable > 0);
        results.extend(round);
        if met {
            break;
        }
    }
    stop.cancel();
    killer.await.expect("killer");

    let mut ids = HashSet::new();
    let mut unavailable = 0;
    let mut unexpected = Vec::new();
    let mut retried = 0;
    for (outcome, unavailable_answers, other) in results {
        if let Some((id, _)) = outcome {
            ids.insert(id);
        }
        unavailable += unavailable_answers;
        retried += u32::from(unavailable_answers > 0);
        unexpected.extend(other);
    }
    let terminated = terminated.load(Ordering::Relaxed);
    assert!(
        unexpected.is_empty(),
        "codes other than Unavailable: {unexpected:?}"
    );
    assert!(terminated > 0, "backends were terminated");
    assert!(unavailable > 0, "some requests met a lost connection");
    assert_eq!(
        ids.len(),
        sent as usize,
        "every registration succeeded once retried"
    );

    // Nothing half-written: each volunteer has its key, its windows, its consent and its event.
    let stored = count(&registrations, "SELECT count(*) FROM volunteers").await;
    assert_eq!(stored, i64::from(sent), "one volunteer per idempotency key");
    let incomplete = count(
        &registrations,
        "SELECT count(*) FROM volunteers v WHERE consent_given_at IS NULL \
         OR consent_text_version IS NULL \
         OR (SELECT count(*) FROM idempotency_keys k WHERE k.volunteer_id = v.id) <> 1 \
         OR NOT EXISTS (SELECT 1 FROM availability a WHERE a.volunteer_id = v.id) \
         OR (SELECT count(*) FROM outbox o WHERE o.message_key = v.id::text) <> 1",
    )
    .await;
    assert_eq!(
        incomplete, 0,
        "volunteers without key, windows, consent or event"
    );
    let orphans = count(
        &registrations,
        "SELECT count(*) FROM outbox o WHERE NOT EXISTS \
         (SELECT 1 FROM volunteers v WHERE v.id::text = o.message_key)",
    )
    .await;
    assert_eq!(orphans, 0, "events without a volunteer");
    outbox_drained(
        &registrations,
        "the outbox to drain after the connection losses",
    )
    .await;
    wait_for_health(
        suite.registration.grpc,
        "spontan.v1.RegistrationService",
        ServingStatus::Serving,
        WAIT,
    )
    .await
    .expect("serving again");

    println!(
        "connection loss: sent {sent}, backends terminated {terminated}, Unavailable answers \
         {unavailable} on {retried} requests, other codes {}, succeeded {}, stored {stored}, \
         incomplete {incomplete}, outbox drained",
        unexpected.len(),
        ids.len()
    );
    suite.stop().await.expect("stopped");
}

fn task_request(incident: &str, n: u32, key: String) -> CreateTaskRequest {
    CreateTaskRequest {
        idempotency_key: key,
        incident_id: incident.to_owned(),
        title: format!("Deich {n}"),
        description: "Deich sichern".into(),
        meeting_point: Some(near(0.0, 0.5)),
        address: "Ahrtor, Ahrweiler".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: vec![],
        min_age: 16,
        headcount: 3,
        window: Some(window(1, 4)),
        priority: Priority::High.into(),
        max_distance_km: 30.0,
        safety_notes: String::new(),
    }
}

async fn open_incident(tasks: &mut TaskServiceClient<Channel>, coordinator: &str) -> String {
    tasks
        .create_incident(authorized(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Hochwasser Ahr".into(),
                description: String::new(),
                region_centre: Some(near(0.0, 0.0)),
                region_radius_km: 25.0,
            },
            coordinator,
        ))
        .await
        .expect("incident opened")
        .into_inner()
        .incident
        .expect("an incident")
        .incident_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_of_every_service_register_book_and_publish_once() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    let replicas = [
        suite.replica(Service::Registration).await.expect("replica"),
        suite.replica(Service::Task).await.expect("replica"),
        suite.replica(Service::Matching).await.expect("replica"),
    ];
    serving(&suite).await;
    let names = [
        "spontan.v1.RegistrationService",
        "spontan.v1.TaskService",
        "spontan.v1.MatchingService",
    ];
    for (name, replica) in names.iter().zip(&replicas) {
        wait_for_health(replica.grpc, name, ServingStatus::Serving, WAIT)
            .await
            .expect("replica serving");
    }
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let matching_db = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let task_db = suite.database(Service::Task).await.expect("task db");
    let people = [
        registration_client(&suite).await,
        RegistrationServiceClient::new(channel(replicas[0].grpc).await.expect("channel")),
    ];
    let mut tasks = [
        TaskServiceClient::new(channel(suite.task.grpc).await.expect("channel")),
        TaskServiceClient::new(channel(replicas[1].grpc).await.expect("channel")),
    ];
    let matching = [
        MatchingServiceClient::new(channel(suite.matching.grpc).await.expect("channel")),
        MatchingServiceClient::new(channel(replicas[2].grpc).await.expect("channel")),
    ];

    // One idempotency key sent to both registration replicas at once: one volunteer.
    let races = 20u32;
    let mut volunteers: Vec<(String, String)> = Vec::new();
    for n in 0..races {
        let request = registration(n);
        let (mut a, mut b) = (people[0].clone(), people[1].clone());
        let (first, second) = tokio::join!(a.register(request.clone()), b.register(request));
        let (first, second) = (
            first.expect("replica A answered").into_inner(),
            second.expect("replica B answered").into_inner(),
        );
        assert_eq!(
            first.volunteer_id, second.volunteer_id,
            "one volunteer per key"
        );
        volunteers.push((first.volunteer_id, first.access_token));
    }
    for n in races..races + 10 {
        let mut client = people[(n % 2) as usize].clone();
        let r = client
            .register(registration(n))
            .await
            .expect("registered")
            .into_inner();
        volunteers.push((r.volunteer_id, r.access_token));
    }
    let people_count = volunteers.len() as i64;
    assert_eq!(
        count(&registrations, "SELECT count(*) FROM volunteers").await,
        people_count,
        "no double registration"
    );

    // Twelve tasks of three at the same time for thirty people, created on both replicas (one
    // of them twice with one key, at once): more places than people, so they compete.
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-1", Some(ORG));
    let incident = open_incident(&mut tasks[0], &coordinator).await;
    // The last two are one request sent twice (the same key and body) to both replicas.
    let twice = task_request(&incident, 11, Uuid::new_v4().to_string());
    let created = futures::future::join_all((0..13u32).map(|n| {
        let mut client = tasks[(n % 2) as usize].clone();
        let body = if n >= 11 {
            twice.clone()
        } else {
            task_request(&incident, n, Uuid::new_v4().to_string())
        };
        let request = authorized(body, &coordinator);
        async move { client.create_task(request).await }
    }))
    .await;
    let task_ids: Vec<String> = created
        .into_iter()
        .map(|r| {
            r.expect("task created")
                .into_inner()
                .task
                .expect("task")
                .task_id
        })
        .collect();
    let distinct_tasks: HashSet<&String> = task_ids.iter().collect();
    assert_eq!(distinct_tasks.len(), 12, "one task per idempotency key");
    assert_eq!(count(&task_db, "SELECT count(*) FROM tasks").await, 12);

    // Every volunteer gets exactly one offer (the windows overlap), and accepts it on both
    // matching replicas at once.
    eventually(
        Duration::from_secs(120),
        "an offer for every volunteer",
        || async {
            (count(
                &matching_db,
                "SELECT count(DISTINCT volunteer_id) FROM matches WHERE state = 'offered'",
            )
            .await
                == people_count)
                .then_some(())
        },
    )
    .await;
    let mut accept_answers: HashMap<String, u32> = HashMap::new();
    for (id, token) in &volunteers {
        let mut client = matching[0].clone();
        let offers = client
            .list_my_offers(authorized(ListMyOffersRequest::default(), token))
            .await
            .expect("offers")
            .into_inner()
            .offers;
        let offered: Vec<&Offer> = offers
            .iter()
            .filter(|o| o.state() == MatchState::Offered)
            .collect();
        assert_eq!(offered.len(), 1, "volunteer {id} holds one offer");
        let accept = |mut client: MatchingServiceClient<Channel>| {
            let request = authorized(
                RespondToOfferRequest {
                    match_id: offered[0].match_id.clone(),
                    decision: OfferDecision::Accept.into(),
                    decline_reason: 0,
                },
                token,
            );
            async move { client.respond_to_offer(request).await }
        };
        let (a, b) = tokio::join!(accept(matching[0].clone()), accept(matching[1].clone()));
        for result in [a, b] {
            let label = match result {
                Ok(_) => "ok".to_owned(),
                Err(status) => format!("{:?}", status.code()),
            };
            *accept_answers.entry(label).or_default() += 1;
        }
    }
    assert!(
        accept_answers.get("ok").copied().unwrap_or(0) >= volunteers.len() as u32,
        "every acceptance went through once: {accept_answers:?}"
    );

    let overlapping = count(
        &matching_db,
        "SELECT count(*) FROM matches a JOIN matches b ON a.volunteer_id = b.volunteer_id \
         AND a.id < b.id AND a.slot && b.slot \
         WHERE a.state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND b.state IN ('proposed', 'offered', 'accepted', 'checked_in')",
    )
    .await;
    let overfilled = count(
        &matching_db,
        "SELECT count(*) FROM (SELECT m.task_id FROM matches m JOIN tasks t ON t.id = m.task_id \
         WHERE m.state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         GROUP BY m.task_id, t.headcount HAVING count(*) > t.headcount) o",
    )
    .await;
    let repeated_pairs = count(
        &matching_db,
        "SELECT count(*) FROM (SELECT 1 FROM matches GROUP BY task_id, volunteer_id \
         HAVING count(*) > 1) r",
    )
    .await;
    let accepted = count(
        &matching_db,
        "SELECT count(*) FROM matches WHERE state = 'accepted'",
    )
    .await;
    assert_eq!(overlapping, 0, "a volunteer double-booked");
    assert_eq!(overfilled, 0, "a task over-filled");
    assert_eq!(repeated_pairs, 0, "a volunteer offered one task twice");
    assert_eq!(accepted, people_count, "every volunteer accepted once");

    // Two relays per database: each event on its topic once.
    outbox_drained(&registrations, "registration's outbox").await;
    outbox_drained(&matching_db, "matching's outbox").await;
    outbox_drained(&task_db, "task's outbox").await;
    let mut published = Vec::new();
    for (pool, topic) in [
        (&registrations, &suite.kafka.topics.volunteer),
        (&matching_db, &suite.kafka.topics.matching),
        (&task_db, &suite.kafka.topics.task),
    ] {
        let expected = outbox_event_ids(pool, topic).await;
        let stop = CancellationToken::new();
        let mut rx = read_topic(&suite.kafka, topic, stop.clone()).expect("topic");
        let mut seen = HashMap::new();
        read_until(&mut rx, &expected, &mut seen).await;
        stop.cancel();
        let twice: Vec<&String> = seen
            .iter()
            .filter(|(_, (n, _))| *n > 1)
            .map(|(id, _)| id)
            .collect();
        assert!(twice.is_empty(), "published twice on {topic}: {twice:?}");
        assert_eq!(seen.len(), expected.len(), "only outbox events on {topic}");
        published.push(seen.len());
    }
    // The staffing consumers of both task replicas share the match topic: each event once.
    let match_events = published[1] as i64;
    eventually(WAIT, "task staffing to apply every match event", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            == match_events)
            .then_some(())
    })
    .await;

    println!(
        "two replicas: {races} keys raced on both registration replicas, volunteers stored \
         {people_count}; 13 task requests (2 with one key) -> 12 tasks; accepts {accept_answers:?}; \
         accepted {accepted}, overlapping 0, over-filled 0; events published once each: \
         volunteer {}, match {}, task {}; staffing applied {match_events}",
        published[0], published[1], published[2]
    );
    suite.shutdown.cancel();
    for replica in replicas {
        tokio::time::timeout(Duration::from_secs(30), replica.task)
            .await
            .expect("replica stopped in time")
            .expect("replica task")
            .expect("replica ran");
    }
    suite.stop().await.expect("stopped");
}

/// Per partition of `topic`, the committed offset of `group`.
fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            (e.partition(), offset)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shutdown_under_load_keeps_every_acknowledged_registration_and_its_offsets() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let mut suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    serving(&suite).await;
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let task_db = suite.database(Service::Task).await.expect("task db");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-1", Some(ORG));
    let mut tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("channel"));
    let incident = open_incident(&mut tasks, &coordinator).await;
    for n in 0..8 {
        tasks
            .create_task(authorized(
                task_request(&incident, n, Uuid::new_v4().to_string()),
                &coordinator,
            ))
            .await
            .expect("task created");
    }

    // Six clients register without pause; the services are told to shut down mid-load.
    let client = registration_client(&suite).await;
    let stopping = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let mut client = client.clone();
            let stopping = stopping.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stopping.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed) as u32;
                    let request = registration(n);
                    let result = client.register(request.clone()).await;
                    let failed = result.is_err();
                    outcomes.push((request, result.map(|r| r.into_inner().volunteer_id)));
                    if failed {
                        break;
                    }
                }
                outcomes
            })
        })
        .collect();
    // Shut down once matches flow too (the staffing consumer has applied some), under load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    eventually(WAIT, "match events applied under load", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            >= 5)
            .then_some(())
    })
    .await;
    suite.stop_services().await.expect("services drained");
    stopping.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("worker"));
    }

    // Every acknowledged registration is stored; errors only say "come back later".
    let acknowledged: HashSet<String> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let failed: Vec<&tonic::Status> = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    let stored_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM volunteers")
        .fetch_all(&registrations)
        .await
        .expect("volunteers");
    let stored: HashSet<String> = stored_ids.iter().map(Uuid::to_string).collect();
    assert!(acknowledged.len() > 10, "load ran: {}", acknowledged.len());
    assert!(
        acknowledged.is_subset(&stored),
        "{} acknowledged registrations missing",
        acknowledged.difference(&stored).count()
    );
    // A request that reaches a server that is shutting down is refused before it is read:
    // the client sees Unavailable, or (tonic's mapping of a stream beyond the server's GOAWAY,
    // or of a connection that closed under a queued request) Internal "h2 protocol error" or
    // Cancelled. One the server had begun is finished and answered. So no failure may come
    // from a handler, and nothing may be stored without an answer.
    let mut failed_codes: HashMap<String, u32> = HashMap::new();
    for status in &failed {
        *failed_codes
            .entry(format!("{:?}: {}", status.code(), status.message()))
            .or_default() += 1;
    }
    // Every gRPC answer carries `content-type: application/grpc`; a failure without it came
    // from the client's transport (GOAWAY, closed connection), not from a handler.
    let unexpected: Vec<_> = failed
        .iter()
        .filter(|s| s.code() != Code::Unavailable && s.metadata().get("content-type").is_some())
        .map(|s| (s.code(), s.message().to_owned()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the server failed requests: {unexpected:?}"
    );
    let in_limbo = stored.len() - acknowledged.len();
    assert_eq!(in_limbo, 0, "registrations stored but never answered");

    // Offsets: the staffing consumer applied a prefix of each match partition, and committed
    // exactly up to its end, so a restart neither re-applies nor skips an event.
    let topic = suite.kafka.topics.matching.clone();
    let matching_db = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let published = count(
        &matching_db,
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL",
    )
    .await as usize;
    let processed: HashSet<String> = {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT event_id FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .fetch_all(&task_db)
        .await
        .expect("processed");
        ids.iter().map(Uuid::to_string).collect()
    };
    // Positions of the match events, from a reader that sees partitions and offsets.
    let positions = match_positions(&suite, &topic, published).await;
    let partitions = suite.kafka.partitions;
    let committed = committed_offsets(
        suite.broker.brokers(),
        &suite.config.task.platform.kafka.group_id,
        &topic,
        partitions,
    );
    for p in 0..partitions {
        let mut in_partition: Vec<&(i32, i64, String)> =
            positions.iter().filter(|(q, ..)| *q == p).collect();
        in_partition.sort_by_key(|(_, offset, _)| *offset);
        let applied = in_partition
            .iter()
            .take_while(|(_, _, id)| processed.contains(id))
            .count();
        let after_gap = in_partition
            .iter()
            .skip(applied)
            .filter(|(_, _, id)| processed.contains(id))
            .count();
        assert_eq!(after_gap, 0, "partition {p} applied out of order");
        let next_offset = in_partition
            .get(applied.wrapping_sub(1))
            .map_or(0, |(_, offset, _)| offset + 1);
        let committed = committed.get(&p).copied().unwrap_or(0);
        assert_eq!(
            committed, next_offset,
            "partition {p}: committed {committed}, applied up to {next_offset}"
        );
    }
    let processed_before = processed.len();

    // Restart on the same databases, topics and groups; the failed requests are retried.
    let config = suite.config.clone();
    let restarted = Suite::start_from(TestBroker::attach(suite.broker.brokers()), config)
        .await
        .expect("restarted");
    serving(&restarted).await;
    let client = registration_client(&restarted).await;
    let retried = futures::future::join_all(
        outcomes
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(request, _)| register_retrying(client.clone(), request.clone())),
    )
    .await;
    for (outcome, _, other) in &retried {
        assert!(
            outcome.is_some() && other.is_empty(),
            "retry failed: {other:?}"
        );
    }
    let keys = outcomes.len() as i64;
    assert_eq!(
        count(&registrations, "SELECT count(*) FROM volunteers").await,
        keys,
        "one volunteer per key, acknowledged or retried"
    );
    let matching_db = restarted
        .database(Service::Matching)
        .await
        .expect("matching db");
    outbox_drained(&matching_db, "matching's outbox after the restart").await;
    let all_match_events = outbox_event_ids(&matching_db, &topic).await.len() as i64;
    eventually(WAIT, "staffing to apply every match event once", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            == all_match_events)
            .then_some(())
    })
    .await;

    println!(
        "shutdown under load: sent {keys}, acknowledged {}, failed {} {failed_codes:?}, \
         stored {} ({in_limbo} stored without an answer), match events {} on topic, applied \
         before shutdown {processed_before}, committed offsets matched the applied prefix in \
         {partitions} partitions; after restart {} retried, {keys} volunteers, {all_match_events} \
         match events applied once",
        acknowledged.len(),
        failed.len(),
        stored.len(),
        positions.len(),
        retried.len(),
    );
    restarted.stop().await.expect("stopped");
}

/// (partition, offset, event id) of every record of `topic`, read by a fresh group until
/// `count` records arrived and nothing more came for two seconds.
async fn match_positions(suite: &Suite, topic: &str, count: usize) -> Vec<(i32, i64, String)> {
    struct Positions(tokio::sync::mpsc::UnboundedSender<(i32, i64, String)>);
    #[async_trait::async_trait]
    impl spontan_platform::kafka::EventHandler for Positions {
        async fn handle(
            &self,
            event: &spontan_platform::kafka::ConsumedEvent,
        ) -> anyhow::Result<()> {
            if let Some(envelope) = &event.envelope {
                let _ = self
                    .0
                    .send((event.partition, event.offset, envelope.event_id.clone()));
            }
            Ok(())
        }
    }
    let group = format!("positions-{}", Uuid::new_v4().simple());
    let (consumer, _) = spontan_platform::kafka::EventConsumer::subscribe(
        &suite.kafka,
        "positions",
        &group,
        &[topic],
    )
    .expect("reader");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let reader = tokio::spawn(consumer.run(Positions(tx), stop.clone()));
    let mut positions = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let wait = if positions.len() >= count {
            Duration::from_secs(2)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(position)) => positions.push(position),
            _ => break,
        }
    }
    stop.cancel();
    let _ = reader.await;
    assert!(
        positions.len() >= count,
        "read {} of {count}",
        positions.len()
    );
    positions
}
