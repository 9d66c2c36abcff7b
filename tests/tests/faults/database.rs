//! Lost database connections under a stream of registrations.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use spontan_e2e::{Service, wait_for_health};
use spontan_platform::testkit::TestBroker;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{
    WAIT, count, outbox_drained, register_retrying, registration, registration_client, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_database_connections_are_unavailable_and_retries_register_once() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = start(broker).await;
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
