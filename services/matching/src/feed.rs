//! What dashboards read: the per-incident change log (poll and stream), task staffing and the
//! incident summary. No personal data leaves here: volunteers appear as `volunteer_ref`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_platform::ids::{IncidentId, TaskId};
use spontan_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::domain::{MatchState, Point};
use crate::matcher::Matcher;
use crate::reasons;
use crate::store::{self, ChangeRow, IncidentRow};
use crate::streams::{Deadline, Head, Permit, Streams};

/// Longest silence on a stream before an empty keep-alive batch.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// 0 means 100; 1 to 1000 allowed.
pub fn limit(value: u32) -> Result<i64, ApiError> {
    match value {
        0 => Ok(100),
        1..=1000 => Ok(i64::from(value)),
        _ => Err(ApiError::invalid("limit", "must be between 1 and 1000")),
    }
}

/// The incident, if the caller may read it.
pub async fn readable_incident(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: IncidentId,
) -> Result<IncidentRow, ApiError> {
    let mut conn = matcher.pool.acquire().await?;
    let incident = store::incident(&mut conn, incident_id.uuid())
        .await?
        .ok_or(ApiError::NotFound("incident"))?;
    caller.require_reader_of_shared(&incident.organisation_id, &incident.shared_with)?;
    Ok(incident)
}

fn change_view(c: ChangeRow) -> pb::MatchChange {
    pb::MatchChange {
        sequence: u64::try_from(c.sequence).unwrap_or(0),
        match_id: c.match_id.to_string(),
        task_id: c.task_id.to_string(),
        incident_id: c.incident_id.to_string(),
        volunteer_ref: c.volunteer_ref,
        state: c.state.to_proto(),
        previous_state: c.previous_state.map_or(0, MatchState::to_proto),
        changed_at: Some(crate::convert::ts(c.changed_at)),
        explanation: Some(crate::convert::explanation(&c.explanation.0)),
    }
}

/// ListMatchChanges: access check, cursor check and the page, from one
/// [`store::change_page`] read.
pub async fn list_changes(
    matcher: &Matcher,
    caller: &Principal,
    incident_id: IncidentId,
    after: u64,
    limit: i64,
) -> Result<pb::ListMatchChangesResponse, ApiError> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let store::Page {
        organisation_id,
        shared_with,
        last_sequence,
        changes: mut rows,
        ..
    } = store::change_page(&matcher.pool, incident_id.uuid(), after, limit + 1)
        .await?
        .ok_or(ApiError::NotFound("incident"))?;
    caller.require_reader_of_shared(&organisation_id, &shared_with)?;
    if after > last_sequence {
        return Err(ApiError::precondition(
            reasons::CURSOR_AHEAD,
            "after_sequence is beyond the incident's latest change: restart from 0",
        ));
    }
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = rows.last().map_or(after, |c| c.sequence);
    Ok(pb::ListMatchChangesResponse {
        changes: rows.into_iter().map(change_view).collect(),
        next_after_sequence: u64::try_from(next).unwrap_or(0),
        has_more,
    })
}

/// WatchMatchChanges: the backlog, then changes as they commit (when the incident's shared
/// head moves, [`Streams`]), an empty batch after 15 s of silence, and the end once the
/// incident is closed and drained. Ends with `Unauthenticated` when the caller's token ends
/// and with `Unavailable` at the stream's maximum age (the client resumes from its cursor).
#[allow(clippy::too_many_arguments)]
pub fn watch(
    matcher: Matcher,
    streams: Arc<Streams>,
    permit: Permit,
    incident_id: IncidentId,
    mut after: i64,
    limit: i64,
    first: Head,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Result<pb::WatchMatchChangesResponse, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        // The stream's place among the open streams, given back when it ends.
        let permit = permit;
        let mut head = streams.head(incident_id.uuid(), first);
        let (ends_at, why) = permit.deadline;
        let mut last_sent = tokio::time::Instant::now();
        // The incident's last sequence as of the last read: read again when the head passes it.
        let mut seen: Option<i64> = None;
        loop {
            let current = *head.borrow_and_update();
            let due = seen.is_none_or(|seen| current.last_sequence > seen || current.closed);
            if due {
                // The incident comes with the page, so one read says both what is new and
                // whether the incident is closed and drained.
                let page = match store::change_page(&matcher.pool, incident_id.uuid(), after, limit)
                    .await
                {
                    Ok(Some(page)) => page,
                    Ok(None) => return,
                    Err(error) => {
                        let _ = tx.send(Err(ApiError::from(error).into())).await;
                        return;
                    }
                };
                let full = page.changes.len() as i64 >= limit;
                let drained = page.closed && !full;
                if !page.changes.is_empty() || last_sent.elapsed() >= KEEP_ALIVE {
                    after = page.changes.last().map_or(after, |c| c.sequence);
                    let batch = pb::WatchMatchChangesResponse {
                        changes: page.changes.into_iter().map(change_view).collect(),
                        next_after_sequence: u64::try_from(after).unwrap_or(0),
                    };
                    if tx.send(Ok(batch)).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
                if drained {
                    return;
                }
                // A full page: more is waiting, read on without waiting for the head.
                seen = (!full).then_some(page.last_sequence);
                if full {
                    continue;
                }
            } else if last_sent.elapsed() >= KEEP_ALIVE {
                let batch = pb::WatchMatchChangesResponse {
                    changes: Vec::new(),
                    next_after_sequence: u64::try_from(after).unwrap_or(0),
                };
                if tx.send(Ok(batch)).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                changed = head.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(last_sent + KEEP_ALIVE) => {}
                _ = tokio::time::sleep_until(ends_at) => {
                    let status = match why {
                        Deadline::TokenExpired => Status::unauthenticated(
                            "the token has ended: open the stream again with a fresh token",
                        ),
                        Deadline::MaxAge => Status::unavailable(
                            "the stream reached its maximum age: open it again from next_after_sequence",
                        ),
                    };
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            }
        }
    });
    rx
}

