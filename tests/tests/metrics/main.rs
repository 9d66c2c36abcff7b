//! The `/metrics` endpoints as Prometheus scrapes them, after a small real flow across the
//! suite: volunteers register (one request is refused), a coordinator opens an incident and a
//! task for three, one volunteer accepts, one declines and one lets the offer be. Each series
//! the dashboard and the alerts read must be there with the values that flow produced: gRPC
//! requests per method and code with their latency, the outbox backlog draining to 0, the
//! consumer lag of every consumer per partition (counting a held-up consumer's unread records
//! exactly, then 0 once it catches up), matches by state, offer answer times, and the
//! database pools.
//!
//! The three services run in one process, so every endpoint renders the same recorder; each
//! assertion still scrapes the endpoint of the service the series belongs to.

mod prometheus;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, near,
    open_offer, read_topic, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::kafka::{ConsumedEvent, EventConsumer, EventHandler};
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;

use prometheus::{find, lag, one, parse, scrape};

const ORG: &str = "thw-ov-ahrweiler";
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn the_parser_reads_what_the_exporter_writes() {
    let samples = parse(
        "# TYPE a counter\n\
         a{method=\"/x.Y/Z\",code=\"Ok\"} 3\n\
         b 0.25\n\
         c_bucket{le=\"+Inf\",q=\"say \\\"hi\\\"\"} 7 1700000000\n",
    );
    assert_eq!(samples.len(), 3);
    assert_eq!(one(&samples, "a", &[("code", "Ok")]), Some(3.0));
    assert_eq!(one(&samples, "a", &[("code", "Internal")]), None);
    assert_eq!(one(&samples, "b", &[]), Some(0.25));
    assert_eq!(
        one(&samples, "c_bucket", &[("le", "+Inf"), ("q", "say \"hi\"")]),
        Some(7.0)
    );
}

fn registration(n: u32) -> RegisterRequest {
    RegisterRequest {
        preferred_alert_channel: AlertChannel::Sms.into(),
        birth_year: 1988,
        ..spontan_e2e::registration(
            &format!("Messwert Helfer {n}"),
            &format!("+4915200000{n:03}"),
            near(0.3 * f64::from(n), 0.0),
        )
    }
}

/// A consumer that applies nothing until released: its records stay unread, so its lag is
/// every record of its topic.
#[derive(Clone)]
struct Held(Arc<AtomicBool>);

#[async_trait::async_trait]
impl EventHandler for Held {
    async fn handle(&self, _event: &ConsumedEvent) -> anyhow::Result<()> {
        anyhow::ensure!(self.0.load(Ordering::Acquire), "held by the test");
        Ok(())
    }
}

