//! Incidents and tasks as the task topic delivers them, applied idempotently by version, and
//! the task reads of matching.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{IncidentStatus, Point, Task, TaskStatus, Window};

// ---- incidents -----------------------------------------------------------------------------

pub async fn upsert_incident(
    conn: &mut PgConnection,
    id: Uuid,
    organisation_id: &str,
    centre: Option<Point>,
    radius_km: Option<f64>,
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO incidents (id, organisation_id, centre_latitude, centre_longitude, \
         region_radius_km, version) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET organisation_id = EXCLUDED.organisation_id, \
         centre_latitude = COALESCE(EXCLUDED.centre_latitude, incidents.centre_latitude), \
         centre_longitude = COALESCE(EXCLUDED.centre_longitude, incidents.centre_longitude), \
         region_radius_km = COALESCE(EXCLUDED.region_radius_km, incidents.region_radius_km), \
         version = GREATEST(incidents.version, EXCLUDED.version)",
        id,
        organisation_id,
        centre.map(|p| p.lat),
        centre.map(|p| p.lon),
        radius_km,
        version,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes an incident; returns its tasks that could still receive offers.
pub async fn close_incident(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query!("UPDATE incidents SET status = 'closed' WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar!(
        "UPDATE tasks SET status = 'cancelled', updated_at = now() \
         WHERE incident_id = $1 AND status IN ('open', 'staffed') RETURNING id",
        id
    )
    .fetch_all(conn)
    .await
}

#[derive(Debug)]
pub struct IncidentRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub centre_latitude: Option<f64>,
    pub centre_longitude: Option<f64>,
    pub region_radius_km: Option<f64>,
    pub status: IncidentStatus,
    pub last_sequence: i64,
    /// Other organisations that may read it (IncidentShared).
    pub shared_with: Vec<String>,
}

pub async fn incident(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<IncidentRow>> {
    sqlx::query_as!(
        IncidentRow,
        r#"SELECT id, organisation_id, centre_latitude, centre_longitude, region_radius_km,
        status AS "status: IncidentStatus", last_sequence, shared_with FROM incidents
        WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Who else may read the incident, as of the event at `version` (later versions win).
pub async fn share_incident(
    conn: &mut PgConnection,
    id: Uuid,
    organisation_id: &str,
    shared_with: &[String],
    version: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO incidents (id, organisation_id, version, shared_with) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET shared_with = EXCLUDED.shared_with, \
         version = EXCLUDED.version WHERE incidents.version < EXCLUDED.version",
        id,
        organisation_id,
        version,
        shared_with,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Advisory-lock key of an incident's optimisation ("optim" in the high bits).
fn optimization_key(incident_id: Uuid) -> i64 {
    let bytes = incident_id.as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..16]);
    i64::from_be_bytes(low) ^ 0x6f70_7469_6d00_0000
}

/// Takes the session-level lock of the incident's optimisation on `conn` if no other session
/// holds it: one optimisation per incident at a time, across replicas. `false` when taken.
pub async fn try_lock_optimization(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1) AS "locked!""#,
        optimization_key(incident_id)
    )
    .fetch_one(conn)
    .await
}

/// Releases what [`try_lock_optimization`] took on the same connection.
pub async fn unlock_optimization(conn: &mut PgConnection, incident_id: Uuid) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        "SELECT pg_advisory_unlock($1)",
        optimization_key(incident_id)
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

// ---- tasks ---------------------------------------------------------------------------------

/// A row of `tasks` as [`task_rows!`] reads it.
struct TaskRow {
    id: Uuid,
    incident_id: Uuid,
    organisation_id: String,
    title: String,
    address: String,
    required_skills: Vec<String>,
    preferred_skills: Vec<String>,
    required_languages: Vec<String>,
    preferred_languages: Vec<String>,
    min_age: i32,
    headcount: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    priority: i16,
    latitude: f64,
    longitude: f64,
    max_distance_km: f64,
    status: TaskStatus,
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
            required_languages: r.required_languages,
            preferred_languages: r.preferred_languages,
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
            status: r.status,
            version: r.version,
        }
    }
}

