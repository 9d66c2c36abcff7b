//! `spontan-load`: an open-loop load generator for the Spontan services.
//!
//! Open loop means requests are *scheduled* at a constant arrival rate, whatever the server
//! does, and each latency is measured from the request's scheduled time, not from when it was
//! finally sent. A closed loop (send, wait, send) slows down with the server and hides
//! queueing ("coordinated omission"); this one does not. Latencies go into HDR histograms.
//!
//! Loopback and the project's own hosts only: the run is bounded by `--duration` and stops by
//! itself.
//!
//! `--mode` chooses what is measured: `mix` (default; request latencies of a weighted mix),
//! `seed` (registers `--volunteers` volunteers at `--rate`, spread over Germany, as the base
//! for the other modes), and the end-to-end modes of [`e2e`]: `e2e-task`, `e2e-register` and
//! `empty-poll`.

mod e2e;

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

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    /// Request latencies of the operations in --mix.
    Mix,
    /// Register --volunteers volunteers at --rate (spread over Germany), then stop.
    Seed,
    /// Task created -> first OFFERED match in a dashboard poll, tasks at --rate.
    E2eTask,
    /// Registration -> volunteer in matching's index (GetIncidentSummary of probe incidents).
    E2eRegister,
    /// Server time of dashboard polls with nothing new (matching's /metrics histogram).
    EmptyPoll,
}

/// Where registered volunteers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Spread {
    /// Within about 20 km of Bad Neuenahr-Ahrweiler, all with sandbag filling and lifting.
    Ahr,
    /// A fifth around Bad Neuenahr-Ahrweiler, half around large cities, the rest anywhere in
    /// Germany; skills from the taxonomy with realistic rarity.
    Germany,
}

/// Drive the services at a constant arrival rate and report latency percentiles.
#[derive(Debug, Clone, Parser)]
#[command(name = "spontan-load", version)]
pub(crate) struct Args {
    /// What to measure (see the crate documentation).
    #[arg(long, value_enum, default_value_t = Mode::Mix)]
    pub(crate) mode: Mode,
    /// Volunteers to register in --mode seed.
    #[arg(long, default_value_t = 100_000)]
    volunteers: u64,
    /// Where registered volunteers live (register operations and --mode seed, which defaults
    /// to germany).
    #[arg(long, value_enum)]
    spread: Option<Spread>,
    /// Milliseconds between dashboard polls while waiting in the e2e modes.
    #[arg(long, default_value_t = 5)]
    pub(crate) poll_interval_ms: u64,
    /// Seconds e2e-task waits after the last task for offers still outstanding.
    #[arg(long, default_value_t = 30)]
    pub(crate) settle: u64,
    /// Probe incidents of e2e-register (registrations are spread over them).
    #[arg(long, default_value_t = 64)]
    pub(crate) probes: usize,
    /// Matching's metrics endpoint (host:port), read by empty-poll.
    #[arg(long, default_value = "127.0.0.1:9103")]
    pub(crate) metrics: String,
    /// Incident whose feed empty-poll polls (default: a new one).
    #[arg(long)]
    pub(crate) incident: Option<String>,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    registration: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    task: String,
    #[arg(long, default_value = "http://127.0.0.1:50053")]
    matching: String,
    /// Requests per second, all operations together.
    #[arg(long, default_value_t = 200.0)]
    pub(crate) rate: f64,
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 30)]
    pub(crate) duration: u64,
    /// Seconds of load before measuring starts (connections, caches, JIT of the planner).
    #[arg(long, default_value_t = 3)]
    pub(crate) warmup: u64,
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
    pub(crate) organisation: String,
    /// Consent text version the registration service accepts.
    #[arg(
        long,
        env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
        default_value = "2025-06-de"
    )]
    pub(crate) consent_version: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
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
    spread: Spread,
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

