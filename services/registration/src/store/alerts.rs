//! The alert queue: the match consumer queues alerts, the dispatcher claims and settles them
//! ([`crate::alerts`]), the export lists a volunteer's.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An alert claimed for sending.
#[derive(Debug)]
pub struct Due {
    pub id: i64,
    pub volunteer_id: Uuid,
    pub match_id: Uuid,
    pub kind: String,
    pub task_title: String,
    /// When the offer runs out (offers), or when the task starts (reminders).
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// The text of a message from staff.
    pub body: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// An alert as the export shows it.
#[derive(Debug)]
pub struct Alert {
    pub match_id: Uuid,
    pub kind: String,
    pub task_title: String,
    pub status: String,
    pub channel: Option<i16>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Claims at most `limit` due alerts: counts the attempt and pushes the next one out by
/// `lease_secs`, so that no other dispatcher takes them meanwhile.
pub async fn claim(pool: &PgPool, lease_secs: f64, limit: i64) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as!(
        Due,
        "UPDATE alerts SET attempts = attempts + 1, \
         next_attempt_at = now() + make_interval(secs => $1) \
         WHERE id IN (SELECT id FROM alerts WHERE status = 'pending' AND next_attempt_at <= now() \
                      ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, volunteer_id, match_id, kind, task_title, offer_expires_at, body, attempts",
        lease_secs,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Records the outcome of an attempt; the next one (if `status` stays `pending`) is due in
/// `retry_in_secs`.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    status: &str,
    channel: Option<i16>,
    error: Option<String>,
    retry_in_secs: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE alerts SET status = $2, channel = COALESCE($3, channel), last_error = $4, \
         sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END, \
         next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
        id,
        status,
        channel,
        error,
        retry_in_secs,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The task title of the offer made for a match, if one was queued.
pub async fn offer_title(
    conn: &mut PgConnection,
    match_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT task_title FROM alerts WHERE match_id = $1 AND kind = 'offer'",
        match_id,
    )
    .fetch_optional(conn)
    .await
}

/// Queues an alert; `false` when one of the same kind was already queued for the match.
pub async fn queue(
    conn: &mut PgConnection,
    volunteer_id: Uuid,
    match_id: Uuid,
    kind: &str,
    task_title: &str,
    offer_expires_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "INSERT INTO alerts (volunteer_id, match_id, kind, task_title, offer_expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (match_id, kind) WHERE message_id IS NULL \
         DO NOTHING",
        volunteer_id,
        match_id,
        kind,
        task_title,
        offer_expires_at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A volunteer's alerts, oldest first.
pub async fn of_volunteer(pool: &PgPool, volunteer_id: Uuid) -> Result<Vec<Alert>, sqlx::Error> {
    sqlx::query_as!(
        Alert,
        "SELECT match_id, kind, task_title, status, channel, attempts, created_at, sent_at \
         FROM alerts WHERE volunteer_id = $1 ORDER BY id",
        volunteer_id,
    )
    .fetch_all(pool)
    .await
}

/// Queues a reminder for every accepted match whose task starts within `lead_secs` and whose
/// volunteer has not opted out; each match gets one. Returns how many were queued.
pub async fn queue_reminders(pool: &PgPool, lead_secs: f64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "INSERT INTO alerts (volunteer_id, match_id, kind, task_title, offer_expires_at) \
         SELECT m.volunteer_id, m.match_id, 'reminder', COALESCE(m.task_title, ''), m.starts_at \
         FROM matches_seen m JOIN volunteers v ON v.id = m.volunteer_id \
         WHERE m.state = 3 AND m.starts_at > now() \
         AND m.starts_at <= now() + make_interval(secs => $1) \
         AND v.status <> 'erased' AND NOT v.messages_opt_out \
         ON CONFLICT (match_id, kind) WHERE message_id IS NULL DO NOTHING",
        lead_secs,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
