//! Volunteer sessions ([`crate::sessions`]): the hash of each session's refresh token, its
//! rotation, and its end.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A new session's row.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub volunteer_id: Uuid,
    pub refresh_hash: Vec<u8>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn create(conn: impl sqlx::PgExecutor<'_>, s: &NewSession) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO volunteer_sessions (id, volunteer_id, refresh_hash, created_at, \
         refreshed_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
        s.id,
        s.volunteer_id,
        s.refresh_hash,
        s.now,
        s.expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The first sessions of a batch of new volunteers (the group commit).
pub async fn create_many(conn: &mut PgConnection, sessions: &[NewSession]) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    let volunteers: Vec<Uuid> = sessions.iter().map(|s| s.volunteer_id).collect();
    let hashes: Vec<Vec<u8>> = sessions.iter().map(|s| s.refresh_hash.clone()).collect();
    let nows: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.now).collect();
    let ends: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.expires_at).collect();
    sqlx::query!(
        "INSERT INTO volunteer_sessions (id, volunteer_id, refresh_hash, created_at, \
         refreshed_at, expires_at) \
         SELECT id, v, h, t, t, e FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[], \
         $4::timestamptz[], $5::timestamptz[]) AS u(id, v, h, t, e)",
        &ids,
        &volunteers,
        &hashes,
        &nows,
        &ends,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How long after a rotation the token before it is still taken once more, for a client whose
/// answer was lost. Later, presenting it is taken as a stolen copy.
pub const RETRY_LEEWAY: chrono::Duration = chrono::Duration::seconds(60);

/// What presenting a refresh token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The session's current token: replaced by the new one.
    Rotated { session: Uuid, volunteer: Uuid },
    /// The token before the current one, presented again within [`RETRY_LEEWAY`] of the
    /// rotation and before the current one was used: replaced again.
    Retried { session: Uuid, volunteer: Uuid },
    /// A token the session had already replaced: the session is ended now.
    Reused { session: Uuid, volunteer: Uuid },
    /// No live session has it (unknown, expired, ended, or replaced twice over).
    Unknown,
}

/// Replaces the refresh token hashed `presented` with the one hashed `next`, if it is the
/// current token of a live session of a live volunteer (or the one before, within
/// [`RETRY_LEEWAY`]); ends the session if it is the one before, later.
pub async fn rotate(
    conn: &mut PgConnection,
    presented: &[u8],
    next: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Rotation> {
    let rotated = sqlx::query!(
        "UPDATE volunteer_sessions s SET previous_hash = refresh_hash, refresh_hash = $2, \
         refreshed_at = $3, expires_at = $4 \
         FROM volunteers v \
         WHERE s.refresh_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $3 \
         AND v.id = s.volunteer_id AND v.status <> 'erased' \
         RETURNING s.id, s.volunteer_id",
        presented,
        next,
        now,
        expires_at,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = rotated {
        return Ok(Rotation::Rotated {
            session: r.id,
            volunteer: r.volunteer_id,
        });
    }
    // The token before the current one, again within the leeway and before the current one
    // was ever used: the answer that carried the current one was lost on the way (a phone
    // on a bad network retries). Issue another; the lost one is left to nobody.
    let retried = sqlx::query!(
        "UPDATE volunteer_sessions s SET refresh_hash = $2, refreshed_at = $3, expires_at = $4 \
         FROM volunteers v \
         WHERE s.previous_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $3 \
         AND s.refreshed_at > $5 \
         AND v.id = s.volunteer_id AND v.status <> 'erased' \
         RETURNING s.id, s.volunteer_id",
        presented,
        next,
        now,
        expires_at,
        now - RETRY_LEEWAY,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = retried {
        return Ok(Rotation::Retried {
            session: r.id,
            volunteer: r.volunteer_id,
        });
    }
    let reused = sqlx::query!(
        "UPDATE volunteer_sessions SET revoked_at = $2, revoked_reason = 'reused' \
         WHERE previous_hash = $1 AND revoked_at IS NULL RETURNING id, volunteer_id",
        presented,
        now,
    )
    .fetch_optional(conn)
    .await?;
    Ok(reused.map_or(Rotation::Unknown, |r| Rotation::Reused {
        session: r.id,
        volunteer: r.volunteer_id,
    }))
}

/// Whether `session` of `volunteer` lives (not ended, not expired).
pub async fn live(
    conn: &mut PgConnection,
    session: Uuid,
    volunteer: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let found = sqlx::query_scalar!(
        "SELECT 1 AS \"one!\" FROM volunteer_sessions \
         WHERE id = $1 AND volunteer_id = $2 AND revoked_at IS NULL AND expires_at > $3",
        session,
        volunteer,
        now,
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Ends every live session of `volunteer` but `keep`; returns how many ended.
pub async fn revoke_all(
    conn: &mut PgConnection,
    volunteer: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "UPDATE volunteer_sessions SET revoked_at = $3, revoked_reason = 'signed_out_everywhere' \
         WHERE volunteer_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        volunteer,
        keep,
        now,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Gives the kept session a new refresh token (its old one was in the hands that may have
/// been the reason to sign out everywhere).
pub async fn replace_token(
    conn: &mut PgConnection,
    session: Uuid,
    next: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE volunteer_sessions SET previous_hash = NULL, refresh_hash = $2, \
         refreshed_at = $3, expires_at = $4 WHERE id = $1 AND revoked_at IS NULL",
        session,
        next,
        now,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Erasure: the sessions go with the volunteer.
pub async fn delete_all(conn: &mut PgConnection, volunteer: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM volunteer_sessions WHERE volunteer_id = $1",
        volunteer
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A session as the export shows it (never the token or its hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

pub async fn of(pool: &PgPool, volunteer: Uuid) -> sqlx::Result<Vec<SessionView>> {
    sqlx::query_as!(
        SessionView,
        "SELECT created_at, refreshed_at, expires_at, revoked_at, revoked_reason \
         FROM volunteer_sessions WHERE volunteer_id = $1 ORDER BY created_at",
        volunteer
    )
    .fetch_all(pool)
    .await
}