/// Large cities: latitude, longitude, population in thousands.
const CITIES: [(f64, f64, f64); 12] = [
    (52.520, 13.405, 3850.0),
    (53.551, 9.994, 1900.0),
    (48.137, 11.576, 1510.0),
    (50.938, 6.960, 1090.0),
    (50.110, 8.682, 770.0),
    (48.776, 9.183, 630.0),
    (51.227, 6.774, 630.0),
    (51.340, 12.375, 620.0),
    (51.514, 7.466, 590.0),
    (51.050, 13.738, 560.0),
    (52.376, 9.732, 540.0),
    (50.735, 7.100, 335.0),
];

/// Roughly normal (sum of four uniforms), mean 0, standard deviation 1.
fn normal(rng: &mut impl Rng) -> f64 {
    (0..4).map(|_| rng.random::<f64>()).sum::<f64>() * 3.0_f64.sqrt() - 2.0 * 3.0_f64.sqrt()
}

/// Somewhere in Germany: a fifth around Bad Neuenahr-Ahrweiler (about 13 km either way),
/// half around a large city by population, the rest anywhere in the country's bounding box.
fn in_germany(rng: &mut impl Rng) -> GeoPoint {
    let place: f64 = rng.random();
    let (latitude, longitude) = if place < 0.2 {
        (50.5427 + normal(rng) * 0.12, 7.1125 + normal(rng) * 0.18)
    } else if place < 0.7 {
        let total: f64 = CITIES.iter().map(|c| c.2).sum();
        let mut pick = rng.random_range(0.0..total);
        let mut city = CITIES[0];
        for c in CITIES {
            if pick < c.2 {
                city = c;
                break;
            }
            pick -= c.2;
        }
        (city.0 + normal(rng) * 0.15, city.1 + normal(rng) * 0.22)
    } else {
        (rng.random_range(47.3..55.0), rng.random_range(5.9..15.0))
    };
    GeoPoint {
        latitude,
        longitude,
    }
}

/// How common a skill is among volunteers (shares used for --spread germany).
fn skill_share(id: &str) -> f64 {
    match id {
        "heavy_lifting" => 0.55,
        "sandbag_filling" => 0.45,
        "driving_licence_b" => 0.60,
        "mud_clearing" | "cleaning" => 0.40,
        "debris_removal" => 0.30,
        "own_vehicle" => 0.35,
        "first_aid" => 0.25,
        "cooking" | "donations_sorting" => 0.20,
        "pumping" | "logistics" | "translation_en" => 0.15,
        "childcare" | "elderly_care" | "animal_care" | "driving_licence_be" => 0.08,
        "nursing_care" | "medical_professional" | "psychosocial_support" => 0.04,
        "translation_ar" | "translation_tr" | "translation_ru" | "translation_pl" => 0.02,
        "radio_operator" | "sign_language" | "translation_fa" | "drone_pilot" => 0.004,
        "structural_assessment" => 0.002,
        _ => 0.03,
    }
}

fn taxonomy_skills(rng: &mut impl Rng) -> Vec<String> {
    let skills: Vec<String> = spontan_platform::skills::TAXONOMY
        .iter()
        .filter(|s| rng.random::<f64>() < skill_share(s.id))
        .map(|s| s.id.to_owned())
        .collect();
    if skills.is_empty() {
        vec!["heavy_lifting".into()]
    } else {
        skills
    }
}

/// A full registration of volunteer `n` of run `run_id` at `location`; phone numbers are
/// unique per run and number (`+4915…`), available from 10 minutes to 12 hours from now.
fn register_request(
    n: u64,
    run_id: u32,
    consent_version: &str,
    location: GeoPoint,
) -> RegisterRequest {
    let now = Utc::now();
    let mut rng = rand::rng();
    RegisterRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: consent_version.to_owned(),
        }),
        contact: Some(Contact {
            display_name: format!("Last {n}"),
            phone_e164: format!("+4915{:03}{:07}", run_id % 1000, n % 10_000_000),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        channel_addresses: None,
        skill_ids: vec!["sandbag_filling".into(), "heavy_lifting".into()],
        languages: vec!["de".into()],
        birth_year: rng.random_range(1950..=2008),
        home_location: Some(location),
        travel_radius_km: {
            let r: f64 = rng.random();
            (5.0 + 45.0 * r * r).round()
        },
        availability: vec![TimeWindow {
            start_time: Some(timestamp(now + chrono::Duration::minutes(10))),
            end_time: Some(timestamp(now + chrono::Duration::hours(12))),
        }],
    }
}

