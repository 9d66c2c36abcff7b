//! Matches: offers, transitions, check-in and the reads of match rows.
//!
//! State lists are bound as `states as &[MatchState]`: a `text[]` parameter (see `states.rs`),
//! which sqlx's check would otherwise take only as `&[String]`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MatchState, Task, Window};
use crate::engine::Explanation;

/// A match joined with what its events need from the task, as `match_rows!` reads it.
#[derive(Debug, Clone)]
pub struct MatchRow {
    pub id: Uuid,
    pub task_id: Uuid,
    pub incident_id: Uuid,
    pub volunteer_id: Uuid,
    pub volunteer_ref: String,
    pub state: MatchState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub explanation: Json<Explanation>,
    pub decline_reason: i16,
    pub cancel_reason: i16,
    pub offered_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_out_at: Option<DateTime<Utc>>,
    /// Wrong check-in codes sent for this match (see [`crate::check_in::MAX_FAILURES`]).
    pub check_in_failures: i16,
    pub organisation_id: String,
    pub title: String,
    /// The task's meeting-point address.
    pub address: String,
}

impl MatchRow {
    /// Hours on site once checked out; 0 before.
    pub fn hours_on_site(&self) -> f64 {
        match (self.checked_in_at, self.checked_out_at) {
            (Some(arrived), Some(left)) if left > arrived => {
                (left - arrived).num_milliseconds() as f64 / 3_600_000.0
            }
            _ => 0.0,
        }
    }

