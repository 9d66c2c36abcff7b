//! SQL of the read model and of the matches. Every match transition goes through
//! [`record`], which writes the change-log row and the outbox event in the caller's
//! transaction, so a transition, its dashboard sequence and its event commit together.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MatchState, Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window};
use crate::engine::Explanation;

/// Columns of [`MatchRow`]: the match joined with what its events need from the task.
pub const MATCH_COLUMNS: &str = "m.id, m.task_id, m.incident_id, m.volunteer_id, \
    m.volunteer_ref, m.state, lower(m.slot) AS starts_at, upper(m.slot) AS ends_at, \
    m.explanation, m.decline_reason, m.cancel_reason, m.offered_at, m.expires_at, \
    m.created_at, m.updated_at, m.version, t.organisation_id, t.title";

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
    pub organisation_id: String,
    pub title: String,
}

impl MatchRow {
    pub fn state(&self) -> MatchState {
        MatchState::parse(&self.state).unwrap_or(MatchState::Cancelled)
    }

    pub fn window(&self) -> Window {
        Window {
            start: self.starts_at,
            end: self.ends_at,
        }
    }
}

// ---- volunteers ----------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct VolunteerRow {
    id: Uuid,
    skills: Vec<String>,
    languages: Vec<String>,
    age_band: i16,
    min_age_reached: i16,
    latitude: Option<f64>,
    longitude: Option<f64>,
    travel_radius_km: f64,
    availability: Json<Vec<Window>>,
    status: String,
    version: i64,
}

impl From<VolunteerRow> for Volunteer {
    fn from(r: VolunteerRow) -> Self {
        Self {
            id: r.id,
            skills: r.skills,
            languages: r.languages,
            age_band: i32::from(r.age_band),
            min_age_reached: u32::try_from(r.min_age_reached).unwrap_or(0),
            location: r
                .latitude
                .zip(r.longitude)
                .map(|(lat, lon)| Point { lat, lon }),
            travel_radius_km: r.travel_radius_km,
            availability: r.availability.0,
            status: VolunteerStatus::parse(&r.status),
            version: r.version,
        }
    }
}

/// Every volunteer that is not erased, to rebuild the index at start.
pub async fn load_volunteers(pool: &PgPool) -> sqlx::Result<Vec<Volunteer>> {
    let rows: Vec<VolunteerRow> =
        sqlx::query_as("SELECT * FROM volunteers WHERE status <> 'erased'")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Volunteer::from).collect())
}