impl Clients {
    async fn call(&self, op: Op) -> Result<(), tonic::Status> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let slot = usize::try_from(n).unwrap_or(0);
        let now = Utc::now();
        match op {
            Op::Register => {
                let message = {
                    let mut rng = rand::rng();
                    match self.spread {
                        Spread::Ahr => {
                            let mut m = register_request(
                                n,
                                self.run_id,
                                &self.consent_version,
                                nearby(&mut rng),
                            );
                            // As before --spread: availability from 1 to 9 hours from now.
                            m.availability = vec![TimeWindow {
                                start_time: Some(timestamp(now + chrono::Duration::hours(1))),
                                end_time: Some(timestamp(now + chrono::Duration::hours(9))),
                            }];
                            m
                        }
                        Spread::Germany => {
                            let mut m = register_request(
                                n,
                                self.run_id,
                                &self.consent_version,
                                in_germany(&mut rng),
                            );
                            m.skill_ids = taxonomy_skills(&mut rng);
                            m
                        }
                    }
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
    let mut args = Args::parse();
    if !(0.1..=100_000.0).contains(&args.rate) {
        bail!("--rate must be between 0.1 and 100000 per second");
    }
    if args.mode == Mode::Seed {
        if args.volunteers == 0 {
            bail!("--volunteers must be at least 1");
        }
        args.duration = (args.volunteers as f64 / args.rate).ceil() as u64;
        args.warmup = 0;
        args.mix = "register".into();
        args.spread.get_or_insert(Spread::Germany);
    }
    if args.duration == 0 || args.duration > 3600 {
        bail!("--duration must be between 1 and 3600 seconds (seed: --volunteers / --rate)");
    }
    if !matches!(args.mode, Mode::Mix | Mode::Seed) {
        return end_to_end(&args).await;
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
        spread: args.spread.unwrap_or(Spread::Ahr),
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

/// The end-to-end modes: staff tokens from the dev key, then the mode's own loop.
async fn end_to_end(args: &Args) -> anyhow::Result<()> {
    let key = args
        .signing_key
        .as_deref()
        .context("the e2e modes need --signing-key (the dev key) for staff tokens")?;
    let issuer = TokenIssuer::from_config(&AuthConfig {
        signing_key: Secret::new(key.trim()),
        ..AuthConfig::default()
    })?;
    let ttl = Duration::from_secs(3 * 3600);
    let matching = channels(&args.matching, 1).await?;
    let tasks = channels(&args.task, 1).await?;
    let staff = e2e::Staff {
        tasks: TaskServiceClient::new(tasks[0].clone()),
        matching: MatchingServiceClient::new(matching[0].clone()),
        coordinator: issuer.issue("load", Role::Coordinator, Some(&args.organisation), ttl)?,
        dashboard: issuer.issue("load", Role::Dashboard, Some(&args.organisation), ttl)?,
        organisation: args.organisation.clone(),
    };
    match args.mode {
        Mode::E2eTask => e2e::task_to_offer(args, staff).await,
        Mode::E2eRegister => {
            let registration = channels(&args.registration, args.connections)
                .await?
                .into_iter()
                .map(RegistrationServiceClient::new)
                .collect();
            e2e::register_to_matching(args, staff, registration).await
        }
        Mode::EmptyPoll => e2e::empty_poll(args, staff).await,
        Mode::Mix | Mode::Seed => bail!("not an end-to-end mode"),
    }
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
        // Every request whose scheduled time has come (request n is due at n / rate, so at
        // `elapsed` there are floor(elapsed * rate) + 1 of them), each stamped with that time.
        let due = (elapsed.as_secs_f64() * args.rate) as u64 + 1;
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