#[tokio::test]
async fn metrics_endpoints_expose_the_series_with_real_values() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let flow_started = Instant::now();
    let partitions = 3; // testkit::platform_config
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-7", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        mut matching,
    } = suite.clients().await.expect("clients");
    let stop = CancellationToken::new();
    let mut match_events =
        read_topic(&suite.kafka, &suite.kafka.topics.matching, stop.clone()).expect("match topic");

    // A coordinator opens an incident and one task for three people.
    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    create_task(
        &tasks,
        &coordinator,
        CreateTaskRequest {
            description: "Sandsäcke füllen".into(),
            ..task_request(&incident, "Deich Ahrtor")
        },
    )
    .await;

    // Three volunteers register; one more registration is refused (no idempotency key).
    let mut volunteers = Vec::new();
    for n in 1..=3 {
        let registered = people
            .register(registration(n))
            .await
            .expect("registered")
            .into_inner();
        volunteers.push(registered.access_token);
    }
    let refused = people
        .register(RegisterRequest {
            idempotency_key: String::new(),
            ..registration(4)
        })
        .await
        .expect_err("a registration without an idempotency key is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // Each is offered the task; the first accepts, the second declines, the third lets it be.
    let mut offers = Vec::new();
    for token in &volunteers {
        offers.push(open_offer(&matching, token, WAIT).await);
    }
    for (i, decision) in [OfferDecision::Accept, OfferDecision::Decline]
        .into_iter()
        .enumerate()
    {
        matching
            .respond_to_offer(authed(
                RespondToOfferRequest {
                    match_id: offers[i].match_id.clone(),
                    decision: decision.into(),
                    decline_reason: DeclineReason::Unspecified.into(),
                },
                &volunteers[i],
            ))
            .await
            .expect("answered");
    }
    let answered_within = flow_started.elapsed().as_secs_f64();

    // gRPC: requests per method and code, and their latency, on registration's endpoint.
    let register = "/spontan.v1.RegistrationService/Register";
    let endpoint = suite.registration.metrics;
    let samples = eventually(WAIT, "every Register call measured", || async move {
        let samples = scrape(endpoint).await;
        let count: f64 = find(
            &samples,
            "grpc_server_request_duration_seconds_count",
            &[("method", register)],
        )
        .iter()
        .map(|s| s.value)
        .sum();
        (count == 4.0).then_some(samples)
    })
    .await;
    // Latency is labelled by code as well: the refused request is timed on its own.
    let timed = |code| {
        one(
            &samples,
            "grpc_server_request_duration_seconds_count",
            &[("method", register), ("code", code)],
        )
    };
    assert_eq!(timed("Ok"), Some(3.0), "three registrations timed");
    assert_eq!(timed("InvalidArgument"), Some(1.0), "one refusal timed");
    let by_code = |code| {
        one(
            &samples,
            "grpc_server_requests_total",
            &[("method", register), ("code", code)],
        )
    };
    assert_eq!(by_code("Ok"), Some(3.0), "three registered");
    assert_eq!(by_code("InvalidArgument"), Some(1.0), "one refused");
    let sum = one(
        &samples,
        "grpc_server_request_duration_seconds_sum",
        &[("method", register), ("code", "Ok")],
    )
    .expect("a latency sum");
    assert!(sum > 0.0 && sum < answered_within, "latency sum {sum}");
    let buckets = find(
        &samples,
        "grpc_server_request_duration_seconds_bucket",
        &[("method", register), ("code", "Ok")],
    );
    assert!(
        buckets.len() > 10 && buckets.iter().all(|b| b.value <= 3.0),
        "latency buckets: {buckets:?}"
    );
    let samples = scrape(suite.task.metrics).await;
    assert_eq!(
        one(
            &samples,
            "grpc_server_requests_total",
            &[
                ("method", "/spontan.v1.TaskService/CreateTask"),
                ("code", "Ok")
            ],
        ),
        Some(1.0)
    );

    // Matching: matches by state from its database, and how long the answers took.
    let endpoint = suite.matching.metrics;
    eventually(WAIT, "matches by state", || async move {
        let samples = scrape(endpoint).await;
        let state = |s: &str| one(&samples, "matching_matches", &[("state", s)]);
        let counts = (state("accepted")?, state("declined")?, state("offered")?);
        (counts == (1.0, 1.0, 1.0)).then_some(())
    })
    .await;
    let samples = scrape(suite.matching.metrics).await;
    for state in [
        "proposed",
        "checked_in",
        "completed",
        "expired",
        "cancelled",
        "no_show",
    ] {
        assert_eq!(
            one(&samples, "matching_matches", &[("state", state)]),
            Some(0.0),
            "no match is {state}"
        );
    }
    for answer in ["accepted", "declined"] {
        let labels = [("answer", answer)];
        let count = one(&samples, "matching_offer_answer_seconds_count", &labels);
        assert_eq!(count, Some(1.0), "one offer was {answer}");
        let sum = one(&samples, "matching_offer_answer_seconds_sum", &labels).expect("a sum");
        assert!(
            sum > 0.0 && sum < answered_within,
            "{answer} after {sum} s, the whole flow took {answered_within} s"
        );
        // The answer-time buckets (seconds to hours), not the request-latency ones.
        let last = [("answer", answer), ("le", "7200")];
        assert_eq!(
            one(&samples, "matching_offer_answer_seconds_bucket", &last),
            Some(1.0)
        );
    }

    // Outbox: one backlog and age series per service database, drained to 0; events went out.
    let endpoint = suite.task.metrics;
    eventually(WAIT, "every outbox drained", || async move {
        let samples = scrape(endpoint).await;
        let backlog = find(&samples, "outbox_backlog_events", &[]);
        let age = find(&samples, "outbox_oldest_unpublished_age_seconds", &[]);
        let databases: BTreeSet<_> = backlog
            .iter()
            .filter_map(|s| s.labels.get("database"))
            .collect();
        (databases.len() == 3
            && age.len() == 3
            && backlog.iter().chain(&age).all(|s| s.value == 0.0))
        .then_some(())
    })
    .await;
    let samples = scrape(suite.matching.metrics).await;
    let published: f64 = find(&samples, "outbox_events_published_total", &[])
        .iter()
        .map(|s| s.value)
        .sum();
    assert!(
        published >= 7.0,
        "incident, task, 3 volunteers, 3 offers, 2 answers published, got {published}"
    );
    // The hops of an event: one publish delay per published event, and per consumer one
    // consume delay and one handling time per applied record.
    assert_eq!(
        one(&samples, "outbox_publish_delay_seconds_count", &[]),
        Some(published),
        "one publish delay per published event"
    );
    for consumer in ["matching-tasks", "matching-volunteers"] {
        let labels = [("consumer", consumer)];
        let applied: f64 = find(&samples, "kafka_events_consumed_total", &labels)
            .iter()
            .map(|s| s.value)
            .sum();
        assert!(applied > 0.0, "{consumer} applied records");
        for histogram in [
            "kafka_consume_delay_seconds_count",
            "kafka_handle_duration_seconds_count",
        ] {
            assert_eq!(
                one(&samples, histogram, &labels),
                Some(applied),
                "{histogram} of {consumer}: one per applied record"
            );
        }
    }

    // Database pools: one per service, with the configured limit and open connections.
    let samples = scrape(suite.registration.metrics).await;
    let pools = find(&samples, "db_pool_connections", &[]);
    assert_eq!(pools.len(), 3, "one pool per service database: {pools:?}");
    for pool in pools {
        let database = pool.labels.get("database").expect("a database label");
        let labels = [("database", database.as_str())];
        assert!(
            pool.value > 0.0 && pool.value <= 8.0,
            "{database} has open connections within its limit: {}",
            pool.value
        );
        assert_eq!(one(&samples, "db_pool_max_connections", &labels), Some(8.0));
        let idle = one(&samples, "db_pool_idle_connections", &labels).expect("idle");
        let in_use = one(&samples, "db_pool_in_use_connections", &labels).expect("in use");
        assert_eq!(
            idle + in_use,
            pool.value,
            "{database}: idle + in use = open"
        );
    }

    // Consumer lag: every consumer reports each partition of its topics, and catches up.
    let topics = &suite.kafka.topics;
    let consumers = [
        (
            "matching-tasks",
            topics.task.as_str(),
            suite.matching.metrics,
        ),
        (
            "matching-volunteers",
            topics.volunteer.as_str(),
            suite.matching.metrics,
        ),
        (
            "task-staffing",
            topics.matching.as_str(),
            suite.task.metrics,
        ),
        (
            "match-alerts",
            topics.matching.as_str(),
            suite.registration.metrics,
        ),
    ];
    for (consumer, topic, endpoint) in consumers {
        let what = format!("{consumer} caught up on every partition of {topic}");
        eventually(WAIT, &what, || async move {
            let samples = scrape(endpoint).await;
            let lag = lag(&samples, consumer, topic, partitions)?;
            // The only member of its group holds every partition.
            let assigned = one(
                &samples,
                "kafka_consumer_assigned_partitions",
                &[("consumer", consumer)],
            )?;
            (lag.values().all(|l| *l == 0.0) && assigned == f64::from(partitions)).then_some(())
        })
        .await;
    }

    // A consumer that falls behind: its lag is every record of the topic until it is released.
    let released = Arc::new(AtomicBool::new(false));
    let group = format!("e2e-held-{}", uuid::Uuid::new_v4().simple());
    let (held, _) = EventConsumer::subscribe(
        &suite.kafka,
        "e2e-held",
        &group,
        &[topics.matching.as_str()],
    )
    .expect("held consumer");
    let held = tokio::spawn(held.run(Held(Arc::clone(&released)), stop.clone()));
    let mut records = 0_usize;
    let endpoint = suite.registration.metrics;
    let topic = topics.matching.as_str();
    let behind = eventually(WAIT, "the held consumer's lag", || {
        while match_events.try_recv().is_ok() {
            records += 1;
        }
        let seen = records;
        async move {
            let samples = scrape(endpoint).await;
            let lag = lag(&samples, "e2e-held", topic, partitions)?;
            let behind: f64 = lag.values().sum();
            (seen >= 5 && behind == seen as f64).then_some(behind)
        }
    })
    .await;
    assert!(behind >= 5.0, "3 offers and 2 answers at least");
    let samples = scrape(suite.registration.metrics).await;
    assert!(
        one(
            &samples,
            "kafka_consume_retries_total",
            &[("consumer", "e2e-held")]
        )
        .is_some_and(|n| n > 0.0),
        "the held records were retried"
    );
    released.store(true, Ordering::Release);
    eventually(WAIT, "the released consumer caught up", || async move {
        let samples = scrape(endpoint).await;
        let lag = lag(&samples, "e2e-held", topic, partitions)?;
        lag.values().all(|l| *l == 0.0).then_some(())
    })
    .await;

    stop.cancel();
    held.await.expect("held consumer stopped");
    suite.stop().await.expect("suite stopped");
}
