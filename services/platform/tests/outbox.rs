//! The outbox and the consumer helper against a real PostgreSQL and the real broker: an event
//! written in a transaction reaches a consumer with its envelope and headers; with the broker
//! down, writes still commit and every event arrives once the broker is back.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use spontan_platform::config::PlatformConfig;
use spontan_platform::events::envelope;
use spontan_platform::kafka::{ConsumedEvent, EventConsumer, EventHandler};
use spontan_platform::outbox::{OutboxMessage, OutboxRelay, enqueue};
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{EventEnvelope, IncidentOpened};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// No service tables: only the platform's own.
static NO_SERVICE_MIGRATIONS: Migrator = Migrator::DEFAULT;

/// What the test consumer saw of one record: envelope, headers, key.
type Seen = (EventEnvelope, Vec<(String, String)>, Option<String>);

struct Forward(mpsc::UnboundedSender<Seen>);

#[async_trait]
impl EventHandler for Forward {
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()> {
        if let Some(envelope) = &event.envelope {
            let _ = self
                .0
                .send((envelope.clone(), event.headers.clone(), event.key.clone()));
        }
        Ok(())
    }
}

async fn database(config: &PlatformConfig) -> PgPool {
    let pool = spontan_platform::db::pool(&config.database).expect("pool");
    spontan_platform::db::migrate(&pool, &NO_SERVICE_MIGRATIONS)
        .await
        .expect("migrations");
    pool
}

fn incident_opened(n: usize) -> EventEnvelope {
    envelope(
        format!("incident-{n}"),
        1,
        Payload::IncidentOpened(IncidentOpened {
            incident_id: format!("incident-{n}"),
            organisation_id: "thw-ahrweiler".into(),
            region_radius_km: 25.0,
            ..Default::default()
        }),
    )
}

/// Writes `count` events, one transaction each, as a service would.
async fn write_events(
    pool: &PgPool,
    topic: &str,
    range: std::ops::Range<usize>,
) -> Vec<EventEnvelope> {
    let mut written = Vec::new();
    for n in range {
        let event = incident_opened(n);
        let mut tx = pool.begin().await.expect("begin");
        enqueue(
            &mut tx,
            &[OutboxMessage::event(topic, "/spontan/test", &event)],
        )
        .await
        .expect("enqueue");
        tx.commit().await.expect("commit");
        written.push(event);
    }
    written
}

/// The relay and a consumer of the task topic, running until [`Pipeline::stop`].
struct Pipeline {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the relay and the consumer; what the consumer sees arrives on the receiver.
    fn start(config: &PlatformConfig, pool: &PgPool) -> (Self, mpsc::UnboundedReceiver<Seen>) {
        let shutdown = CancellationToken::new();
        let relay = OutboxRelay::new(pool.clone(), config.kafka.clone(), config.outbox.clone())
            .expect("relay");
        let topics = [config.kafka.topics.task.as_str()];
        let (consumer, _rebalances) =
            EventConsumer::subscribe(&config.kafka, "test", &config.kafka.group_id, &topics)
                .expect("consumer");
        let (tx, rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(consumer.run(Forward(tx), shutdown.clone())),
        ];
        (Self { shutdown, tasks }, rx)
    }

    /// Stops both as a service's shutdown does, while the broker is still there: a consumer
    /// that is merely dropped closes later, against whatever is left of the broker.
    async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the relay and the consumer stop within 30 s")
                .expect("no panic");
        }
    }
}

async fn receive(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
    within: Duration,
) -> Vec<Seen> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while received.len() < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => received.push(item),
            _ => break,
        }
    }
    received
}

