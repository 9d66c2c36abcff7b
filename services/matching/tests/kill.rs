//! SIGKILL of the real `spontan-matching` process in the middle of a stream of task events,
//! then a restart: no offer is lost and none is made or published twice.
//!
//! The service runs as a child process (configured through `SPONTAN_` variables, as in
//! production) against real PostgreSQL and the real broker; the test produces the volunteer
//! and task events registration and task would, and checks the matches table and the match
//! topic.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::events::{point, volunteer};
use common::{CENTRE, ORG};
use rdkafka::producer::{FutureProducer, FutureRecord};
use spontan_platform::config::PlatformConfig;
use spontan_platform::events::{envelope, timestamp};
use spontan_platform::testkit::{self, TestBroker, read_events, receive_until_quiet};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const VOLUNTEERS: usize = 60;
const TASKS: usize = 20;
const HEADCOUNT: u32 = 2;
/// Tasks published before the kill; the rest arrive while the process is dead.
const BEFORE_KILL: usize = 8;

/// Starts the matching binary with `config`, logging to `log`.
fn spawn(config: &PlatformConfig, log: &std::path::Path) -> anyhow::Result<Child> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let kafka = &config.kafka;
    let child = Command::new(env!("CARGO_BIN_EXE_spontan-matching"))
        .env_remove("SPONTAN_CONFIG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env("SPONTAN_DATABASE__URL", config.database.url.expose())
        .env("SPONTAN_KAFKA__BROKERS", &kafka.brokers)
        .env("SPONTAN_KAFKA__GROUP_ID", &kafka.group_id)
        .env("SPONTAN_KAFKA__TOPICS__VOLUNTEER", &kafka.topics.volunteer)
        .env("SPONTAN_KAFKA__TOPICS__TASK", &kafka.topics.task)
        .env("SPONTAN_KAFKA__TOPICS__MATCHING", &kafka.topics.matching)
        .env("SPONTAN_KAFKA__PARTITIONS", kafka.partitions.to_string())
        .env("SPONTAN_KAFKA__FETCH_WAIT_MAX_MS", "10")
        .env("SPONTAN_KAFKA__MESSAGE_TIMEOUT_MS", "5000")
        .env(
            "SPONTAN_AUTH__SIGNING_KEY",
            config.auth.signing_key.expose(),
        )
        .env("SPONTAN_GRPC__LISTEN", "127.0.0.1:0")
        .env("SPONTAN_METRICS__LISTEN", "127.0.0.1:0")
        .env("SPONTAN_OUTBOX__POLL_INTERVAL_MS", "100")
        .env("SPONTAN_MATCHING__SWEEP_INTERVAL_SECS", "10")
        .env("SPONTAN_TELEMETRY__LOG_FORMAT", "json")
        .env("RUST_LOG", "info,rdkafka=warn,sqlx=warn")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start spontan-matching")?;
    Ok(child)
}

