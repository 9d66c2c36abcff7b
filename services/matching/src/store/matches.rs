//! Matches, staffing counts and the per-incident change log.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MatchState, Task, Window};
use crate::engine::Explanation;

/// Columns of [`MatchRow`]: the match joined with what its events need from the task.
pub const MATCH_COLUMNS: &str = "m.id, m.task_id, m.incident_id, m.volunteer_id, \
    m.volunteer_ref, m.state, lower(m.slot) AS starts_at, upper(m.slot) AS ends_at, \
    m.explanation, m.decline_reason, m.cancel_reason, m.offered_at, m.expires_at, \
    m.created_at, m.updated_at, m.version, m.checked_in_at, m.checked_out_at, \
    m.check_in_failures, t.organisation_id, t.title";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MatchRow {
    pub id: Uuid,
    pub task_id: Uuid,
    pub incident_id: Uuid,
    pub volunteer_id: Uuid,
    pub volunteer_ref: String,
    pub state: String,
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
}

impl MatchRow {
    pub fn state(&self) -> MatchState {
        MatchState::parse(&self.state).unwrap_or(MatchState::Cancelled)
    }

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

// ---- counts for matching -------------------------------------------------------------------

/// Staffing counts of one task.
#[derive(Debug, Default, Clone, Copy, sqlx::FromRow)]
pub struct Counts {
    pub proposed: i64,
    pub offered: i64,
    /// ACCEPTED, CHECKED_IN and COMPLETED.
    pub accepted: i64,
    /// CHECKED_IN and COMPLETED.
    pub checked_in: i64,
}

pub async fn task_counts(conn: &mut PgConnection, task_id: Uuid) -> sqlx::Result<Counts> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'proposed') AS proposed, \
         count(*) FILTER (WHERE state = 'offered') AS offered, \
         count(*) FILTER (WHERE state IN ('accepted', 'checked_in', 'completed')) AS accepted, \
         count(*) FILTER (WHERE state IN ('checked_in', 'completed')) AS checked_in \
         FROM matches WHERE task_id = $1",
    )
    .bind(task_id)
    .fetch_one(conn)
    .await
}

/// Volunteers who had a match for the task: nobody is offered the same task twice, except
/// after a withdrawal because the task was full (`TASK_STAFFED`), when a place opens again.
pub async fn volunteers_tried(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> sqlx::Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT volunteer_id FROM matches WHERE task_id = $1 \
         AND NOT (state = 'cancelled' AND cancel_reason = 4)",
    )
    .bind(task_id)
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Of `ids`, those holding an active match overlapping `window`.
pub async fn busy_volunteers(
    conn: &mut PgConnection,
    ids: &[Uuid],
    window: &Window,
) -> sqlx::Result<HashSet<Uuid>> {
    let busy: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT volunteer_id FROM matches WHERE volunteer_id = ANY($1) \
         AND state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND slot && tstzrange($2, $3, '[)')",
    )
    .bind(ids)
    .bind(window.start)
    .bind(window.end)
    .fetch_all(conn)
    .await?;
    Ok(busy.into_iter().collect())
}

/// Every volunteer holding an active match overlapping `window`: what a task's matching
/// leaves out. Its cost follows the active matches, not the candidates (which may be tens of
/// thousands: an array of all their ids costs more than this read).
pub async fn busy_during(conn: &mut PgConnection, window: &Window) -> sqlx::Result<HashSet<Uuid>> {
    let busy: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT volunteer_id FROM matches \
         WHERE state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND slot && tstzrange($1, $2, '[)')",
    )
    .bind(window.start)
    .bind(window.end)
    .fetch_all(conn)
    .await?;
    Ok(busy.into_iter().collect())
}

