//! `spontan-load`: an open-loop load generator for the Spontan services.
//!
//! Open loop means requests are *scheduled* at a constant arrival rate, whatever the server
//! does, and each latency is measured from the request's scheduled time, not from when it was
//! finally sent. A closed loop (send, wait, send) slows down with the server and hides
//! queueing ("coordinated omission"); this one does not. Latencies go into HDR histograms.
//!
//! Loopback and the project's own hosts only: the run is bounded by `--duration` and stops by
//! itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Parser;
use hdrhistogram::Histogram;
use rand::Rng;
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::{AuthConfig, Secret};
use spontan_platform::events::timestamp;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

/// Drive the services at a constant arrival rate and report latency percentiles.
#[derive(Debug, Clone, Parser)]
#[command(name = "spontan-load", version)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    registration: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    task: String,
    #[arg(long, default_value = "http://127.0.0.1:50053")]
    matching: String,
    /// Requests per second, all operations together.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds of load before measuring starts (connections, caches, JIT of the planner).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Weights of the operations: register, poll (dashboard ListMatchChanges), create-task.
    #[arg(long, default_value = "register=1")]
    mix: String,
    /// HTTP/2 connections per service (requests are spread over them).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests allowed in flight before new ones count as client overload errors.
    #[arg(long, default_value_t = 20_000)]
    max_in_flight: u64,
    /// Base64 dev signing key, for coordinator/dashboard tokens (poll, create-task).
    #[arg(long, env = "SPONTAN_DEV_SIGNING_KEY", hide_env_values = true)]
    signing_key: Option<String>,
    #[arg(long, default_value = "load-test-org")]
    organisation: String,
    /// Consent text version the registration service accepts.
    #[arg(
        long,
        env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
        default_value = "2025-06-de"
    )]
    consent_version: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Register,
    Poll,
    CreateTask,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Poll => "poll",
            Op::CreateTask => "create-task",
        }
    }
}

fn parse_mix(text: &str) -> anyhow::Result<Vec<(Op, f64)>> {
    let mut mix = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
        let op = match name.trim() {
            "register" => Op::Register,
            "poll" => Op::Poll,
            "create-task" => Op::CreateTask,
            other => bail!("unknown operation {other:?} in --mix (register, poll, create-task)"),
        };
        let weight: f64 = weight
            .trim()
            .parse()
            .with_context(|| format!("weight of {name}"))?;
        if weight > 0.0 {
            mix.push((op, weight));
        }
    }
    if mix.is_empty() {
        bail!("--mix selects no operation");
    }
    Ok(mix)
}

/// Latencies (µs) and outcomes per operation.
#[derive(Default)]
struct Recorder {
    latencies: Mutex<BTreeMap<Op, Histogram<u64>>>,
    outcomes: Mutex<BTreeMap<(Op, String), u64>>,
}