async fn publish(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    event: &EventEnvelope,
) -> anyhow::Result<()> {
    let bytes = prost::Message::encode_to_vec(event);
    producer
        .send(
            FutureRecord::<str, [u8]>::to(topic)
                .key(key)
                .payload(bytes.as_slice()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

fn task(incident: Uuid, n: usize, start: chrono::DateTime<chrono::Utc>) -> TaskSnapshot {
    TaskSnapshot {
        task_id: Uuid::now_v7().to_string(),
        incident_id: incident.to_string(),
        organisation_id: ORG.into(),
        title: format!("sandbags {n}"),
        address: "Alexanderplatz".into(),
        required_skill_ids: vec!["first_aid".into()],
        preferred_skill_ids: vec![],
        min_age: 18,
        headcount: HEADCOUNT,
        window: Some(TimeWindow {
            start_time: Some(timestamp(start)),
            end_time: Some(timestamp(start + chrono::Duration::hours(2))),
        }),
        priority: Priority::High as i32,
        meeting_point: Some(point(CENTRE.0, CENTRE.1)),
        max_distance_km: 20.0,
        status: TaskStatus::Open as i32,
        version: 1,
        required_languages: vec![],
        preferred_languages: vec![],
    }
}

async fn scalar(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(-1)
}

async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_no_offer() -> anyhow::Result<()> {
    testkit::init_logging();
    let broker = TestBroker::shared_or_start().await?;
    let database = testkit::fresh_database().await?;
    let config = testkit::platform_config("matching", &database, broker.brokers());
    let kafka = &config.kafka;
    spontan_platform::kafka::ensure_topics(kafka, &kafka.topics.all()).await?;
    let producer = spontan_platform::kafka::producer(kafka)?;
    let log = std::env::temp_dir().join(format!("spontan-kill-{}.log", Uuid::new_v4().simple()));

    // The incident and the volunteers wait on their topics; the process reads them at start.
    let incident = Uuid::now_v7();
    let opened = envelope(
        incident.to_string(),
        1,
        Payload::IncidentOpened(IncidentOpened {
            incident_id: incident.to_string(),
            organisation_id: ORG.into(),
            region_centre: Some(point(CENTRE.0, CENTRE.1)),
            region_radius_km: 20.0,
        }),
    );
    publish(
        &producer,
        &kafka.topics.task,
        &incident.to_string(),
        &opened,
    )
    .await?;
    for i in 0..VOLUNTEERS {
        let v = volunteer(Uuid::new_v4(), i as f64 * 0.2);
        let event = envelope(
            v.volunteer_id.clone(),
            1,
            Payload::VolunteerRegistered(VolunteerRegistered {
                volunteer: Some(v.clone()),
            }),
        );
        publish(&producer, &kafka.topics.volunteer, &v.volunteer_id, &event).await?;
    }

    let mut child = spawn(&config, &log)?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database)
        .await?;
    wait_until(Duration::from_secs(60), "the volunteers in the read model", || {
        let pool = pool.clone();
        async move { scalar(&pool, "SELECT count(*) FROM volunteers").await == VOLUNTEERS as i64 }
    })
    .await
    .with_context(|| format!("log: {}", log.display()))?;

    // Tasks arrive one every 100 ms; the process is killed as soon as the first offers of the
    // first eight are stored.
    let start = chrono::Utc::now() + chrono::Duration::days(1);
    let tasks: Vec<TaskSnapshot> = (0..TASKS).map(|n| task(incident, n, start)).collect();
    let publish_task = |t: &TaskSnapshot| {
        let event = envelope(
            t.task_id.clone(),
            1,
            Payload::TaskCreated(TaskCreated {
                task: Some(t.clone()),
            }),
        );
        let producer = producer.clone();
        let topic = kafka.topics.task.clone();
        let key = t.task_id.clone();
        async move { publish(&producer, &topic, &key, &event).await }
    };
    for t in &tasks[..BEFORE_KILL] {
        publish_task(t).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until(Duration::from_secs(30), "the first offers", || {
        let pool = pool.clone();
        async move { scalar(&pool, "SELECT count(*) FROM matches").await >= 1 }
    })
    .await?;
    child.kill().await?; // SIGKILL: no drain, no final commit
    let killed_at = Instant::now();
    let matches_at_kill = scalar(&pool, "SELECT count(*) FROM matches").await;
    let unpublished_at_kill = scalar(
        &pool,
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
    )
    .await;
    for t in &tasks[BEFORE_KILL..] {
        publish_task(t).await?;
    }
    let expected = (TASKS as i64) * i64::from(HEADCOUNT);
    assert!(
        matches_at_kill < expected,
        "the kill came after all offers ({matches_at_kill}): it was not mid-stream"
    );

    // The replacement starts once the killed member's session (10 s) has expired, as a
    // restarted pod usually does. The local broker (tansu 0.6) gets a replacement that joins
    // while the dead member is still the group's leader stuck with no partitions: when the
    // leader's session expires during that rebalance it answers the others' SyncGroup with an
    // empty assignment and never rebalances again. Apache Kafka rebalances without the dead
    // member.
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(killed_at.elapsed())).await;
    let mut child = spawn(&config, &log)?;
    wait_until(Duration::from_secs(90), "every task fully offered", || {
        let pool = pool.clone();
        async move {
            scalar(
                &pool,
                "SELECT count(*) FROM matches WHERE state = 'offered'",
            )
            .await
                == expected
                && scalar(
                    &pool,
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                )
                .await
                    == 0
        }
    })
    .await
    .with_context(|| format!("log: {}", log.display()))?;
    let recovered_in = killed_at.elapsed();

    // The database: every task has its two offers, nobody twice, nobody double-booked.
    let per_task: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT task_id, count(*) FROM matches WHERE state = 'offered' GROUP BY task_id",
    )
    .fetch_all(&pool)
    .await?;
    let offered_tasks: HashMap<String, i64> = per_task
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
    for t in &tasks {
        assert_eq!(
            offered_tasks.get(&t.task_id).copied(),
            Some(i64::from(HEADCOUNT)),
            "task {} offers",
            t.task_id
        );
    }
    let all_matches = scalar(&pool, "SELECT count(*) FROM matches").await;
    assert_eq!(all_matches, expected, "no match beyond the offers");
    let repeated = scalar(
        &pool,
        "SELECT count(*) FROM (SELECT 1 FROM matches GROUP BY task_id, volunteer_id \
         HAVING count(*) > 1) r",
    )
    .await;
    assert_eq!(repeated, 0, "a (task, volunteer) offer twice");
    let double_booked = scalar(
        &pool,
        "SELECT count(*) FROM (SELECT 1 FROM matches WHERE state = 'offered' \
         GROUP BY volunteer_id HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(
        double_booked, 0,
        "a volunteer with two offers for one window"
    );

    // The topic: one MatchOffered event per match (a copy of the same event may follow a kill
    // between publishing and marking published; consumers drop it by event id).
    let stop = CancellationToken::new();
    let (mut rx, reader) = read_events(kafka, &kafka.topics.matching, stop.clone(), |event| {
        let envelope = event.envelope.as_ref()?;
        let Some(Payload::MatchOffered(offer)) = &envelope.payload else {
            return None;
        };
        let match_id = offer
            .snapshot
            .as_ref()
            .map(|s| s.match_id.clone())
            .unwrap_or_default();
        Some((match_id, envelope.event_id.clone()))
    })?;
    let matches = |offers: &[(String, String)]| {
        offers.iter().map(|(m, _)| m).collect::<HashSet<_>>().len() as i64
    };
    let offers =
        receive_until_quiet(&mut rx, Duration::from_secs(60), |o| matches(o) >= expected).await;
    let records = offers.len();
    let mut offered: HashMap<String, HashSet<String>> = HashMap::new();
    for (match_id, event_id) in offers {
        offered.entry(match_id).or_default().insert(event_id);
    }
    stop.cancel();
    let _ = reader.await;
    assert_eq!(offered.len() as i64, expected, "one MatchOffered per match");
    let twice: Vec<_> = offered.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "matches offered by two events: {twice:?}");

    println!(
        "sigkill: {VOLUNTEERS} volunteers, {TASKS} tasks x {HEADCOUNT}; killed with \
         {matches_at_kill} matches stored and {unpublished_at_kill} events unpublished; \
         recovered {expected} offers in {recovered_in:?}; matches {all_matches}, repeated pairs \
         {repeated}, double-booked {double_booked}; MatchOffered records {records} for {} \
         matches, none by two events",
        offered.len()
    );
    child.start_kill()?;
    let _ = child.wait().await;
    let _ = std::fs::remove_file(&log);
    Ok(())
}
