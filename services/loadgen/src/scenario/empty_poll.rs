//! `--mode empty-poll`: dashboard polls that find nothing new; their server time from the
//! `grpc_server_request_duration_seconds` histogram on matching's `/metrics` (before and
//! after the burst), and their client latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use spontan_proto::v1::ListMatchChangesRequest;

use crate::args::Args;
use crate::clients::{Staff, with_token};
use crate::people::AHRWEILER;
use crate::prometheus::{parse_histogram, scrape};
use crate::report::{header, histogram, line, record, snapshot, summary};
use crate::schedule::schedule;

/// The server-side duration histogram every service exports, and the poll's method in it.
pub(crate) const DURATION_METRIC: &str = "grpc_server_request_duration_seconds";
pub(crate) const POLL_METHOD: &str = "ListMatchChanges";

/// Dashboard polls with nothing new, server time from matching's histogram.
pub async fn run(args: &Args, mut staff: Staff) -> anyhow::Result<()> {
    let incident_id = match &args.incident {
        Some(id) => id.clone(),
        None => {
            staff
                .incident("Lasttest leere Abfrage", AHRWEILER, 30.0)
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
    let scheduled = schedule(
        args.rate,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
        |_, at, measured| {
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
        },
    )
    .await;
    while workers.join_next().await.is_some() {}
    let after = parse_histogram(&scrape(&args.metrics).await?, DURATION_METRIC, POLL_METHOD);
    let server = after.since(&before);
    let client = snapshot(&client);
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