/// GetTaskStaffing: one consistent snapshot (repeatable read) of counts, matches and sequence.
pub async fn task_staffing(
    matcher: &Matcher,
    caller: &Principal,
    task_id: TaskId,
    include_finished: bool,
) -> Result<pb::GetTaskStaffingResponse, ApiError> {
    let task_id = task_id.uuid();
    let mut tx = store::begin_snapshot(&matcher.pool).await?;
    let task = store::task(&mut tx, task_id)
        .await?
        .ok_or(ApiError::NotFound("task"))?;
    let incident = store::incident(&mut tx, task.incident_id).await?;
    let shared: &[String] = incident.as_ref().map_or(&[], |i| &i.shared_with);
    caller.require_reader_of_shared(&task.organisation_id, shared)?;
    let counts = store::task_counts(&mut tx, task_id).await?;
    // In this order in the response: active first, in the order of the lifecycle.
    let states: &[MatchState] = if include_finished {
        &MatchState::ALL
    } else {
        &MatchState::ACTIVE
    };
    let rows = store::task_matches(&mut tx, task_id, states).await?;
    tx.commit().await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(pb::GetTaskStaffingResponse {
        task_id: task_id.to_string(),
        needed: task.headcount,
        offered: count(counts.offered),
        accepted: count(counts.accepted),
        checked_in: count(counts.checked_in),
        matches: rows
            .iter()
            .map(|m| crate::lifecycle::staff_view(matcher, caller, m))
            .collect(),
        as_of_sequence: incident.map_or(0, |i| u64::try_from(i.last_sequence).unwrap_or(0)),
    })
}

/// GetIncidentSummary.
pub async fn incident_summary(
    matcher: &Matcher,
    incident: &IncidentRow,
) -> Result<pb::GetIncidentSummaryResponse, ApiError> {
    let rows = store::coverage(&matcher.pool, incident.id).await?;
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let ratio = |accepted: i64, needed: i64| {
        if needed == 0 {
            1.0
        } else {
            accepted as f64 / needed as f64
        }
    };
    let mut summary = pb::GetIncidentSummaryResponse {
        incident_id: incident.id.to_string(),
        as_of_sequence: u64::try_from(incident.last_sequence).unwrap_or(0),
        computed_at: Some(crate::convert::ts(Utc::now())),
        ..Default::default()
    };
    for r in rows {
        summary.needed += n(r.needed);
        summary.offered += n(r.offered);
        summary.accepted += n(r.accepted);
        summary.checked_in += n(r.checked_in);
        summary.coverage.push(pb::PriorityCoverage {
            priority: i32::from(r.priority),
            task_count: n(r.task_count),
            staffed_task_count: n(r.staffed_task_count),
            needed: n(r.needed),
            offered: n(r.offered),
            accepted: n(r.accepted),
            checked_in: n(r.checked_in),
            coverage: ratio(r.accepted, r.needed),
        });
    }
    if let (Some(lat), Some(lon)) = (incident.centre_latitude, incident.centre_longitude) {
        let radius = incident.region_radius_km.unwrap_or(0.0);
        let count = matcher
            .index()
            .reachable_count(Point { lat, lon }, radius, Utc::now());
        summary.available_volunteers = u32::try_from(count).unwrap_or(u32::MAX);
    }
    Ok(summary)
}
