//! The one open contact code of a volunteer, and the confirmed contact on their row.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A volunteer's open code as stored.
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub channel: i16,
    pub code_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub failed_attempts: i32,
    pub sent_at: DateTime<Utc>,
    pub sends_in_window: i32,
    pub window_started_at: DateTime<Utc>,
}

/// The open code, locked until the transaction ends.
pub async fn code(conn: &mut PgConnection, volunteer: Uuid) -> sqlx::Result<Option<CodeRow>> {
    sqlx::query_as!(
        CodeRow,
        "SELECT channel, code_hash, expires_at, failed_attempts, sent_at, sends_in_window, \
         window_started_at FROM contact_codes WHERE volunteer_id = $1 FOR UPDATE",
        volunteer,
    )
    .fetch_optional(conn)
    .await
}

/// Stores `code` as the volunteer's open code, replacing the one before.
pub async fn put_code(
    conn: &mut PgConnection,
    volunteer: Uuid,
    code: &CodeRow,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO contact_codes (volunteer_id, channel, code_hash, expires_at, \
         failed_attempts, sent_at, sends_in_window, window_started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (volunteer_id) DO UPDATE SET channel = EXCLUDED.channel, \
         code_hash = EXCLUDED.code_hash, expires_at = EXCLUDED.expires_at, \
         failed_attempts = EXCLUDED.failed_attempts, sent_at = EXCLUDED.sent_at, \
         sends_in_window = EXCLUDED.sends_in_window, \
         window_started_at = EXCLUDED.window_started_at",
        volunteer,
        code.channel,
        code.code_hash,
        code.expires_at,
        code.failed_attempts,
        code.sent_at,
        code.sends_in_window,
        code.window_started_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a wrong try; returns the tries made so far.
pub async fn count_failure(conn: &mut PgConnection, volunteer: Uuid) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "UPDATE contact_codes SET failed_attempts = failed_attempts + 1 \
         WHERE volunteer_id = $1 RETURNING failed_attempts",
        volunteer,
    )
    .fetch_one(conn)
    .await
}

/// Marks the contact confirmed and deletes the code; the volunteer's version moves on (the
/// event that follows carries it). Returns the new version.
pub async fn confirm(
    conn: &mut PgConnection,
    volunteer: Uuid,
    channel: i16,
    now: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query!(
        "DELETE FROM contact_codes WHERE volunteer_id = $1",
        volunteer
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        "UPDATE volunteers SET contact_confirmed_at = $2, contact_confirmed_channel = $3, \
         updated_at = $2, version = version + 1 WHERE id = $1 RETURNING version",
        volunteer,
        now,
        channel,
    )
    .fetch_one(conn)
    .await
}

/// An id for a message that is no alert row, from the alerts' own sequence, so that a
/// gateway's deduplication by id never confuses the two.
pub async fn next_message_id(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT nextval('alerts_id_seq') AS "id!""#)
        .fetch_one(conn)
        .await
}