/// Outcome of an idempotent apply.
#[derive(Debug)]
pub enum Applied<T> {
    /// Stored; carries the previous state, if any.
    Stored(Option<T>),
    /// A version at least as new was already stored.
    Stale,
}

/// Stores `t` unless a version at least as new is stored; returns the task stored before
/// (`None` when new) when it was stored.
pub async fn apply_task(conn: &mut PgConnection, t: &Task) -> sqlx::Result<Applied<Task>> {
    let before = task_rows!("WHERE id = $1 FOR UPDATE", t.id)
        .fetch_optional(&mut *conn)
        .await?;
    if before.as_ref().is_some_and(|b| b.version >= t.version) {
        return Ok(Applied::Stale);
    }
    sqlx::query!(
        "INSERT INTO tasks (id, incident_id, organisation_id, title, address, required_skills, \
         preferred_skills, min_age, headcount, starts_at, ends_at, priority, latitude, longitude, \
         max_distance_km, status, version, required_languages, preferred_languages) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19) \
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, address = EXCLUDED.address, \
         required_skills = EXCLUDED.required_skills, preferred_skills = EXCLUDED.preferred_skills, \
         min_age = EXCLUDED.min_age, headcount = EXCLUDED.headcount, \
         starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, priority = EXCLUDED.priority, \
         latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, \
         max_distance_km = EXCLUDED.max_distance_km, \
         required_languages = EXCLUDED.required_languages, \
         preferred_languages = EXCLUDED.preferred_languages, \
         status = CASE WHEN tasks.status = 'cancelled' THEN tasks.status ELSE EXCLUDED.status END, \
         version = EXCLUDED.version, updated_at = now()",
        t.id,
        t.incident_id,
        t.organisation_id,
        t.title,
        t.address,
        t.required_skills.as_slice(),
        t.preferred_skills.as_slice(),
        i32::try_from(t.min_age).unwrap_or(i32::MAX),
        i32::try_from(t.headcount).unwrap_or(i32::MAX),
        t.window.start,
        t.window.end,
        i16::try_from(t.priority).unwrap_or(0),
        t.location.lat,
        t.location.lon,
        t.max_distance_km,
        t.status.as_str(),
        t.version,
        t.required_languages.as_slice(),
        t.preferred_languages.as_slice(),
    )
    .execute(conn)
    .await?;
    Ok(Applied::Stored(before.map(Task::from)))
}

pub async fn task(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Task>> {
    let row = task_rows!("WHERE id = $1", id).fetch_optional(conn).await?;
    Ok(row.map(Task::from))
}

/// Locks the task row: offers for one task are made one at a time, whichever replica.
pub async fn lock_task(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Task>> {
    let row = task_rows!("WHERE id = $1 FOR UPDATE", id)
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
    let rows = task_rows!(
        "WHERE status IN ('open', 'staffed') AND ends_at > now() \
         AND latitude BETWEEN $1 AND $2 \
         ORDER BY CASE WHEN priority = 0 THEN 99 ELSE priority END, starts_at, id",
        lat - lat_span,
        lat + lat_span,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}

/// Ids of tasks that may take offers and have not ended.
pub async fn matchable_task_ids(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM tasks WHERE status IN ('open', 'staffed') AND ends_at > now() \
         ORDER BY CASE WHEN priority = 0 THEN 99 ELSE priority END, starts_at, id"
    )
    .fetch_all(pool)
    .await
}

/// The incident's tasks that may take offers and have not ended.
pub async fn incident_tasks(conn: &mut PgConnection, incident_id: Uuid) -> sqlx::Result<Vec<Task>> {
    let rows = task_rows!(
        "WHERE incident_id = $1 AND status IN ('open', 'staffed') AND ends_at > now() \
         ORDER BY id",
        incident_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}

/// The organisation of a task and the secret its check-in codes are derived from (see
/// [`crate::check_in`]).
pub async fn check_in_secret(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    let row = sqlx::query!(
        "SELECT organisation_id, check_in_secret FROM tasks WHERE id = $1",
        task_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.organisation_id, r.check_in_secret)))
}
