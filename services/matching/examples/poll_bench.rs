//! Server time of an empty dashboard poll, measured in-process against real PostgreSQL, more
//! finely than the 0.5/1/2.5 ms buckets of `grpc_server_request_duration_seconds` allow.
//!
//! ```sh
//! cargo run --release -p spontan-matching --example poll_bench -- [POLLS] [CHANGES]
//! ```
//!
//! It creates a fresh database (`SPONTAN_TEST_DATABASE_URL`, as the tests do), migrates it,
//! writes an incident with CHANGES changes (default 500) and then, one poll at a time, calls
//! the `ListMatchChanges` handler exactly as tonic does after the auth interceptor, with the
//! cursor at the head of the log (nothing new), POLLS times (default 5000) after a warm-up.
//! Reported separately:
//! - `verify`: the interceptor's work, an Ed25519 JWT verification of a dashboard token;
//! - `handler`: the handler on the pool the service builds (`spontan_platform::db::pool`);
//! - `handler, no ping on acquire`: the same on a pool that does not ping a connection when
//!   it leaves the pool (`test_before_acquire(false)`), to show what that round trip costs.
//!
//! Telemetry is set up as the service sets it up (the handler's span is included). The gRPC
//! transport (HTTP/2 framing, protobuf decoding, the server's request span) is not; the
//! histogram the service exports includes it, and `spontan-load --mode empty-poll` reads it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spontan_matching::api::Api;
use spontan_matching::matcher::Matcher;
use spontan_matching::streams::Streams;
use spontan_matching::{MIGRATOR, MatchingSettings};
use spontan_platform::auth::{Role, TokenIssuer, TokenVerifier};
use spontan_platform::{db, testkit};
use spontan_proto::v1::ListMatchChangesRequest;
use spontan_proto::v1::matching_service_server::MatchingService;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const ORG: &str = "thw-bonn";

struct Summary {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Summary {
    fn print(mut self) {
        self.samples.sort_unstable();
        let n = self.samples.len();
        let at = |q: f64| {
            let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
            self.samples[i].as_secs_f64() * 1e3
        };
        let mean = self.samples.iter().sum::<Duration>().as_secs_f64() * 1e3 / n as f64;
        let under = |ms: f64| {
            let bound = Duration::from_secs_f64(ms / 1e3);
            self.samples.iter().filter(|d| **d < bound).count() as f64 * 100.0 / n as f64
        };
        println!(
            "| {} | {n} | {mean:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1}% | {:.1}% |",
            self.name,
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0),
            under(0.5),
            under(1.0),
        );
    }
}

/// An incident with `changes` changes in its log, written the way the log is laid out.
async fn seed(pool: &PgPool, changes: i64) -> anyhow::Result<Uuid> {
    let incident = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO incidents (id, organisation_id, centre_latitude, centre_longitude, \
         region_radius_km, last_sequence) VALUES ($1, $2, 50.54, 7.11, 30, $3)",
        incident,
        ORG,
        changes,
    )
    .execute(pool)
    .await?;
    sqlx::query!(
        "INSERT INTO match_changes (incident_id, sequence, match_id, task_id, volunteer_ref, \
         state, previous_state, explanation) \
         SELECT $1, g, gen_random_uuid(), gen_random_uuid(), 'v-' || g, 'offered', 'proposed', \
         '{}'::jsonb FROM generate_series(1, $2::int8) AS g",
        incident,
        changes,
    )
    .execute(pool)
    .await?;
    // Other incidents around it, so the index is not trivially small.
    sqlx::query!(
        "INSERT INTO match_changes (incident_id, sequence, match_id, task_id, volunteer_ref, \
         state, explanation) \
         SELECT i.id, g, gen_random_uuid(), gen_random_uuid(), 'v-' || g, 'offered', '{}'::jsonb \
         FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 50)) AS i, \
         generate_series(1, $1::int8) AS g",
        changes,
    )
    .execute(pool)
    .await?;
    sqlx::query!("ANALYZE").execute(pool).await?;
    Ok(incident)
}

async fn polls(
    api: &Api,
    verifier: &TokenVerifier,
    token: &str,
    incident: Uuid,
    head: u64,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let (mut verify, mut handler) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let started = Instant::now();
        let principal = verifier.verify(token)?;
        verify.push(started.elapsed());
        let mut request = tonic::Request::new(ListMatchChangesRequest {
            incident_id: incident.to_string(),
            after_sequence: head,
            limit: 100,
        });
        request.extensions_mut().insert(principal);
        let started = Instant::now();
        let response = api.list_match_changes(request).await?;
        handler.push(started.elapsed());
        anyhow::ensure!(
            response.get_ref().changes.is_empty(),
            "the poll found something new"
        );
    }
    Ok((verify, handler))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(5000), |a| a.parse())?;
    let changes: i64 = args.next().map_or(Ok(500), |a| a.parse())?;

    let url = testkit::fresh_database().await?;
    let config = testkit::platform_config("matching", &url, "127.0.0.1:9");
    // The service's tracing set-up, so the handler's span costs what it costs in the service.
    let _telemetry = spontan_platform::telemetry::init("matching", &config.telemetry)?;
    let pool = db::pool(&config.database)?;
    db::migrate(&pool, &MIGRATOR).await?;
    let incident = seed(&pool, changes).await?;
    let head = u64::try_from(changes)?;

    let issuer = TokenIssuer::from_config(&config.auth)?;
    let verifier = TokenVerifier::from_config(&config.auth)?;
    let token = issuer.issue(
        "screen-1",
        Role::Dashboard,
        Some(ORG),
        Duration::from_secs(3600),
    )?;

    let no_ping = PgPoolOptions::new()
        .max_connections(config.database.max_connections)
        .test_before_acquire(false)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let api = |pool: PgPool| Api {
        streams: Streams::new(Default::default(), pool.clone(), CancellationToken::new()),
        matcher: Matcher {
            pool,
            index: Arc::default(),
            settings: MatchingSettings::default(),
            topic: "unused".into(),
            grants: None,
        },
        shutdown: CancellationToken::new(),
    };
    let (service_pool, no_ping) = (api(pool), api(no_ping));

    let warmup = (n / 10).max(100);
    polls(&service_pool, &verifier, &token, incident, head, warmup).await?;
    polls(&no_ping, &verifier, &token, incident, head, warmup).await?;
    let (verify, handler) = polls(&service_pool, &verifier, &token, incident, head, n).await?;
    let (_, handler_no_ping) = polls(&no_ping, &verifier, &token, incident, head, n).await?;

    println!("empty polls of an incident with {changes} changes, one at a time, times in ms");
    println!("| what | polls | mean | p50 | p90 | p99 | max | < 0.5 ms | < 1 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for summary in [
        Summary {
            name: "verify (auth interceptor)",
            samples: verify,
        },
        Summary {
            name: "handler",
            samples: handler,
        },
        Summary {
            name: "handler, no ping on acquire",
            samples: handler_no_ping,
        },
    ] {
        summary.print();
    }
    Ok(())
}
