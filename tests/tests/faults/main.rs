//! Fault tests: the suite under a broker outage, a broker rebuilt empty, lost database
//! connections, two replicas of every service and a shutdown under load. Each test counts what
//! was sent, acknowledged, stored, published and consumed, and shows that nothing was lost or
//! applied twice.
//! (SIGKILL of a matching process is `services/matching/tests/kill.rs`: it needs the binary.)
//!
//! Everything runs on loopback: real PostgreSQL, the real broker, real gRPC. One module per
//! fault; this file holds what they share: requests, counting in a database, reading a topic
//! until every expected event arrived, and registering with retries.

mod broker;
mod database;
mod rebuild;
mod replicas;
mod shutdown;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use spontan_e2e::{
    Record, Suite, SuiteConfig, channel, create_incident, eventually, incident_request, near,
};
use spontan_platform::testkit::{TestBroker, receive_until_quiet};
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

const ORG: &str = "thw-ov-ahrweiler";
const WAIT: Duration = Duration::from_secs(60);

/// Registration number `n` of a test: its own phone number, within 15 km of the incident.
fn registration(n: u32) -> RegisterRequest {
    spontan_e2e::registration(
        &format!("Helfer {n}"),
        &format!("+49152{n:07}"),
        near(f64::from(n % 30) * 0.5, 0.0),
    )
}

/// Every service of the suite may take all registrations of a test from one address.
fn generous_limits(config: &mut SuiteConfig) {
    config.registration.register_limit.burst = 100_000;
    config.registration.register_limit.per_minute = 1_000_000;
    config.registration.register_limit.global_burst = 100_000;
    config.registration.register_limit.global_per_minute = 6_000_000;
}

/// The suite against `broker` with [`generous_limits`], once every service serves.
async fn start(broker: TestBroker) -> Suite {
    let suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    serving(&suite).await;
    suite
}

async fn serving(suite: &Suite) {
    suite.serving(WAIT).await.expect("serving");
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
/// counts in `seen` how many times each event id was read.
async fn read_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Record>,
    expected: &HashSet<String>,
    seen: &mut HashMap<String, (u32, Option<EventEnvelope>)>,
) {
    // Counts each record once, as it arrives: `enough` sees every record received so far.
    let mut counted = 0;
    receive_until_quiet(rx, Duration::from_secs(90), |records: &[Record]| {
        for (_, envelope) in &records[counted..] {
            if let Some(envelope) = envelope {
                let entry = seen
                    .entry(envelope.event_id.clone())
                    .or_insert((0, Some(envelope.clone())));
                entry.0 += 1;
            }
        }
        counted = records.len();
        expected.iter().all(|id| seen.contains_key(id))
    })
    .await;
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

/// Task number `n` of the incident: three places at the dike.
fn task_request(incident: &str, n: u32, key: String) -> CreateTaskRequest {
    CreateTaskRequest {
        idempotency_key: key,
        ..spontan_e2e::task_request(incident, &format!("Deich {n}"))
    }
}

async fn open_incident(tasks: &TaskServiceClient<Channel>, coordinator: &str) -> String {
    create_incident(tasks, coordinator, incident_request(ORG)).await
}