/// Hours every volunteer holds in the incident (accepted, checked in, completed); those
/// without any are absent.
pub async fn incident_hours(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<HashMap<Uuid, f64>> {
    let rows: Vec<(Uuid, f64)> = sqlx::query_as(
        "SELECT volunteer_id, \
         sum(extract(epoch FROM upper(slot) - lower(slot)))::float8 / 3600.0 \
         FROM matches WHERE incident_id = $1 \
         AND state IN ('accepted', 'checked_in', 'completed') GROUP BY volunteer_id",
    )
    .bind(incident_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Hours each of `ids` holds in the incident (accepted, checked in, completed).
pub async fn assigned_hours(
    conn: &mut PgConnection,
    incident_id: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, f64>> {
    let rows: Vec<(Uuid, f64)> = sqlx::query_as(
        "SELECT volunteer_id, \
         sum(extract(epoch FROM upper(slot) - lower(slot)))::float8 / 3600.0 \
         FROM matches WHERE incident_id = $1 AND volunteer_id = ANY($2) \
         AND state IN ('accepted', 'checked_in', 'completed') GROUP BY volunteer_id",
    )
    .bind(incident_id)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

// ---- matches -------------------------------------------------------------------------------

/// The pseudonym of a volunteer in an incident, created on first use.
async fn volunteer_ref(
    conn: &mut PgConnection,
    incident_id: Uuid,
    volunteer_id: Uuid,
) -> sqlx::Result<String> {
    sqlx::query(
        "INSERT INTO volunteer_refs (incident_id, volunteer_id, ref) VALUES ($1, $2, \
         'v-' || left(replace(gen_random_uuid()::text, '-', ''), 12)) ON CONFLICT DO NOTHING",
    )
    .bind(incident_id)
    .bind(volunteer_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "SELECT ref FROM volunteer_refs WHERE incident_id = $1 AND volunteer_id = $2",
    )
    .bind(incident_id)
    .bind(volunteer_id)
    .fetch_one(conn)
    .await
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
    let active: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM volunteers WHERE id = $1 AND status = 'active' FOR SHARE",
    )
    .bind(volunteer_id)
    .fetch_optional(&mut *conn)
    .await?;
    if active.is_none() {
        return Ok(None);
    }
    let reference = volunteer_ref(conn, task.incident_id, volunteer_id).await?;
    sqlx::query_as(&format!(
        "WITH m AS (INSERT INTO matches (id, task_id, incident_id, volunteer_id, volunteer_ref, \
         state, slot, explanation, offered_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 'offered', tstzrange($6, $7, '[)'), $8, now(), $9) \
         RETURNING *) SELECT {MATCH_COLUMNS} FROM m JOIN tasks t ON t.id = m.task_id"
    ))
    .bind(Uuid::now_v7())
    .bind(task.id)
    .bind(task.incident_id)
    .bind(volunteer_id)
    .bind(reference)
    .bind(task.window.start)
    .bind(task.window.end)
    .bind(Json(explanation))
    .bind(expires_at)
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
    sqlx::query_as(&format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN tasks t ON t.id = m.task_id WHERE m.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn lock_match(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<MatchRow>> {
    sqlx::query_as(&format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN tasks t ON t.id = m.task_id \
         WHERE m.id = $1 FOR UPDATE OF m"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Locks the matches of a task (or of a volunteer) in the given states, oldest first.
pub async fn lock_matches_where(
    conn: &mut PgConnection,
    column: MatchOwner,
    id: Uuid,
    states: &[&str],
) -> sqlx::Result<Vec<MatchRow>> {
    let column = match column {
        MatchOwner::Task => "m.task_id",
        MatchOwner::Volunteer => "m.volunteer_id",
    };
    sqlx::query_as(&format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN tasks t ON t.id = m.task_id \
         WHERE {column} = $1 AND m.state = ANY($2) ORDER BY m.created_at, m.id FOR UPDATE OF m"
    ))
    .bind(id)
    .bind(states)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, Copy)]
pub enum MatchOwner {
    Task,
    Volunteer,
}

/// Changes a match's state and bumps its version; the caller then calls [`record`].
pub async fn set_state(
    conn: &mut PgConnection,
    id: Uuid,
    to: MatchState,
    decline_reason: i32,
    cancel_reason: i32,
) -> sqlx::Result<MatchRow> {
    sqlx::query_as(&format!(
        "WITH m AS (UPDATE matches SET state = $2, version = version + 1, updated_at = now(), \
         decline_reason = $3, cancel_reason = $4, \
         checked_in_at = CASE WHEN $2 = 'checked_in' THEN coalesce(checked_in_at, now()) \
             ELSE checked_in_at END, \
         checked_out_at = CASE WHEN $2 = 'completed' THEN coalesce(checked_out_at, now()) \
             ELSE checked_out_at END \
         WHERE id = $1 RETURNING *) \
         SELECT {MATCH_COLUMNS} FROM m JOIN tasks t ON t.id = m.task_id"
    ))
    .bind(id)
    .bind(to.as_str())
    .bind(i16::try_from(decline_reason).unwrap_or(0))
    .bind(i16::try_from(cancel_reason).unwrap_or(0))
    .fetch_one(conn)
    .await
}

/// The secret a task's check-in codes are derived from (see [`crate::check_in`]).
pub async fn check_in_secret(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as("SELECT organisation_id, check_in_secret FROM tasks WHERE id = $1")
        .bind(task_id)
        .fetch_optional(conn)
        .await
}

/// Counts a wrong check-in code for a match, in its own transaction so that it stays
/// counted when the request fails; returns the new count.
pub async fn count_check_in_failure(pool: &PgPool, match_id: Uuid) -> sqlx::Result<i16> {
    sqlx::query_scalar(
        "UPDATE matches SET check_in_failures = check_in_failures + 1 WHERE id = $1 \
         RETURNING check_in_failures",
    )
    .bind(match_id)
    .fetch_one(pool)
    .await
}

/// Next sequence of the incident's change log. The row lock it takes is held until commit,
/// so changes of one incident commit in sequence order and a poller never skips one.
pub async fn next_sequence(conn: &mut PgConnection, incident_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE incidents SET last_sequence = last_sequence + 1 WHERE id = $1 \
         RETURNING last_sequence",
    )
    .bind(incident_id)
    .fetch_one(conn)
    .await
}

pub async fn insert_change(
    conn: &mut PgConnection,
    sequence: i64,
    m: &MatchRow,
    previous: Option<MatchState>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO match_changes (incident_id, sequence, match_id, task_id, volunteer_ref, \
         state, previous_state, changed_at, explanation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(m.incident_id)
    .bind(sequence)
    .bind(m.id)
    .bind(m.task_id)
    .bind(&m.volunteer_ref)
    .bind(&m.state)
    .bind(previous.map(MatchState::as_str))
    .bind(m.updated_at)
    .bind(&m.explanation)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct ChangeRow {
    pub sequence: i64,
    pub match_id: Uuid,
    pub task_id: Uuid,
    pub incident_id: Uuid,
    pub volunteer_ref: String,
    pub state: String,
    pub previous_state: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub explanation: Json<Explanation>,
}

/// Active matches (OFFERED, ACCEPTED, CHECKED_IN) of an incident: what the optimiser keeps.
pub async fn kept_matches(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<Vec<MatchRow>> {
    sqlx::query_as(&format!(
        "SELECT {MATCH_COLUMNS} FROM matches m JOIN tasks t ON t.id = m.task_id \
         WHERE m.incident_id = $1 AND m.state IN ('offered', 'accepted', 'checked_in') \
         ORDER BY m.task_id, m.created_at"
    ))
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// Every (task, volunteer) pair that ever had a match in the incident.
pub async fn tried_pairs(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<HashSet<(Uuid, Uuid)>> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT task_id, volunteer_id FROM matches WHERE incident_id = $1 \
             AND NOT (state = 'cancelled' AND cancel_reason = 4)",
    )
    .bind(incident_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The windows of the active matches of `ids`, in any incident.
pub async fn busy_windows(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, Vec<Window>>> {
    let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT volunteer_id, lower(slot), upper(slot) FROM matches WHERE volunteer_id = ANY($1) \
         AND state IN ('proposed', 'offered', 'accepted', 'checked_in')",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut busy: HashMap<Uuid, Vec<Window>> = HashMap::new();
    for (id, start, end) in rows {
        busy.entry(id).or_default().push(Window { start, end });
    }
    Ok(busy)
}

/// The volunteer's pseudonym in the incident, if they have one yet.
pub async fn existing_ref(
    pool: &PgPool,
    incident_id: Uuid,
    volunteer_id: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT ref FROM volunteer_refs WHERE incident_id = $1 AND volunteer_id = $2",
    )
    .bind(incident_id)
    .bind(volunteer_id)
    .fetch_optional(pool)
    .await
}

/// How many matches are in each state now, over every incident (states with none are absent).
pub async fn count_by_state(pool: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT state, count(*) FROM matches GROUP BY state")
        .fetch_all(pool)
        .await
}