pub async fn volunteer(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Volunteer>> {
    let row: Option<VolunteerRow> = sqlx::query_as("SELECT * FROM volunteers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Volunteer::from))
}

/// Stores `v` unless a version at least as new is stored; `true` when it was stored.
pub async fn apply_volunteer(conn: &mut PgConnection, v: &Volunteer) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO volunteers (id, skills, languages, age_band, min_age_reached, latitude, \
         longitude, travel_radius_km, availability, status, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET skills = EXCLUDED.skills, languages = EXCLUDED.languages, \
         age_band = EXCLUDED.age_band, min_age_reached = EXCLUDED.min_age_reached, \
         latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, \
         travel_radius_km = EXCLUDED.travel_radius_km, availability = EXCLUDED.availability, \
         status = EXCLUDED.status, version = EXCLUDED.version, updated_at = now() \
         WHERE volunteers.version < EXCLUDED.version",
    )
    .bind(v.id)
    .bind(&v.skills)
    .bind(&v.languages)
    .bind(i16::try_from(v.age_band).unwrap_or(0))
    .bind(i16::try_from(v.min_age_reached).unwrap_or(0))
    .bind(v.location.map(|p| p.lat))
    .bind(v.location.map(|p| p.lon))
    .bind(v.travel_radius_km)
    .bind(Json(&v.availability))
    .bind(v.status.as_str())
    .bind(v.version)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets a volunteer's data for good, keeping an empty row at the highest version so that
/// no replayed older event brings them back; `true` when they were not erased before.
pub async fn erase_volunteer(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO volunteers (id, status, version) VALUES ($1, 'erased', $2) \
         ON CONFLICT (id) DO UPDATE SET skills = '{}', languages = '{}', age_band = 0, \
         min_age_reached = 0, latitude = NULL, longitude = NULL, travel_radius_km = 0, \
         availability = '[]', status = 'erased', version = EXCLUDED.version, updated_at = now() \
         WHERE volunteers.status <> 'erased'",
    )
    .bind(id)
    .bind(i64::MAX)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM volunteer_refs WHERE volunteer_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// After an erasure: the volunteer's finished matches stay countable for dashboards but no
/// longer lead to the person.
pub async fn unlink_matches(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE matches SET volunteer_id = gen_random_uuid() WHERE volunteer_id = $1 \
         AND state NOT IN ('proposed', 'offered', 'accepted', 'checked_in')",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

// ---- incidents and tasks -------------------------------------------------------------------

pub async fn upsert_incident(
    conn: &mut PgConnection,
    id: Uuid,
    organisation_id: &str,
    centre: Option<Point>,
    radius_km: Option<f64>,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO incidents (id, organisation_id, centre_latitude, centre_longitude, \
         region_radius_km, version) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET organisation_id = EXCLUDED.organisation_id, \
         centre_latitude = COALESCE(EXCLUDED.centre_latitude, incidents.centre_latitude), \
         centre_longitude = COALESCE(EXCLUDED.centre_longitude, incidents.centre_longitude), \
         region_radius_km = COALESCE(EXCLUDED.region_radius_km, incidents.region_radius_km), \
         version = GREATEST(incidents.version, EXCLUDED.version)",
    )
    .bind(id)
    .bind(organisation_id)
    .bind(centre.map(|p| p.lat))
    .bind(centre.map(|p| p.lon))
    .bind(radius_km)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes an incident; returns its tasks that could still receive offers.
pub async fn close_incident(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query("UPDATE incidents SET status = 'closed' WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar(
        "UPDATE tasks SET status = 'cancelled', updated_at = now() \
         WHERE incident_id = $1 AND status IN ('open', 'staffed') RETURNING id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub centre_latitude: Option<f64>,
    pub centre_longitude: Option<f64>,
    pub region_radius_km: Option<f64>,
    pub status: String,
    pub last_sequence: i64,
}

pub async fn incident(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<IncidentRow>> {
    sqlx::query_as(
        "SELECT id, organisation_id, centre_latitude, centre_longitude, region_radius_km, \
         status, last_sequence FROM incidents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

const TASK_COLUMNS: &str = "id, incident_id, organisation_id, title, address, required_skills, \
    preferred_skills, min_age, headcount, starts_at, ends_at, priority, latitude, longitude, \
    max_distance_km, status, version";

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: Uuid,
    incident_id: Uuid,
    organisation_id: String,
    title: String,
    address: String,
    required_skills: Vec<String>,
    preferred_skills: Vec<String>,
    min_age: i32,
    headcount: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    priority: i16,
    latitude: f64,
    longitude: f64,
    max_distance_km: f64,
    status: String,
    version: i64,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Self {
        Self {
            id: r.id,
            incident_id: r.incident_id,
            organisation_id: r.organisation_id,
            title: r.title,
            address: r.address,
            required_skills: r.required_skills,
            preferred_skills: r.preferred_skills,
            min_age: u32::try_from(r.min_age).unwrap_or(0),
            headcount: u32::try_from(r.headcount).unwrap_or(0),
            window: Window {
                start: r.starts_at,
                end: r.ends_at,
            },
            priority: i32::from(r.priority),
            location: Point {
                lat: r.latitude,
                lon: r.longitude,
            },
            max_distance_km: r.max_distance_km,
            status: TaskStatus::parse(&r.status),
            version: r.version,
        }
    }
}

/// Stores `t` unless a version at least as new is stored; returns the task stored before
/// (`None` when new) when it was stored, and `Err(())`-like `Ok(None, false)` otherwise.
pub async fn apply_task(conn: &mut PgConnection, t: &Task) -> sqlx::Result<Applied<Task>> {
    let before: Option<TaskRow> = sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"
    ))
    .bind(t.id)
    .fetch_optional(&mut *conn)
    .await?;
    if before.as_ref().is_some_and(|b| b.version >= t.version) {
        return Ok(Applied::Stale);
    }
    sqlx::query(
        "INSERT INTO tasks (id, incident_id, organisation_id, title, address, required_skills, \
         preferred_skills, min_age, headcount, starts_at, ends_at, priority, latitude, longitude, \
         max_distance_km, status, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, address = EXCLUDED.address, \
         required_skills = EXCLUDED.required_skills, preferred_skills = EXCLUDED.preferred_skills, \
         min_age = EXCLUDED.min_age, headcount = EXCLUDED.headcount, \
         starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, priority = EXCLUDED.priority, \
         latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, \
         max_distance_km = EXCLUDED.max_distance_km, \
         status = CASE WHEN tasks.status = 'cancelled' THEN tasks.status ELSE EXCLUDED.status END, \
         version = EXCLUDED.version, updated_at = now()",
    )
    .bind(t.id)
    .bind(t.incident_id)
    .bind(&t.organisation_id)
    .bind(&t.title)
    .bind(&t.address)
    .bind(&t.required_skills)
    .bind(&t.preferred_skills)
    .bind(i32::try_from(t.min_age).unwrap_or(i32::MAX))
    .bind(i32::try_from(t.headcount).unwrap_or(i32::MAX))
    .bind(t.window.start)
    .bind(t.window.end)
    .bind(i16::try_from(t.priority).unwrap_or(0))
    .bind(t.location.lat)
    .bind(t.location.lon)
    .bind(t.max_distance_km)
    .bind(t.status.as_str())
    .bind(t.version)
    .execute(conn)
    .await?;
    Ok(Applied::Stored(before.map(Task::from)))
}

/// Outcome of an idempotent apply.
#[derive(Debug)]
pub enum Applied<T> {
    /// Stored; carries the previous state, if any.
    Stored(Option<T>),
    /// A version at least as new was already stored.
    Stale,
}

pub async fn task(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Task>> {
    let row: Option<TaskRow> =
        sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(Task::from))
}

/// Locks the task row: offers for one task are made one at a time, whichever replica.
pub async fn lock_task(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Task>> {
    let row: Option<TaskRow> = sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Task::from))
}

/// Tasks that may take offers and have not ended, most urgent first, then earliest start;
/// only those whose meeting point lies within `lat_span` degrees of `near` latitude.
pub async fn matchable_tasks_near(
    pool: &PgPool,
    lat: f64,
    lat_span: f64,
) -> sqlx::Result<Vec<Task>> {
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE status IN ('open', 'staffed') \
         AND ends_at > now() AND latitude BETWEEN $1 AND $2 \
         ORDER BY CASE WHEN priority = 0 THEN 99 ELSE priority END, starts_at, id"
    ))
    .bind(lat - lat_span)
    .bind(lat + lat_span)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}

/// Ids of tasks that may take offers and have not ended.
pub async fn matchable_task_ids(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM tasks WHERE status IN ('open', 'staffed') AND ends_at > now() \
         ORDER BY CASE WHEN priority = 0 THEN 99 ELSE priority END, starts_at, id",
    )
    .fetch_all(pool)
    .await
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

/// Volunteers who ever had a match for the task: nobody is offered the same task twice.
pub async fn volunteers_tried(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> sqlx::Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT volunteer_id FROM matches WHERE task_id = $1")
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
         decline_reason = $3, cancel_reason = $4 WHERE id = $1 RETURNING *) \
         SELECT {MATCH_COLUMNS} FROM m JOIN tasks t ON t.id = m.task_id"
    ))
    .bind(id)
    .bind(to.as_str())
    .bind(i16::try_from(decline_reason).unwrap_or(0))
    .bind(i16::try_from(cancel_reason).unwrap_or(0))
    .fetch_one(conn)
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

/// Changes after `after`, ascending; served by the primary key (incident_id, sequence).
pub async fn changes_after(
    pool: &PgPool,
    incident_id: Uuid,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<ChangeRow>> {
    sqlx::query_as(
        "SELECT sequence, match_id, task_id, incident_id, volunteer_ref, state, previous_state, \
         changed_at, explanation FROM match_changes WHERE incident_id = $1 AND sequence > $2 \
         ORDER BY sequence LIMIT $3",
    )
    .bind(incident_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}