/// The relay marks rows published once the broker acknowledged them, which can be after the
/// consumer already has them: waits for every mark, for at most 10 s.
async fn wait_until_all_marked_published(pool: &PgPool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(pool)
                .await
                .expect("count");
        if unpublished == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every row is marked published within 10 s ({unpublished} still unmarked)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_event_written_in_a_transaction_reaches_the_consumer_with_its_headers() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let (_broker, config, pool) = with_broker(broker).await;
    let (pipeline, mut rx) = Pipeline::start(&config, &pool);

    let written = write_events(&pool, &config.kafka.topics.task, 0..3).await;

    let received = receive(&mut rx, 3, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 3, "every event arrives");
    for (envelope, headers, key) in &received {
        let original = written
            .iter()
            .find(|w| w.event_id == envelope.event_id)
            .expect("a written event");
        assert_eq!(envelope, original, "the envelope arrives unchanged");
        assert_eq!(
            key.as_deref(),
            Some(original.aggregate_id.as_str()),
            "keyed by aggregate id"
        );
        let headers: HashMap<_, _> = headers.iter().cloned().collect();
        assert_eq!(headers.get("ce_id"), Some(&original.event_id));
        assert_eq!(
            headers.get("ce_type").map(String::as_str),
            Some("spontan.v1.IncidentOpened")
        );
        assert_eq!(
            headers.get("ce_source").map(String::as_str),
            Some("/spontan/test")
        );
        assert_eq!(
            headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        assert!(headers.contains_key("ce_time"));
    }
    wait_until_all_marked_published(&pool).await;
    pipeline.stop().await;
}

/// A broker of the test's own (to stop and restart), a fresh database and the topics.
async fn with_own_broker() -> (TestBroker, PlatformConfig, PgPool) {
    with_broker(TestBroker::start_owned().await.expect("broker")).await
}

/// `broker`, a fresh database and the topics.
async fn with_broker(broker: TestBroker) -> (TestBroker, PlatformConfig, PgPool) {
    testkit::init_logging();
    let db = testkit::fresh_database().await.expect("database");
    let config = testkit::platform_config("outbox-test", &db, broker.brokers());
    let pool = database(&config).await;
    spontan_platform::kafka::ensure_topics(&config.kafka, &config.kafka.topics.all())
        .await
        .expect("topics");
    (broker, config, pool)
}

#[tokio::test]
async fn a_broker_outage_delays_events_but_loses_and_duplicates_none() {
    let (mut broker, config, pool) = with_own_broker().await;
    let (pipeline, mut rx) = Pipeline::start(&config, &pool);

    let mut written = write_events(&pool, &config.kafka.topics.task, 0..5).await;
    assert_eq!(
        receive(&mut rx, 5, Duration::from_secs(30)).await.len(),
        5,
        "before the outage"
    );

    broker.stop().await.expect("stop broker");
    // Writes keep committing while the broker is down: nothing waits for it.
    written.extend(write_events(&pool, &config.kafka.topics.task, 5..45).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(pending, 40, "events wait in the outbox during the outage");

    broker.restart().await.expect("restart broker");
    let received = receive(&mut rx, 40, Duration::from_secs(60)).await;
    // Anything more would be a duplicate: wait a little longer to see one arrive.
    let extra = receive(&mut rx, 1, Duration::from_secs(3)).await;

    let mut counts: HashMap<String, usize> = HashMap::new();
    for (envelope, ..) in received.iter().chain(&extra) {
        *counts.entry(envelope.event_id.clone()).or_default() += 1;
    }
    let expected: Vec<&EventEnvelope> = written[5..].iter().collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|w| !counts.contains_key(&w.event_id))
        .collect();
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(missing.is_empty(), "{} events lost", missing.len());
    assert!(duplicated.is_empty(), "events duplicated: {duplicated:?}");
    assert_eq!(
        counts.len(),
        40,
        "only the events written during the outage arrive after it"
    );
    wait_until_all_marked_published(&pool).await;
    pipeline.stop().await;
}

/// A pod told to stop during a broker outage: the relay and the consumer still stop, well
/// inside Kubernetes' grace period (45 s), instead of waiting for the broker to come back.
#[tokio::test]
async fn the_relay_and_consumer_stop_while_the_broker_is_down() {
    let (mut broker, config, pool) = with_own_broker().await;
    let (pipeline, mut rx) = Pipeline::start(&config, &pool);
    write_events(&pool, &config.kafka.topics.task, 0..3).await;
    assert_eq!(
        receive(&mut rx, 3, Duration::from_secs(30)).await.len(),
        3,
        "the consumer is assigned and consuming"
    );
    // Offsets stored but maybe not yet committed, and events waiting in the outbox.
    write_events(&pool, &config.kafka.topics.task, 3..6).await;
    broker.stop().await.expect("stop broker");
    write_events(&pool, &config.kafka.topics.task, 6..9).await;

    let started = std::time::Instant::now();
    pipeline.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped after {:?}",
        started.elapsed()
    );
}
