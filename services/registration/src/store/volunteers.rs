//! A volunteer's row and what hangs off it: availability windows, issued tokens, idempotency
//! keys, and the erasure that destroys all of it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::crypto::Sealed;
use crate::domain::{Profile, Status, Window};

/// One row of `volunteers` as stored (the columns a volunteer is rebuilt from).
#[derive(Debug)]
pub struct VolunteerRow {
    pub id: Uuid,
    pub status: String,
    pub skill_ids: Vec<String>,
    pub languages: Vec<String>,
    pub birth_year: Option<i32>,
    pub travel_radius_km: Option<f64>,
    pub preferred_channel: Option<i16>,
    pub contact_ciphertext: Option<Vec<u8>>,
    pub contact_nonce: Option<Vec<u8>>,
    pub wrapped_key: Option<Vec<u8>>,
    pub wrapped_key_nonce: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub consent_text_version: Option<String>,
    pub consent_given_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub contact_confirmed_at: Option<DateTime<Utc>>,
    pub messages_opt_out: bool,
}

impl VolunteerRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status)
    }

    pub fn sealed(&self) -> Option<Sealed> {
        Some(Sealed {
            ciphertext: self.contact_ciphertext.clone()?,
            nonce: self.contact_nonce.clone()?,
            wrapped_key: self.wrapped_key.clone()?,
            wrapped_key_nonce: self.wrapped_key_nonce.clone()?,
            key_id: self.key_id.clone()?,
        })
    }
}

/// The keyed hashes of a volunteer's phone and e-mail.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub phone_hash: Option<Vec<u8>>,
    pub email_hash: Option<Vec<u8>>,
}

pub async fn load(
    conn: &mut PgConnection,
    id: Uuid,
    for_update: bool,
) -> Result<Option<VolunteerRow>, sqlx::Error> {
    // Two statements rather than one with the lock spliced in, so that both are checked.
    if for_update {
        sqlx::query_as!(
            VolunteerRow,
            "SELECT id, status, skill_ids, languages, birth_year, travel_radius_km, \
             preferred_channel, contact_ciphertext, contact_nonce, wrapped_key, \
             wrapped_key_nonce, key_id, consent_text_version, consent_given_at, created_at, \
             updated_at, erased_at, version, contact_confirmed_at, messages_opt_out FROM volunteers \
             WHERE id = $1 FOR UPDATE",
            id,
        )
        .fetch_optional(conn)
        .await
    } else {
        sqlx::query_as!(
            VolunteerRow,
            "SELECT id, status, skill_ids, languages, birth_year, travel_radius_km, \
             preferred_channel, contact_ciphertext, contact_nonce, wrapped_key, \
             wrapped_key_nonce, key_id, consent_text_version, consent_given_at, created_at, \
             updated_at, erased_at, version, contact_confirmed_at, messages_opt_out FROM volunteers \
             WHERE id = $1",
            id,
        )
        .fetch_optional(conn)
        .await
    }
}

/// What an access token of `id` must pass: the volunteer's status and the instant before
/// which their tokens are refused ("sign out everywhere"); `None` for an unknown volunteer.
pub async fn token_floor(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Option<DateTime<Utc>>)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT status, tokens_not_before FROM volunteers WHERE id = $1",
        id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.status, r.tokens_not_before)))
}

