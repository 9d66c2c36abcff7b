//! `--mode mix` (and `seed`, which is a mix of registrations only): request latencies of a
//! weighted mix of registrations, dashboard polls and task creations, per operation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use hdrhistogram::Histogram;
use rand::Rng;
use spontan_platform::events::timestamp;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::{CreateIncidentRequest, ListMatchChangesRequest, TimeWindow};
use tonic::transport::Channel;

use crate::args::{Args, Spread};
use crate::clients::{channels, staff_tokens, with_token};
use crate::people::{self, AHRWEILER, Germany};
use crate::report::{histogram, micros};
use crate::schedule::schedule;

/// One operation of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
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

/// `register=3,poll=1`: operations and their weights (a weight may be left out: 1); those
/// weighted 0 are dropped.
pub fn parse_mix(text: &str) -> anyhow::Result<Vec<(Op, f64)>> {
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

/// Latencies (µs) of the successful requests and the count of every outcome, per operation.
#[derive(Default)]
struct Recorder {
    latencies: Mutex<BTreeMap<Op, Histogram<u64>>>,
    outcomes: Mutex<BTreeMap<(Op, String), u64>>,
}

impl Recorder {
    fn record(&self, op: Op, latency: Duration, outcome: &str) {
        if outcome == "ok" {
            let mut latencies = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
            let histogram = latencies.entry(op).or_insert_with(histogram);
            let _ = histogram.record(micros(latency));
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

impl Clients {
    async fn call(&self, op: Op) -> Result<(), tonic::Status> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let slot = usize::try_from(n).unwrap_or(0);
        match op {
            Op::Register => {
                let message = self.registration(n);
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
                let message =
                    people::task_request(self.incident_id.as_deref().unwrap_or_default(), n);
                let mut client = self.tasks[slot % self.tasks.len()].clone();
                client
                    .create_task(with_token(message, self.coordinator_token.as_ref()))
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Registration `n`, placed as `--spread` says.
    fn registration(&self, n: u64) -> spontan_proto::v1::RegisterRequest {
        let mut rng = rand::rng();
        match self.spread {
            Spread::Ahr => {
                let now = Utc::now();
                let mut m = people::register_request(
                    n,
                    self.run_id,
                    &self.consent_version,
                    people::near_ahrweiler(&mut rng),
                );
                // As before --spread: availability from 1 to 9 hours from now.
                m.availability = vec![TimeWindow {
                    start_time: Some(timestamp(now + chrono::Duration::hours(1))),
                    end_time: Some(timestamp(now + chrono::Duration::hours(9))),
                }];
                m
            }
            Spread::Germany => {
                let mut m = people::register_request(
                    n,
                    self.run_id,
                    &self.consent_version,
                    Germany::LOAD.home(&mut rng),
                );
                m.skill_ids = people::skills(&mut rng);
                // Registration needs at least one skill.
                if m.skill_ids.is_empty() {
                    m.skill_ids = vec!["heavy_lifting".into()];
                }
                m
            }
        }
    }
}

/// Connects what the mix needs (staff tokens and an incident of its own when it polls or
/// creates tasks), runs it and prints the report.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let mix = parse_mix(&args.mix)?;
    let needs_staff = mix.iter().any(|(op, _)| *op != Op::Register);
    let (coordinator_token, dashboard_token) = match (&args.signing_key, needs_staff) {
        (Some(key), _) => {
            let (coordinator, dashboard) =
                staff_tokens(key, &args.organisation, Duration::from_secs(3600))?;
            (Some(coordinator), Some(dashboard))
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
                    region_centre: Some(AHRWEILER),
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

    let report = load(args, &mix, Arc::new(clients)).await;
    print_report(args, &report);
    Ok(())
}

struct Report {
    recorder: Arc<Recorder>,
    measured: Duration,
    scheduled: u64,
}

/// Sends the mix on the open-loop schedule; only requests scheduled after the warm-up are
/// recorded, and those beyond `--max-in-flight` count as `client-overloaded` unsent.
async fn load(args: &Args, mix: &[(Op, f64)], clients: Arc<Clients>) -> Report {
    let recorder = Arc::new(Recorder::default());
    let in_flight = Arc::new(AtomicU64::new(0));
    let total_weight: f64 = mix.iter().map(|(_, w)| w).sum();
    let mut tasks = tokio::task::JoinSet::new();
    let scheduled = schedule(
        args.rate,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
        |_, scheduled_at, measured| {
            // Finished requests leave the set as new ones come, so it holds only those in
            // flight.
            while tasks.try_join_next().is_some() {}
            let mut pick = rand::rng().random_range(0.0..total_weight);
            let mut op = mix[0].0;
            for (candidate, weight) in mix {
                if pick < *weight {
                    op = *candidate;
                    break;
                }
                pick -= weight;
            }
            if in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
                if measured {
                    recorder.record(op, Duration::ZERO, "client-overloaded");
                }
                return;
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
        },
    )
    .await;
    // Let what is in flight finish, for at most 30 s.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Report {
        recorder,
        measured: Duration::from_secs(args.duration),
        scheduled,
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
