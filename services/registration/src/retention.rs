//! Automatic erasure of inactive volunteers (storage limitation, GDPR art. 5(1)(e)).
//!
//! A volunteer is inactive when nothing happened for `privacy.retention_days`: no profile
//! change, no token issued and no match this service heard of. Registration does not see
//! incidents close, so "after their last incident" is approximated by their last match.
//! Erasure is the same as `EraseMe` (reason `retention` in the audit).
//!
//! The same sweep also republishes every live volunteer not published yet this calendar
//! year: the age band a volunteer belongs to for certain changes at the turn of the year,
//! and the compacted volunteer topic deletes records older than 400 days, so a consumer
//! rebuilding from the topic must still find everybody (docs/events.md).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::volunteers::Registry;

/// Volunteers erased per sweep, so one sweep never holds the database for long.
const BATCH: i64 = 500;

/// Ids of live volunteers inactive for more than `days`.
pub async fn inactive(registry: &Registry, days: u32) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT v.id FROM volunteers v WHERE v.status <> 'erased' \
         AND GREATEST(v.updated_at, \
               COALESCE((SELECT max(t.issued_at) FROM tokens_issued t WHERE t.volunteer_id = v.id), v.updated_at), \
               COALESCE((SELECT max(m.updated_at) FROM matches_seen m WHERE m.volunteer_id = v.id), v.updated_at)) \
             < now() - make_interval(days => $1) \
         ORDER BY v.updated_at LIMIT $2",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .bind(BATCH)
    .fetch_all(&registry.pool)
    .await
}

/// Ids of live volunteers last published before this calendar year (UTC).
pub async fn stale(registry: &Registry) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM volunteers WHERE status <> 'erased' \
         AND last_published_at < date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
         ORDER BY last_published_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&registry.pool)
    .await
}

/// Erases what is due (when `days` is not 0) and republishes what is stale, every `every`,
/// until shutdown.
pub async fn run(registry: Registry, days: u32, every: Duration, shutdown: CancellationToken) {
    loop {
        if days > 0 {
            match inactive(&registry, days).await {
                Ok(due) => {
                    for id in due {
                        if let Err(error) = registry.erase_for(id, "retention").await {
                            tracing::warn!(volunteer_id = %id, %error, "retention erasure failed");
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "retention sweep failed"),
            }
        }
        match stale(&registry).await {
            Ok(due) => {
                for id in due {
                    if let Err(error) = registry.republish(id).await {
                        tracing::warn!(volunteer_id = %id, %error, "yearly republish failed");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "republish sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
