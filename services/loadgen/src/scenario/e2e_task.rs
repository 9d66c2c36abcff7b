//! `--mode e2e-task`: tasks created at a constant rate; for each, the time from its scheduled
//! `CreateTask` until a dashboard poll (`ListMatchChanges`, every `--poll-interval-ms`)
//! first shows an OFFERED match for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use spontan_proto::v1::{ListMatchChangesRequest, MatchState};

use crate::args::Args;
use crate::clients::{Staff, with_token};
use crate::people::{self, AHRWEILER};
use crate::report::{header, histogram, line, record, snapshot, summary};
use crate::schedule::schedule;

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

/// The load's task (see [`people::task_request`]), preferring people who can lift.
fn task_request(incident_id: &str, n: u64) -> spontan_proto::v1::CreateTaskRequest {
    let mut task = people::task_request(incident_id, n);
    task.preferred_skill_ids = vec!["heavy_lifting".into()];
    task
}

/// Task created -> first offer visible to a dashboard poll.
pub async fn run(args: &Args, mut staff: Staff) -> anyhow::Result<()> {
    let incident_id = staff
        .incident("Lasttest Ereignislatenz", AHRWEILER, 30.0)
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
    let scheduled = schedule(
        args.rate,
        Duration::from_secs(args.warmup),
        Duration::from_secs(args.duration),
        |n, at, measured| {
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
        },
    )
    .await;
    while creators.join_next().await.is_some() {}
    let settle = Instant::now() + Duration::from_secs(args.settle);
    while run.pending() > 0 && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;

    let without_offer = run.pending();
    let (from_request, from_created, create) = (
        snapshot(&run.from_request),
        snapshot(&run.from_created),
        snapshot(&run.create),
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
