//! Who the retention sweep ([`crate::retention`]) is due to erase or republish. "Now" is
//! always a parameter, never the database's `now()`, so that tests can move time.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Ids of at most `limit` live volunteers whose last activity (profile change, token issued,
/// session refreshed, match event) was more than `days` before `now`, least recently updated first.
pub async fn inactive(
    pool: &PgPool,
    days: i32,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT v.id FROM volunteers v WHERE v.status <> 'erased' \
         AND GREATEST(v.updated_at, \
               COALESCE((SELECT max(t.issued_at) FROM tokens_issued t WHERE t.volunteer_id = v.id), v.updated_at), \
               COALESCE((SELECT max(s.refreshed_at) FROM volunteer_sessions s WHERE s.volunteer_id = v.id), v.updated_at), \
               COALESCE((SELECT max(m.updated_at) FROM matches_seen m WHERE m.volunteer_id = v.id), v.updated_at)) \
             < $3::timestamptz - make_interval(days => $1) \
         ORDER BY v.updated_at LIMIT $2",
        days,
        limit,
        now,
    )
    .fetch_all(pool)
    .await
}

/// Ids of at most `limit` live volunteers last published before the calendar year (UTC) of
/// `now`, least recently published first.
pub async fn stale(
    pool: &PgPool,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM volunteers WHERE status <> 'erased' \
         AND last_published_at < date_trunc('year', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
         ORDER BY last_published_at LIMIT $1",
        limit,
        now,
    )
    .fetch_all(pool)
    .await
}
