//! End-to-end measurements across services, timed with the load generator's own clock:
//!
//! - `e2e-task`: tasks created at a constant rate; for each, the time from its scheduled
//!   `CreateTask` until a dashboard poll (`ListMatchChanges`, every `--poll-interval-ms`)
//!   first shows an OFFERED match for it.
//! - `e2e-register`: registrations at a constant rate; for each, the time from its scheduled
//!   `Register` until matching has consumed the event, seen through matching's API: each
//!   registration is homed at one of `--probes` small probe incidents far from everyone else,
//!   and `GetIncidentSummary.available_volunteers` of that incident (counted from matching's
//!   in-memory index) reaches the number registered there.
//! - `empty-poll`: dashboard polls that find nothing new; their server time from the
//!   `grpc_server_request_duration_seconds` histogram on matching's `/metrics` (before and
//!   after the burst), and their client latency.
//!
//! Latencies are measured from each request's scheduled time (open loop), so queueing in the
//! load generator or the services counts, and the poll interval adds up to one interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use hdrhistogram::Histogram;
use spontan_platform::events::timestamp;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

use crate::{Args, register_request, with_token};

/// Staff clients and tokens for the organisation the measurements run in.
pub struct Staff {
    pub tasks: TaskServiceClient<Channel>,
    pub matching: MatchingServiceClient<Channel>,
    pub coordinator: String,
    pub dashboard: String,
    pub organisation: String,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant bounds are valid")
}

fn record(h: &Mutex<Histogram<u64>>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let _ = h
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(micros.min(120_000_000));
}

/// p50/p90/p99/p99.9/max in ms, and the count.
pub fn summary(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    serde_json::json!({
        "count": h.len(),
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": h.max() as f64 / 1000.0,
    })
}

fn line(name: &str, h: &Histogram<u64>) -> String {
    let s = summary(h);
    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
    format!(
        "{name:<34} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        h.len(),
        f("p50_ms"),
        f("p90_ms"),
        f("p99_ms"),
        f("p999_ms"),
        f("max_ms")
    )
}

