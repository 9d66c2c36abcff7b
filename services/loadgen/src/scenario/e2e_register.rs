//! `--mode e2e-register`: registrations at a constant rate; for each, the time from its
//! scheduled `Register` until matching has consumed the event, seen through matching's API:
//! each registration is homed at one of `--probes` small probe incidents far from everyone
//! else, and `GetIncidentSummary.available_volunteers` of that incident (counted from
//! matching's in-memory index) reaches the number registered there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::{GeoPoint, GetIncidentSummaryRequest};
use tonic::transport::Channel;

use crate::args::Args;
use crate::clients::{Staff, with_token};
use crate::people::register_request;
use crate::report::{header, histogram, line, record, snapshot, summary};
use crate::schedule::schedule;

/// Registration -> event consumed by matching (its index counts the volunteer).
pub async fn run(
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
        let id = staff
            .incident(&format!("Lasttest Sonde {k}"), centre, 1.0)
            .await?;
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
    let scheduled = schedule(
        args.rate,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
        |n, at, measured| {
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
        },
    )
    .await;
    while workers.join_next().await.is_some() {}
    let (consumed, register_rpc) = (snapshot(&consumed), snapshot(&register_rpc));
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