    pub fn window(&self) -> Window {
        Window {
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

/// The pseudonym of a volunteer on a task, created on first use: random, and different on
/// every task, so that staff cannot link one person's matches across tasks.
async fn volunteer_ref(
    conn: &mut PgConnection,
    task_id: Uuid,
    volunteer_id: Uuid,
) -> sqlx::Result<String> {
    sqlx::query!(
        "INSERT INTO task_volunteer_refs (task_id, volunteer_id, ref) VALUES ($1, $2, \
         'v-' || left(replace(gen_random_uuid()::text, '-', ''), 12)) ON CONFLICT DO NOTHING",
        task_id,
        volunteer_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        "SELECT ref FROM task_volunteer_refs WHERE task_id = $1 AND volunteer_id = $2",
        task_id,
        volunteer_id,
    )
    .fetch_one(conn)
    .await
}

/// The volunteers' pseudonyms on the tasks of `pairs` (task, volunteer), made for those who
/// have none yet (as an offer makes them; an optimisation plan names its new pairs so).
pub async fn volunteer_refs(
    conn: &mut PgConnection,
    pairs: &[(Uuid, Uuid)],
) -> sqlx::Result<HashMap<(Uuid, Uuid), String>> {
    let (tasks, volunteers): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    sqlx::query!(
        "INSERT INTO task_volunteer_refs (task_id, volunteer_id, ref) \
         SELECT t, v, 'v-' || left(replace(gen_random_uuid()::text, '-', ''), 12) \
         FROM unnest($1::uuid[], $2::uuid[]) AS p(t, v) ON CONFLICT DO NOTHING",
        &tasks,
        &volunteers,
    )
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query!(
        "SELECT r.task_id, r.volunteer_id, r.ref FROM task_volunteer_refs r \
         JOIN unnest($1::uuid[], $2::uuid[]) AS p(t, v) ON r.task_id = p.t AND r.volunteer_id = p.v",
        &tasks,
        &volunteers,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.task_id, r.volunteer_id), r.r#ref))
        .collect())
}

/// Inserts a new match in state OFFERED; `None` when the volunteer is no longer active in the
/// database (their row is share-locked, so a pause or erasure waits for this offer and then
/// cancels it). Fails with SQLSTATE 23P01 when the volunteer is booked in an overlapping
/// window, 23505 when they had a match for this task before.
pub async fn insert_offer(
    conn: &mut PgConnection,
    task: &Task,
    volunteer_id: Uuid,
    explanation: &Explanation,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Option<MatchRow>> {
    let active = sqlx::query_scalar!(
        "SELECT 1 FROM volunteers WHERE id = $1 AND status = 'active' FOR SHARE",
        volunteer_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if active.is_none() {
        return Ok(None);
    }
    let reference = volunteer_ref(conn, task.id, volunteer_id).await?;
    match_rows!(
        "WITH m AS (INSERT INTO matches (id, task_id, incident_id, volunteer_id, volunteer_ref, \
         state, slot, explanation, offered_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 'offered', tstzrange($6, $7, '[)'), $8, now(), $9) \
         RETURNING *)",
        "m",
        "",
        Uuid::now_v7(),
        task.id,
        task.incident_id,
        volunteer_id,
        reference,
        task.window.start,
        task.window.end,
        Json(explanation) as _,
        expires_at,
    )
    .fetch_one(conn)
    .await
    .map(Some)
}

/// Whether an insert failed only because the volunteer is taken or was tried before.
pub fn is_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("23P01" | "23505")))
}

pub async fn match_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<MatchRow>> {
    match_rows!("", "matches", "WHERE m.id = $1", id)
        .fetch_optional(conn)
        .await
}

pub async fn lock_match(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<MatchRow>> {
    match_rows!("", "matches", "WHERE m.id = $1 FOR UPDATE OF m", id)
        .fetch_optional(conn)
        .await
}

/// Whose matches [`lock_matches_where`] locks.
#[derive(Debug, Clone, Copy)]
pub enum MatchOwner {
    Task,
    Volunteer,
}

/// Locks the matches of a task (or of a volunteer) in the given states, oldest first.
pub async fn lock_matches_where(
    conn: &mut PgConnection,
    owner: MatchOwner,
    id: Uuid,
    states: &[MatchState],
) -> sqlx::Result<Vec<MatchRow>> {
    match owner {
        MatchOwner::Task => {
            match_rows!(
                "",
                "matches",
                "WHERE m.task_id = $1 AND m.state = ANY($2) \
                 ORDER BY m.created_at, m.id FOR UPDATE OF m",
                id,
                states as &[MatchState],
            )
            .fetch_all(conn)
            .await
        }
        MatchOwner::Volunteer => {
            match_rows!(
                "",
                "matches",
                "WHERE m.volunteer_id = $1 AND m.state = ANY($2) \
                 ORDER BY m.created_at, m.id FOR UPDATE OF m",
                id,
                states as &[MatchState],
            )
            .fetch_all(conn)
            .await
        }
    }
}

/// Changes a match's state and bumps its version; the caller then calls
/// [`crate::events::record`].
/// Sets the times on site of a match and completes it (a coordinator's correction).
pub async fn set_hours(
    conn: &mut PgConnection,
    id: Uuid,
    checked_in_at: DateTime<Utc>,
    checked_out_at: DateTime<Utc>,
) -> sqlx::Result<MatchRow> {
    match_rows!(
        "WITH m AS (UPDATE matches SET state = 'completed', version = version + 1, \
         updated_at = now(), checked_in_at = $2, checked_out_at = $3 WHERE id = $1 RETURNING *)",
        "m",
        "",
        id,
        checked_in_at,
        checked_out_at,
    )
    .fetch_one(conn)
    .await
}

pub async fn set_state(
    conn: &mut PgConnection,
    id: Uuid,
    to: MatchState,
    decline_reason: i32,
    cancel_reason: i32,
) -> sqlx::Result<MatchRow> {
    match_rows!(
        "WITH m AS (UPDATE matches SET state = $2, version = version + 1, updated_at = now(), \
         decline_reason = $3, cancel_reason = $4, \
         checked_in_at = CASE WHEN $2 = 'checked_in' THEN coalesce(checked_in_at, now()) \
             ELSE checked_in_at END, \
         checked_out_at = CASE WHEN $2 = 'completed' THEN coalesce(checked_out_at, now()) \
             ELSE checked_out_at END \
         WHERE id = $1 RETURNING *)",
        "m",
        "",
        id,
        to.as_str(),
        i16::try_from(decline_reason).unwrap_or(0),
        i16::try_from(cancel_reason).unwrap_or(0),
    )
    .fetch_one(conn)
    .await
}

/// Moves a match to another window (its task's new one). Fails with SQLSTATE 23P01 when the
/// volunteer holds another active match overlapping it.
pub async fn move_match(conn: &mut PgConnection, id: Uuid, window: &Window) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE matches SET slot = tstzrange($2, $3, '[)') WHERE id = $1",
        id,
        window.start,
        window.end,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a wrong check-in code for a match, in its own transaction so that it stays
/// counted when the request fails; returns the new count.
pub async fn count_check_in_failure(pool: &PgPool, match_id: Uuid) -> sqlx::Result<i16> {
    sqlx::query_scalar!(
        "UPDATE matches SET check_in_failures = check_in_failures + 1 WHERE id = $1 \
         RETURNING check_in_failures",
        match_id
    )
    .fetch_one(pool)
    .await
}

/// Offers past their deadline, the earliest first (at most 500 per call).
pub async fn due_offers(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM matches WHERE state = 'offered' AND expires_at <= now() \
         ORDER BY expires_at LIMIT 500"
    )
    .fetch_all(pool)
    .await
}

/// A task's matches in `states`, ordered as `states` lists them, then oldest first.
pub async fn task_matches(
    conn: &mut PgConnection,
    task_id: Uuid,
    states: &[MatchState],
) -> sqlx::Result<Vec<MatchRow>> {
    match_rows!(
        "",
        "matches",
        "WHERE m.task_id = $1 AND m.state = ANY($2) \
         ORDER BY array_position($2, m.state), m.created_at, m.id",
        task_id,
        states as &[MatchState],
    )
    .fetch_all(conn)
    .await
}

/// A volunteer's matches in `states`, soonest window first (at most 500).
pub async fn volunteer_matches(
    conn: &mut PgConnection,
    volunteer_id: Uuid,
    states: &[MatchState],
) -> sqlx::Result<Vec<MatchRow>> {
    match_rows!(
        "",
        "matches",
        "WHERE m.volunteer_id = $1 AND m.state = ANY($2) ORDER BY lower(m.slot), m.id LIMIT 500",
        volunteer_id,
        states as &[MatchState],
    )
    .fetch_all(conn)
    .await
}

/// Active matches (PROPOSED, OFFERED, ACCEPTED, CHECKED_IN) of an incident: what the optimiser
/// keeps (accepted, checked in) or may move (open offers).
pub async fn active_matches(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<Vec<MatchRow>> {
    match_rows!(
        "",
        "matches",
        "WHERE m.incident_id = $1 \
         AND m.state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         ORDER BY m.task_id, m.created_at",
        incident_id,
    )
    .fetch_all(conn)
    .await
}
