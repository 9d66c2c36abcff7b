//! Automatic erasure of inactive volunteers (storage limitation, GDPR art. 5(1)(e)).
//!
//! A volunteer is inactive when nothing happened for `privacy.retention_days`: no profile
//! change, no session refreshed (the app opened on a phone) and no event about one of their
//! matches. Registration consumes the match topic only, not the task topic where
//! `IncidentClosed` is published, so "after their last incident closed" is approximated by
//! the time of their last match event (its `occurred_at`): a volunteer's part in an incident
//! ends with the final event of their match (completed, no-show, cancelled, declined,
//! expired), which matching publishes when the task ends, at the latest when the incident
//! closes. Erasure is the same as `EraseMe` (reason `retention` in the audit).
//!
//! "Now" is a parameter, bound into the SQL, never the database's `now()`: the service
//! passes its [`crate::clock::Clock`], tests a clock they move.
//!
//! The same sweep also republishes every live volunteer not published yet this calendar
//! year: the age band a volunteer belongs to for certain changes at the turn of the year,
//! and the compacted volunteer topic deletes records older than 400 days, so a consumer
//! rebuilding from the topic must still find everybody (docs/events.md).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store;
use crate::volunteers::Registry;

/// Volunteers erased per sweep, so one sweep never holds the database for long.
const BATCH: i64 = 500;

/// Ids of live volunteers whose last activity was more than `days` before `now`.
pub async fn inactive(
    registry: &Registry,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    store::retention::inactive(&registry.pool, days, BATCH, now).await
}

/// Ids of live volunteers last published before the calendar year (UTC) of `now`.
pub async fn stale(registry: &Registry, now: DateTime<Utc>) -> Result<Vec<Uuid>, sqlx::Error> {
    store::retention::stale(&registry.pool, BATCH, now).await
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    /// Volunteers erased for inactivity.
    pub erased: Vec<Uuid>,
    /// Volunteers republished for the new year.
    pub republished: usize,
}

/// One sweep at the registry's current time: erases what is due (when `days` is not 0) and
/// republishes what is stale. A failure on one volunteer is logged and skipped; the next
/// sweep tries again.
pub async fn sweep(registry: &Registry, days: u32) -> Result<Sweep, sqlx::Error> {
    let now = registry.now();
    let mut done = Sweep::default();
    if days > 0 {
        for id in inactive(registry, days, now).await? {
            match registry.erase_for(id, "retention").await {
                Ok(_) => done.erased.push(id),
                Err(error) => {
                    tracing::warn!(volunteer_id = %id, %error, "retention erasure failed");
                }
            }
        }
    }
    for id in stale(registry, now).await? {
        match registry.republish(id).await {
            Ok(()) => done.republished += 1,
            Err(error) => tracing::warn!(volunteer_id = %id, %error, "yearly republish failed"),
        }
    }
    Ok(done)
}

/// Sweeps every `every` until shutdown.
pub async fn run(registry: Registry, days: u32, every: Duration, shutdown: CancellationToken) {
    loop {
        match sweep(&registry, days).await {
            Ok(done) if !done.erased.is_empty() || done.republished > 0 => tracing::info!(
                erased = done.erased.len(),
                republished = done.republished,
                "retention sweep done"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "retention sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