fn header() -> String {
    format!(
        "{:<34} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    )
}

/// Creates an incident of the organisation and waits until matching knows it (its event
/// consumed), so that dashboard calls for it succeed.
pub async fn incident(
    staff: &mut Staff,
    name: &str,
    centre: GeoPoint,
    radius_km: f64,
) -> anyhow::Result<String> {
    let incident = staff
        .tasks
        .create_incident(with_token(
            CreateIncidentRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                organisation_id: staff.organisation.clone(),
                name: name.into(),
                description: String::new(),
                region_centre: Some(centre),
                region_radius_km: radius_km,
            },
            Some(&staff.coordinator),
        ))
        .await
        .with_context(|| format!("creating incident {name:?}"))?
        .into_inner()
        .incident
        .context("no incident returned")?;
    let id = incident.incident_id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let known = staff
            .matching
            .list_match_changes(with_token(
                ListMatchChangesRequest {
                    incident_id: id.clone(),
                    after_sequence: 0,
                    limit: 1,
                },
                Some(&staff.dashboard),
            ))
            .await;
        match known {
            Ok(_) => return Ok(id),
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => bail!("matching refused the dashboard poll: {status}"),
        }
        if Instant::now() > deadline {
            bail!("matching did not learn incident {id} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The open-loop schedule: `(index, scheduled time, measured)` for every request of warm-up
/// plus duration, handed to `start` at its time.
async fn schedule(args: &Args, mut start: impl FnMut(u64, Instant, bool)) -> u64 {
    let warmup = Duration::from_secs(args.warmup);
    let end = warmup + Duration::from_secs(args.duration);
    let began = Instant::now();
    let mut sent = 0u64;
    let mut measured = 0u64;
    while began.elapsed() < end {
        // Request n is due at n / rate: floor(elapsed * rate) + 1 of them by now.
        let due = (began.elapsed().as_secs_f64() * args.rate) as u64 + 1;
        while sent < due {
            let at = began + Duration::from_secs_f64(sent as f64 / args.rate);
            let counts = at.duration_since(began) >= warmup;
            measured += u64::from(counts);
            start(sent, at, counts);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    measured
}

enum Track {
    /// Created, no offer seen yet.
    Pending {
        scheduled: Instant,
        created: Instant,
        measured: bool,
    },
    /// An offer was seen before the creation answer arrived.
    Seen(Instant),
    Done,
}

struct TaskRun {
    tracks: Mutex<HashMap<String, Track>>,
    from_request: Mutex<Histogram<u64>>,
    from_created: Mutex<Histogram<u64>>,
    create: Mutex<Histogram<u64>>,
    create_errors: AtomicU64,
    polls: AtomicU64,
    poll_errors: AtomicU64,
}

impl TaskRun {
    fn new() -> Self {
        Self {
            from_request: Mutex::new(histogram()),
            from_created: Mutex::new(histogram()),
            create: Mutex::new(histogram()),
            tracks: Mutex::default(),
            create_errors: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            poll_errors: AtomicU64::new(0),
        }
    }

    fn offered(&self, task_id: &str, seen: Instant) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        match tracks.get(task_id) {
            Some(Track::Pending {
                scheduled,
                created,
                measured,
            }) => {
                if *measured {
                    record(&self.from_request, seen.duration_since(*scheduled));
                    record(&self.from_created, seen.duration_since(*created));
                }
                tracks.insert(task_id.to_owned(), Track::Done);
            }
            Some(Track::Seen(_) | Track::Done) => {}
            None => {
                tracks.insert(task_id.to_owned(), Track::Seen(seen));
            }
        }
    }

    fn created(&self, task_id: String, scheduled: Instant, created: Instant, measured: bool) {
        let mut tracks = self.tracks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Track::Seen(seen)) = tracks.get(&task_id) {
            if measured {
                record(&self.from_request, seen.duration_since(scheduled));
                record(&self.from_created, Duration::ZERO);
            }
            tracks.insert(task_id, Track::Done);
        } else {
            tracks.insert(
                task_id,
                Track::Pending {
                    scheduled,
                    created,
                    measured,
                },
            );
        }
    }

    fn pending(&self) -> usize {
        self.tracks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|t| matches!(t, Track::Pending { measured: true, .. }))
            .count()
    }
}

fn task_request(incident_id: &str, n: u64) -> CreateTaskRequest {
    let start = Utc::now() + chrono::Duration::hours(2);
    CreateTaskRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        incident_id: incident_id.to_owned(),
        title: format!("Lasttest-Aufgabe {n}"),
        description: String::new(),
        meeting_point: Some(crate::nearby(&mut rand::rng())),
        address: "Ahrweiler".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: vec!["heavy_lifting".into()],
        min_age: 16,
        headcount: 3,
        window: Some(TimeWindow {
            start_time: Some(timestamp(start)),
            end_time: Some(timestamp(start + chrono::Duration::hours(3))),
        }),
        priority: Priority::High.into(),
        max_distance_km: 30.0,
        safety_notes: String::new(),
    }
}

/// `e2e-task`: task created -> first offer visible to a dashboard poll.
pub async fn task_to_offer(args: &Args, mut staff: Staff) -> anyhow::Result<()> {
    let incident_id = incident(
        &mut staff,
        "Lasttest Ereignislatenz",
        GeoPoint {
            latitude: 50.5427,
            longitude: 7.1125,
        },
        30.0,
    )
    .await?;
    let run = Arc::new(TaskRun::new());
    let stop = Arc::new(AtomicBool::new(false));
    let interval = Duration::from_millis(args.poll_interval_ms);

    let poller = {
        let (run, stop, incident_id) = (run.clone(), stop.clone(), incident_id.clone());
        let mut matching = staff.matching.clone();
        let token = staff.dashboard.clone();
        tokio::spawn(async move {
            let mut cursor = 0;
            while !stop.load(Ordering::Relaxed) {
                let answer = matching
                    .list_match_changes(with_token(
                        ListMatchChangesRequest {
                            incident_id: incident_id.clone(),
                            after_sequence: cursor,
                            limit: 1000,
                        },
                        Some(&token),
                    ))
                    .await;
                let seen = Instant::now();
                run.polls.fetch_add(1, Ordering::Relaxed);
                match answer {
                    Ok(answer) => {
                        let answer = answer.into_inner();
                        for change in &answer.changes {
                            if change.state == MatchState::Offered as i32 {
                                run.offered(&change.task_id, seen);
                            }
                        }
                        cursor = answer.next_after_sequence;
                        if answer.has_more {
                            continue;
                        }
                    }
                    Err(_) => {
                        run.poll_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(interval).await;
            }
        })
    };

    let mut creators = tokio::task::JoinSet::new();
    let scheduled = schedule(args, |n, at, measured| {
        let (run, incident_id) = (run.clone(), incident_id.clone());
        let mut tasks = staff.tasks.clone();
        let token = staff.coordinator.clone();
        creators.spawn(async move {
            let answer = tasks
                .create_task(with_token(task_request(&incident_id, n), Some(&token)))
                .await;
            let created = Instant::now();
            match answer
                .ok()
                .and_then(|a| a.into_inner().task)
                .map(|t| t.task_id)
            {
                Some(task_id) => {
                    if measured {
                        record(&run.create, created.duration_since(at));
                    }
                    run.created(task_id, at, created, measured);
                }
                None => {
                    run.create_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    })
    .await;
    while creators.join_next().await.is_some() {}
    let settle = Instant::now() + Duration::from_secs(args.settle);
    while run.pending() > 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;

    let without_offer = run.pending();
    let lock = |m: &Mutex<Histogram<u64>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (from_request, from_created, create) = (
        lock(&run.from_request),
        lock(&run.from_created),
        lock(&run.create),
    );
    let report = serde_json::json!({
        "mode": "e2e-task",
        "incident_id": incident_id,
        "target_rate_per_second": args.rate,
        "measured_seconds": args.duration,
        "tasks_scheduled": scheduled,
        "create_errors": run.create_errors.load(Ordering::Relaxed),
        "tasks_without_offer_after_settle": without_offer,
        "dashboard_polls": run.polls.load(Ordering::Relaxed),
        "dashboard_poll_errors": run.poll_errors.load(Ordering::Relaxed),
        "poll_interval_ms": args.poll_interval_ms,
        "create_request_to_first_offer_seen": summary(&from_request),
        "create_answered_to_first_offer_seen": summary(&from_created),
        "create_task_rpc": summary(&create),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "e2e-task: {:.1} tasks/s for {} s (after {} s warm-up), {} scheduled; dashboard poll \
             every {} ms ({} polls, {} errors)",
            args.rate,
            args.duration,
            args.warmup,
            scheduled,
            args.poll_interval_ms,
            report["dashboard_polls"],
            report["dashboard_poll_errors"],
        );
        println!("{}", header());
        println!(
            "{}",
            line("CreateTask sent -> offer in poll", &from_request)
        );
        println!(
            "{}",
            line("CreateTask answered -> offer in poll", &from_created)
        );
        println!("{}", line("CreateTask RPC", &create));
        println!(
            "create errors: {}; measured tasks without an offer after {} s: {}",
            report["create_errors"], args.settle, without_offer
        );
    }
    Ok(())
}

/// `e2e-register`: registration -> event consumed by matching (its index counts the volunteer).
pub async fn register_to_matching(
    args: &Args,
    mut staff: Staff,
    registration: Vec<RegistrationServiceClient<Channel>>,
) -> anyhow::Result<()> {
    let probes = args.probes.clamp(1, 400);
    // A grid of probe incidents over the Baltic Sea, 0.5° apart and more than 150 km from
    // anyone the other modes register (all in Germany, radius at most 50 km): each probe's
    // count moves only with the probe volunteers homed at its centre (radius 2 km).
    let mut incidents = Vec::with_capacity(probes);
    for k in 0..probes {
        let centre = GeoPoint {
            latitude: 56.5 + (k / 20) as f64 * 0.5,
            longitude: 10.0 + (k % 20) as f64 * 0.5,
        };
        let id = incident(&mut staff, &format!("Lasttest Sonde {k}"), centre, 1.0).await?;
        let baseline = available(&mut staff, &id).await?;
        incidents.push((id, centre, baseline, AtomicU64::new(0)));
    }
    let incidents = Arc::new(incidents);
    let consumed = Arc::new(Mutex::new(histogram()));
    let register_rpc = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(AtomicU64::new(0));
    let unseen = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_millis(args.poll_interval_ms);
    let run_id: u32 = rand::random_range(0..1000);
    let mut workers = tokio::task::JoinSet::new();
    let scheduled = schedule(args, |n, at, measured| {
        let k = usize::try_from(n).unwrap_or(0) % probes;
        let (incidents, consumed, register_rpc, errors, unseen) = (
            incidents.clone(),
            consumed.clone(),
            register_rpc.clone(),
            errors.clone(),
            unseen.clone(),
        );
        let mut client = registration[k % registration.len()].clone();
        let mut matching = staff.matching.clone();
        let token = staff.dashboard.clone();
        let mut message = register_request(n, run_id, &args.consent_version, incidents[k].1);
        message.travel_radius_km = 2.0;
        // Numbers of their own (+4917…), never those of a seed run (+4915…): a duplicate
        // would not be a new volunteer.
        if let Some(contact) = message.contact.as_mut() {
            contact.phone_e164 = format!("+4917{:03}{:07}", run_id, n % 10_000_000);
        }
        workers.spawn(async move {
            let (incident_id, _, baseline, registered) = &incidents[k];
            if client.register(message).await.is_err() {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if measured {
                record(&register_rpc, at.elapsed());
            }
            let target = baseline + registered.fetch_add(1, Ordering::Relaxed) + 1;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let count = matching
                    .get_incident_summary(with_token(
                        GetIncidentSummaryRequest {
                            incident_id: incident_id.clone(),
                        },
                        Some(&token),
                    ))
                    .await
                    .map(|s| u64::from(s.into_inner().available_volunteers));
                if count.is_ok_and(|c| c >= target) {
                    if measured {
                        record(&consumed, at.elapsed());
                    }
                    return;
                }
                if Instant::now() > deadline {
                    unseen.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(interval).await;
            }
        });
    })
    .await;
    while workers.join_next().await.is_some() {}
    let lock = |m: &Mutex<Histogram<u64>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (consumed, register_rpc) = (lock(&consumed), lock(&register_rpc));
    let report = serde_json::json!({
        "mode": "e2e-register",
        "target_rate_per_second": args.rate,
        "measured_seconds": args.duration,
        "registrations_scheduled": scheduled,
        "probe_incidents": probes,
        "register_errors": errors.load(Ordering::Relaxed),
        "not_seen_within_30s": unseen.load(Ordering::Relaxed),
        "poll_interval_ms": args.poll_interval_ms,
        "register_sent_to_consumed_by_matching": summary(&consumed),
        "register_rpc": summary(&register_rpc),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "e2e-register: {:.1} registrations/s for {} s (after {} s warm-up), {} scheduled over \
             {} probe incidents; summary poll every {} ms",
            args.rate, args.duration, args.warmup, scheduled, probes, args.poll_interval_ms
        );
        println!("{}", header());
        println!("{}", line("Register sent -> in matching index", &consumed));
        println!("{}", line("Register RPC", &register_rpc));
        println!(
            "register errors: {}; not seen by matching within 30 s: {}",
            report["register_errors"], report["not_seen_within_30s"]
        );
    }
    Ok(())
}

async fn available(staff: &mut Staff, incident_id: &str) -> anyhow::Result<u64> {
    Ok(u64::from(
        staff
            .matching
            .get_incident_summary(with_token(
                GetIncidentSummaryRequest {
                    incident_id: incident_id.to_owned(),
                },
                Some(&staff.dashboard),
            ))
            .await
            .context("GetIncidentSummary of a probe incident")?
            .into_inner()
            .available_volunteers,
    ))
}

/// One Prometheus histogram as scraped: cumulative counts per upper bound, with sum and count.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Buckets {
    pub cumulative: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

/// Extracts the histogram `name` for the label value `method_suffix` from a scrape; when the
/// series carry a `code` label, only `code="Ok"`.
pub fn parse_histogram(text: &str, name: &str, method_suffix: &str) -> Buckets {
    let mut buckets = Buckets::default();
    let method_of = |labels: &str| {
        labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("method=\""))
            .map(|m| m.trim_end_matches('"').to_owned())
    };
    for row in text.lines() {
        let Some((series, value)) = row.rsplit_once(' ') else {
            continue;
        };
        let Some((metric, labels)) = series.split_once('{') else {
            continue;
        };
        let labels = labels.trim_end_matches('}');
        if !method_of(labels).is_some_and(|m| m.ends_with(method_suffix)) {
            continue;
        }
        // Successful calls only, when the series are split by status code.
        if labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("code=\""))
            .is_some_and(|c| c.trim_end_matches('"') != "Ok")
        {
            continue;
        }
        if metric == format!("{name}_bucket") {
            let le = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("le=\""))
                .map(|v| v.trim_end_matches('"'));
            let bound = match le {
                Some("+Inf") => f64::INFINITY,
                Some(v) => v.parse().unwrap_or(f64::NAN),
                None => continue,
            };
            if let Ok(count) = value.parse::<f64>() {
                buckets.cumulative.push((bound, count as u64));
            }
        } else if metric == format!("{name}_sum") {
            buckets.sum = value.parse().unwrap_or(0.0);
        } else if metric == format!("{name}_count") {
            buckets.count = value.parse::<f64>().map_or(0, |v| v as u64);
        }
    }
    buckets.cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

impl Buckets {
    /// What was added between `before` and `self`.
    pub fn since(&self, before: &Buckets) -> Buckets {
        Buckets {
            cumulative: self
                .cumulative
                .iter()
                .map(|(le, n)| {
                    let old = before
                        .cumulative
                        .iter()
                        .find(|(b, _)| b == le)
                        .map_or(0, |(_, n)| *n);
                    (*le, n.saturating_sub(old))
                })
                .collect(),
            sum: self.sum - before.sum,
            count: self.count.saturating_sub(before.count),
        }
    }

    /// The quantile `q`: the bucket it falls in (lower and upper bound, seconds) and an
    /// estimate by linear interpolation inside that bucket (as Prometheus'
    /// `histogram_quantile` does).
    pub fn quantile(&self, q: f64) -> Option<(f64, f64, f64)> {
        let total = self.cumulative.last()?.1;
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut lower = (0.0, 0u64);
        for &(le, n) in &self.cumulative {
            if n as f64 >= rank {
                if le.is_infinite() {
                    return Some((lower.0, le, lower.0));
                }
                let inside = (n - lower.1) as f64;
                let fraction = if inside > 0.0 {
                    (rank - lower.1 as f64) / inside
                } else {
                    1.0
                };
                return Some((lower.0, le, lower.0 + (le - lower.0) * fraction));
            }
            lower = (le, n);
        }
        None
    }
}

/// GET `/metrics` over plain HTTP/1.0 (loopback; no client library needed).
async fn scrape(address: &str) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot reach the metrics endpoint {address}"))?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    let (head, text) = body
        .split_once("\r\n\r\n")
        .context("malformed metrics answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "metrics endpoint answered {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(text.to_owned())
}

const DURATION_METRIC: &str = "grpc_server_request_duration_seconds";
const POLL_METHOD: &str = "ListMatchChanges";

/// `empty-poll`: dashboard polls with nothing new, server time from matching's histogram.
pub async fn empty_poll(args: &Args, mut staff: Staff) -> anyhow::Result<()> {
    let incident_id = match &args.incident {
        Some(id) => id.clone(),
        None => {
            incident(
                &mut staff,
                "Lasttest leere Abfrage",
                GeoPoint {
                    latitude: 50.5427,
                    longitude: 7.1125,
                },
                30.0,
            )
            .await?
        }
    };
    // The cursor at the end of the incident's changes: polls after it find nothing new.
    let mut cursor = 0;
    loop {
        let page = staff
            .matching
            .list_match_changes(with_token(
                ListMatchChangesRequest {
                    incident_id: incident_id.clone(),
                    after_sequence: cursor,
                    limit: 1000,
                },
                Some(&staff.dashboard),
            ))
            .await
            .context("reading the incident's changes")?
            .into_inner();
        cursor = page.next_after_sequence;
        if !page.has_more {
            break;
        }
    }
    let before = parse_histogram(&scrape(&args.metrics).await?, DURATION_METRIC, POLL_METHOD);
    let client = Arc::new(Mutex::new(histogram()));
    let non_empty = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    let scheduled = schedule(args, |_, at, measured| {
        let (client, non_empty, errors) = (client.clone(), non_empty.clone(), errors.clone());
        let mut matching = staff.matching.clone();
        let token = staff.dashboard.clone();
        let incident_id = incident_id.clone();
        workers.spawn(async move {
            let answer = matching
                .list_match_changes(with_token(
                    ListMatchChangesRequest {
                        incident_id,
                        after_sequence: cursor,
                        limit: 100,
                    },
                    Some(&token),
                ))
                .await;
            match answer {
                Ok(a) if a.get_ref().changes.is_empty() => {
                    if measured {
                        record(&client, at.elapsed());
                    }
                }
                Ok(_) => {
                    non_empty.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    })
    .await;
    while workers.join_next().await.is_some() {}
    let after = parse_histogram(&scrape(&args.metrics).await?, DURATION_METRIC, POLL_METHOD);
    let server = after.since(&before);
    let client = client.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let quantile = |q: f64| {
        server.quantile(q).map(|(lo, hi, est)| {
            serde_json::json!({"bucket_ms": [lo * 1000.0, hi * 1000.0], "estimate_ms": est * 1000.0})
        })
    };
    let below = |bound: f64| {
        server
            .cumulative
            .iter()
            .find(|(le, _)| (*le - bound).abs() < 1e-12)
            .map(|(_, n)| *n as f64 / server.count.max(1) as f64)
    };
    let report = serde_json::json!({
        "mode": "empty-poll",
        "incident_id": incident_id,
        "after_sequence": cursor,
        "target_rate_per_second": args.rate,
        "polls_scheduled": scheduled,
        "non_empty_polls": non_empty.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
        "server_polls_counted": server.count,
        "server_mean_ms": if server.count > 0 { server.sum / server.count as f64 * 1000.0 } else { 0.0 },
        "server_share_under_0_5_ms": below(0.0005),
        "server_share_under_1_ms": below(0.001),
        "server_p50": quantile(0.5),
        "server_p99": quantile(0.99),
        "server_buckets_cumulative": server.cumulative.iter().map(|(le, n)| serde_json::json!([le, n])).collect::<Vec<_>>(),
        "client": summary(&client),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "empty-poll: {:.0} polls/s for {} s (after {} s warm-up) of incident {} after \
             sequence {}",
            args.rate, args.duration, args.warmup, incident_id, cursor
        );
        println!(
            "server ({DURATION_METRIC}, {} polls incl. warm-up): mean {:.3} ms, {:.1}% under \
             0.5 ms, {:.1}% under 1 ms",
            server.count,
            report["server_mean_ms"].as_f64().unwrap_or(0.0),
            below(0.0005).unwrap_or(0.0) * 100.0,
            below(0.001).unwrap_or(0.0) * 100.0,
        );
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            if let Some((lo, hi, est)) = server.quantile(q) {
                println!(
                    "server {name}: in bucket ({:.2} ms, {:.2} ms], about {:.3} ms",
                    lo * 1000.0,
                    hi * 1000.0,
                    est * 1000.0
                );
            }
        }
        println!("{}", header());
        println!("{}", line("empty poll (client, open loop)", &client));
        println!(
            "non-empty polls: {}; errors: {}",
            report["non_empty_polls"], report["errors"]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "\
# TYPE grpc_server_request_duration_seconds histogram
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"0.0005\"} 90
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"0.001\"} 99
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",le=\"+Inf\"} 100
grpc_server_request_duration_seconds_sum{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 0.05
grpc_server_request_duration_seconds_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 100
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/GetTaskStaffing\",le=\"0.0005\"} 7
grpc_server_request_duration_seconds_bucket{method=\"/spontan.v1.MatchingService/ListMatchChanges\",code=\"NotFound\",le=\"0.0005\"} 5
grpc_server_request_duration_seconds_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\",code=\"NotFound\"} 5
";

    #[test]
    fn a_scraped_histogram_is_read_for_one_method() {
        let h = parse_histogram(SCRAPE, DURATION_METRIC, POLL_METHOD);
        assert_eq!(
            h.cumulative,
            vec![(0.0005, 90), (0.001, 99), (f64::INFINITY, 100)]
        );
        assert_eq!(h.count, 100);
        assert!((h.sum - 0.05).abs() < 1e-12);
    }

    #[test]
    fn quantiles_come_from_the_difference_of_two_scrapes() {
        let before = parse_histogram(SCRAPE, DURATION_METRIC, POLL_METHOD);
        let after = parse_histogram(
            &SCRAPE
                .replace("} 90", "} 170")
                .replace("} 99", "} 199")
                .replace("le=\"+Inf\"} 100", "le=\"+Inf\"} 200")
                .replace(
                    "_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 100",
                    "_count{method=\"/spontan.v1.MatchingService/ListMatchChanges\"} 200",
                ),
            DURATION_METRIC,
            POLL_METHOD,
        );
        let burst = after.since(&before);
        assert_eq!(burst.count, 100);
        assert_eq!(
            burst.cumulative,
            vec![(0.0005, 80), (0.001, 100), (f64::INFINITY, 100)]
        );
        // Half of 100 lies in the first bucket: 50/80 of the way to 0.5 ms.
        let (lo, hi, est) = burst.quantile(0.5).expect("p50");
        assert_eq!((lo, hi), (0.0, 0.0005));
        assert!((est - 0.0005 * 50.0 / 80.0).abs() < 1e-12);
        let (lo, hi, _) = burst.quantile(0.99).expect("p99");
        assert_eq!((lo, hi), (0.0005, 0.001));
    }
}