impl Recorder {
    fn record(&self, op: Op, latency: Duration, outcome: &str) {
        if outcome == "ok" {
            let mut latencies = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
            let histogram = latencies.entry(op).or_insert_with(|| {
                Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant bounds are valid")
            });
            let _ = histogram.record(
                u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
        }
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((op, outcome.to_owned()))
            .or_default() += 1;
    }
}

/// Everything a request needs, shared by all request tasks.
struct Clients {
    registration: Vec<RegistrationServiceClient<Channel>>,
    tasks: Vec<TaskServiceClient<Channel>>,
    matching: Vec<MatchingServiceClient<Channel>>,
    coordinator_token: Option<String>,
    dashboard_token: Option<String>,
    incident_id: Option<String>,
    consent_version: String,
    run_id: u32,
    counter: AtomicU64,
}

async fn channels(address: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let channel = Channel::from_shared(address.to_owned())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot reach {address}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

fn with_token<T>(message: T, token: Option<&String>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Around Bad Neuenahr-Ahrweiler, within about 20 km.
fn nearby(rng: &mut impl Rng) -> GeoPoint {
    GeoPoint {
        latitude: 50.5427 + rng.random_range(-0.18..0.18),
        longitude: 7.1125 + rng.random_range(-0.28..0.28),
    }
}

impl Clients {
    async fn call(&self, op: Op) -> Result<(), tonic::Status> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let slot = usize::try_from(n).unwrap_or(0);
        let now = Utc::now();
        match op {
            Op::Register => {
                let (location, birth_year, radius) = {
                    let mut rng = rand::rng();
                    (
                        nearby(&mut rng),
                        rng.random_range(1950..=2008),
                        rng.random_range(5.0..50.0_f64).round(),
                    )
                };
                let message = RegisterRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    consent: Some(Consent {
                        given: true,
                        text_version: self.consent_version.clone(),
                    }),
                    contact: Some(Contact {
                        display_name: format!("Last {n}"),
                        phone_e164: format!("+4915{:03}{n:07}", self.run_id % 1000),
                        email: String::new(),
                    }),
                    preferred_alert_channel: AlertChannel::Sms.into(),
                    channel_addresses: None,
                    skill_ids: vec!["sandbag_filling".into(), "heavy_lifting".into()],
                    languages: vec!["de".into()],
                    birth_year,
                    home_location: Some(location),
                    travel_radius_km: radius,
                    availability: vec![TimeWindow {
                        start_time: Some(timestamp(now + chrono::Duration::hours(1))),
                        end_time: Some(timestamp(now + chrono::Duration::hours(9))),
                    }],
                };
                let mut client = self.registration[slot % self.registration.len()].clone();
                client.register(message).await.map(|_| ())
            }
            Op::Poll => {
                let message = ListMatchChangesRequest {
                    incident_id: self.incident_id.clone().unwrap_or_default(),
                    after_sequence: 0,
                    limit: 100,
                };
                let mut client = self.matching[slot % self.matching.len()].clone();
                client
                    .list_match_changes(with_token(message, self.dashboard_token.as_ref()))
                    .await
                    .map(|_| ())
            }
            Op::CreateTask => {
                let start = now + chrono::Duration::hours(2);
                let location = nearby(&mut rand::rng());
                let message = CreateTaskRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    incident_id: self.incident_id.clone().unwrap_or_default(),
                    title: format!("Lasttest-Aufgabe {n}"),
                    description: String::new(),
                    meeting_point: Some(location),
                    address: "Ahrweiler".into(),
                    required_skill_ids: vec!["sandbag_filling".into()],
                    preferred_skill_ids: Vec::new(),
                    min_age: 16,
                    headcount: 3,
                    window: Some(TimeWindow {
                        start_time: Some(timestamp(start)),
                        end_time: Some(timestamp(start + chrono::Duration::hours(3))),
                    }),
                    priority: Priority::High.into(),
                    max_distance_km: 30.0,
                    safety_notes: String::new(),
                };
                let mut client = self.tasks[slot % self.tasks.len()].clone();
                client
                    .create_task(with_token(message, self.coordinator_token.as_ref()))
                    .await
                    .map(|_| ())
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(0.1..=100_000.0).contains(&args.rate) {
        bail!("--rate must be between 0.1 and 100000 per second");
    }
    if args.duration == 0 || args.duration > 3600 {
        bail!("--duration must be between 1 and 3600 seconds");
    }
    let mix = parse_mix(&args.mix)?;
    let needs_staff = mix.iter().any(|(op, _)| *op != Op::Register);
    let (coordinator_token, dashboard_token) = match (&args.signing_key, needs_staff) {
        (Some(key), _) => {
            let issuer = TokenIssuer::from_config(&AuthConfig {
                signing_key: Secret::new(key.trim()),
                ..AuthConfig::default()
            })?;
            let ttl = Duration::from_secs(3600);
            (
                Some(issuer.issue("load", Role::Coordinator, Some(&args.organisation), ttl)?),
                Some(issuer.issue("load", Role::Dashboard, Some(&args.organisation), ttl)?),
            )
        }
        (None, true) => {
            bail!("poll and create-task need --signing-key (the dev key) for staff tokens")
        }
        (None, false) => (None, None),
    };

    let mut clients = Clients {
        registration: Vec::new(),
        tasks: Vec::new(),
        matching: Vec::new(),
        coordinator_token,
        dashboard_token,
        incident_id: None,
        consent_version: args.consent_version.clone(),
        run_id: rand::rng().random_range(0..1000),
        counter: AtomicU64::new(0),
    };
    for (op, _) in &mix {
        match op {
            Op::Register if clients.registration.is_empty() => {
                clients.registration = channels(&args.registration, args.connections)
                    .await?
                    .into_iter()
                    .map(RegistrationServiceClient::new)
                    .collect();
            }
            Op::Poll if clients.matching.is_empty() => {
                clients.matching = channels(&args.matching, args.connections)
                    .await?
                    .into_iter()
                    .map(MatchingServiceClient::new)
                    .collect();
            }
            _ => {}
        }
    }
    if needs_staff {
        clients.tasks = channels(&args.task, args.connections)
            .await?
            .into_iter()
            .map(TaskServiceClient::new)
            .collect();
        let incident = clients.tasks[0]
            .create_incident(with_token(
                CreateIncidentRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    organisation_id: args.organisation.clone(),
                    name: "Lasttest".into(),
                    description: String::new(),
                    region_centre: Some(GeoPoint {
                        latitude: 50.5427,
                        longitude: 7.1125,
                    }),
                    region_radius_km: 30.0,
                },
                clients.coordinator_token.as_ref(),
            ))
            .await
            .context("creating the load-test incident")?
            .into_inner()
            .incident
            .context("no incident returned")?;
        clients.incident_id = Some(incident.incident_id);
    }

    let report = run(&args, &mix, Arc::new(clients)).await;
    print_report(&args, &report);
    Ok(())
}

struct Report {
    recorder: Arc<Recorder>,
    measured: Duration,
    scheduled: u64,
}

/// Schedules requests at the arrival rate for warm-up plus duration; only requests scheduled
/// after the warm-up are recorded.
async fn run(args: &Args, mix: &[(Op, f64)], clients: Arc<Clients>) -> Report {
    let recorder = Arc::new(Recorder::default());
    let in_flight = Arc::new(AtomicU64::new(0));
    let total_weight: f64 = mix.iter().map(|(_, w)| w).sum();
    let warmup = Duration::from_secs(args.warmup);
    let end = warmup + Duration::from_secs(args.duration);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut scheduled_measured = 0;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let elapsed = start.elapsed();
        if elapsed >= end {
            break;
        }
        // Every request whose scheduled time has come, each stamped with that time.
        let due = (elapsed.as_secs_f64() * args.rate) as u64;
        while sent < due {
            let scheduled_at = start + Duration::from_secs_f64(sent as f64 / args.rate);
            let measured = scheduled_at.duration_since(start) >= warmup;
            sent += 1;
            let mut pick = rand::rng().random_range(0.0..total_weight);
            let mut op = mix[0].0;
            for (candidate, weight) in mix {
                if pick < *weight {
                    op = *candidate;
                    break;
                }
                pick -= weight;
            }
            if measured {
                scheduled_measured += 1;
            }
            if in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
                if measured {
                    recorder.record(op, Duration::ZERO, "client-overloaded");
                }
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (clients, recorder, in_flight) =
                (clients.clone(), recorder.clone(), in_flight.clone());
            tasks.spawn(async move {
                let result = clients.call(op).await;
                let latency = scheduled_at.elapsed();
                if measured {
                    let outcome = match &result {
                        Ok(()) => "ok".to_owned(),
                        Err(status) => format!("{:?}", status.code()),
                    };
                    recorder.record(op, latency, &outcome);
                }
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    // Let what is in flight finish, for at most 30 s.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Report {
        recorder,
        measured: Duration::from_secs(args.duration),
        scheduled: scheduled_measured,
    }
}

fn print_report(args: &Args, report: &Report) {
    let latencies = report
        .recorder
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let outcomes = report
        .recorder
        .outcomes
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut ops = Vec::new();
    let mut ops_seen: Vec<Op> = outcomes.keys().map(|(op, _)| *op).collect();
    ops_seen.dedup();
    for op in ops_seen {
        let ok = outcomes.get(&(op, "ok".to_owned())).copied().unwrap_or(0);
        let errors: BTreeMap<&str, u64> = outcomes
            .iter()
            .filter(|((o, outcome), _)| *o == op && outcome != "ok")
            .map(|((_, outcome), count)| (outcome.as_str(), *count))
            .collect();
        let ms = |q: f64| {
            latencies
                .get(&op)
                .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        ops.push(serde_json::json!({
            "operation": op.name(),
            "ok": ok,
            "errors": errors,
            "achieved_per_second": ok as f64 / report.measured.as_secs_f64(),
            "p50_ms": ms(0.5),
            "p90_ms": ms(0.9),
            "p99_ms": ms(0.99),
            "p999_ms": ms(0.999),
            "max_ms": latencies.get(&op).map_or(0.0, |h| h.max() as f64 / 1000.0),
        }));
    }
    let report_json = serde_json::json!({
        "target_rate_per_second": args.rate,
        "measured_seconds": report.measured.as_secs(),
        "scheduled": report.scheduled,
        "mix": args.mix,
        "operations": ops,
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json).unwrap_or_default()
        );
        return;
    }
    println!(
        "target {:.0}/s for {} s (after {} s warm-up), {} requests scheduled",
        args.rate, args.duration, args.warmup, report.scheduled
    );
    println!(
        "{:<12} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}  errors",
        "operation", "ok", "ok/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for op in report_json["operations"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:>8} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
            op["operation"].as_str().unwrap_or_default(),
            op["ok"],
            op["achieved_per_second"].as_f64().unwrap_or(0.0),
            op["p50_ms"].as_f64().unwrap_or(0.0),
            op["p90_ms"].as_f64().unwrap_or(0.0),
            op["p99_ms"].as_f64().unwrap_or(0.0),
            op["p999_ms"].as_f64().unwrap_or(0.0),
            op["max_ms"].as_f64().unwrap_or(0.0),
            op["errors"],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_with_weights() {
        let mix = parse_mix("register=3,poll=1,create-task=0").expect("valid mix");
        assert_eq!(mix, vec![(Op::Register, 3.0), (Op::Poll, 1.0)]);
        assert!(parse_mix("frobnicate=1").is_err());
        assert!(parse_mix("register=0").is_err());
    }

    #[test]
    fn only_successes_enter_the_latency_histogram() {
        let recorder = Recorder::default();
        recorder.record(Op::Register, Duration::from_millis(4), "ok");
        recorder.record(Op::Register, Duration::from_millis(900), "Unavailable");
        let latencies = recorder.latencies.lock().expect("lock");
        let histogram = latencies.get(&Op::Register).expect("histogram");
        assert_eq!(histogram.len(), 1);
        assert!(histogram.max() < 5_000);
        let outcomes = recorder.outcomes.lock().expect("lock");
        assert_eq!(
            outcomes.get(&(Op::Register, "Unavailable".to_owned())),
            Some(&1)
        );
    }
}