/// Refuses the volunteer's access tokens issued before `at` from now on.
pub async fn set_token_floor(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE volunteers SET tokens_not_before = $2 WHERE id = $1",
        id,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the volunteer exists and is not erased.
pub async fn is_live(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let status = sqlx::query_scalar!(
        "SELECT status FROM volunteers WHERE id = $1 AND status <> 'erased'",
        id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(status.is_some())
}

pub async fn windows(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Window>, sqlx::Error> {
    sqlx::query_as!(
        Window,
        "SELECT start_time AS \"start\", end_time AS \"end\" FROM availability \
         WHERE volunteer_id = $1 ORDER BY start_time",
        id,
    )
    .fetch_all(conn)
    .await
}

pub async fn replace_windows(
    conn: &mut PgConnection,
    id: Uuid,
    windows: &[Window],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM availability WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    if windows.is_empty() {
        return Ok(());
    }
    // One statement for all windows: a registration is a handful of round trips, not one per row.
    let starts: Vec<DateTime<Utc>> = windows.iter().map(|w| w.start).collect();
    let ends: Vec<DateTime<Utc>> = windows.iter().map(|w| w.end).collect();
    sqlx::query!(
        "INSERT INTO availability (volunteer_id, start_time, end_time) \
         SELECT $1, s, e FROM UNNEST($2::timestamptz[], $3::timestamptz[]) AS w(s, e)",
        id,
        &starts,
        &ends,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rewrites the profile and status of a volunteer and bumps the version; returns the new
/// version.
#[allow(clippy::too_many_arguments)]
pub async fn save(
    conn: &mut PgConnection,
    id: Uuid,
    status: Status,
    profile: &Profile,
    sealed: &Sealed,
    lookup: &Lookup,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE volunteers SET skill_ids = $2, languages = $3, birth_year = $4, \
         approx_latitude = $5, approx_longitude = $6, travel_radius_km = $7, \
         preferred_channel = $8, contact_ciphertext = $9, contact_nonce = $10, wrapped_key = $11, \
         wrapped_key_nonce = $12, key_id = $13, phone_hash = $14, email_hash = $15, \
         updated_at = $16, status = $17, messages_opt_out = $18, version = version + 1 \
         WHERE id = $1 RETURNING version",
        id,
        &profile.skill_ids,
        &profile.languages,
        profile.birth_year,
        crate::domain::approximate(profile.contact.home_latitude),
        crate::domain::approximate(profile.contact.home_longitude),
        profile.travel_radius_km,
        profile.channel as i16,
        &sealed.ciphertext,
        &sealed.nonce,
        &sealed.wrapped_key,
        &sealed.wrapped_key_nonce,
        &sealed.key_id,
        lookup.phone_hash.as_deref(),
        lookup.email_hash.as_deref(),
        now,
        status.as_str(),
        profile.messages_opt_out,
    )
    .fetch_one(conn)
    .await
}

/// Records that the volunteer's state was just published.
pub async fn mark_published(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE volunteers SET last_published_at = $2 WHERE id = $1",
        id,
        now,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A new version without any other change (a republished event needs one).
pub async fn bump_version(conn: &mut PgConnection, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE volunteers SET version = version + 1 WHERE id = $1 RETURNING version",
        id,
    )
    .fetch_one(conn)
    .await
}

/// Crypto-shredding: drops the wrapped data key, the sealed contact, the lookup hashes and
/// every other personal column, deletes the dependent rows and writes the erasure audit.
pub async fn erase(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<i64, sqlx::Error> {
    // One statement per table (in this order), each checked against its table.
    sqlx::query!("DELETE FROM availability WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM idempotency_keys WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM contact_codes WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM tokens_issued WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    // The sessions end with the volunteer: no refresh token works any more.
    sqlx::query!("DELETE FROM volunteer_sessions WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM alerts WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM matches_seen WHERE volunteer_id = $1", id)
        .execute(&mut *conn)
        .await?;
    let version = sqlx::query_scalar!(
        "UPDATE volunteers SET status = 'erased', skill_ids = '{}', languages = '{}', \
         birth_year = NULL, approx_latitude = NULL, approx_longitude = NULL, \
         travel_radius_km = NULL, preferred_channel = NULL, contact_ciphertext = NULL, \
         contact_nonce = NULL, wrapped_key = NULL, wrapped_key_nonce = NULL, key_id = NULL, \
         phone_hash = NULL, email_hash = NULL, duplicate_of = NULL, consent_text_version = NULL, \
         consent_given_at = NULL, messages_opt_out = false, updated_at = $2, erased_at = $2, \
         version = version + 1 \
         WHERE id = $1 RETURNING version",
        id,
        now,
    )
    .fetch_one(&mut *conn)
    .await?;
    // Every earlier event of the volunteer goes: the copies of published ones kept here for
    // diagnosis, and the ones not yet published, which would otherwise carry the data out
    // after the erasure (`VolunteerErased` and the tombstone supersede them). Published
    // events stay on the topic until the tombstone compacts them away. A record the relay is
    // sending right now still goes out, before the erasure's own records.
    sqlx::query!("DELETE FROM outbox WHERE message_key = $1", id.to_string())
        .execute(&mut *conn)
        .await?;
    // Other volunteers flagged as duplicates of this one no longer point at anybody.
    sqlx::query!(
        "UPDATE volunteers SET duplicate_of = NULL WHERE duplicate_of = $1",
        id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO erasure_audit (volunteer_id, erased_at, reason) VALUES ($1, $2, $3)",
        id,
        now,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    Ok(version)
}

/// The first use of an idempotency key: its volunteer, the request's fingerprint, when.
#[derive(Debug, Clone)]
pub struct FirstUse {
    pub volunteer_id: Uuid,
    pub fingerprint: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// The volunteer and fingerprint an idempotency key was first used with, and when.
pub async fn idempotency(
    conn: &mut PgConnection,
    key: Uuid,
) -> Result<Option<FirstUse>, sqlx::Error> {
    sqlx::query_as!(
        FirstUse,
        "SELECT volunteer_id, fingerprint, created_at FROM idempotency_keys          WHERE idempotency_key = $1",
        key,
    )
    .fetch_optional(conn)
    .await
}

/// The access tokens recorded before sessions replaced the record (times only; for the export).
pub async fn tokens(
    pool: &PgPool,
    id: Uuid,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT issued_at, expires_at FROM tokens_issued WHERE volunteer_id = $1 ORDER BY id",
        id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.issued_at, r.expires_at))
        .collect())
}
