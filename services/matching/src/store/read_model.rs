//! The read model: volunteers, incidents and tasks as the topics deliver them, applied
//! idempotently by version.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window};

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

/// What the index is rebuilt from at start: every volunteer that is not erased, and how far
/// into each partition of the volunteer topic they reach.
pub struct VolunteerSnapshot {
    pub volunteers: Vec<Volunteer>,
    /// Partition to the offset of the next record to apply; a partition absent here is read
    /// from its beginning.
    pub offsets: HashMap<i32, i64>,
}

/// Reads the volunteers and the offsets of `topic` in one snapshot, so that the offsets say
/// exactly which records the volunteers already reflect (both are written in one transaction).
pub async fn volunteer_snapshot(pool: &PgPool, topic: &str) -> sqlx::Result<VolunteerSnapshot> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rows: Vec<VolunteerRow> =
        sqlx::query_as("SELECT * FROM volunteers WHERE status <> 'erased'")
            .fetch_all(&mut *tx)
            .await?;
    let offsets: Vec<(i32, i64)> =
        sqlx::query_as("SELECT partition, next_offset FROM volunteer_offsets WHERE topic = $1")
            .bind(topic)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(VolunteerSnapshot {
        volunteers: rows.into_iter().map(Volunteer::from).collect(),
        offsets: offsets.into_iter().collect(),
    })
}

/// Records, inside the transaction that applied it, that the record at `offset` of
/// `partition` is in the read model. Offsets only grow: a replica behind another changes
/// nothing.
pub async fn record_volunteer_offset(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    offset: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO volunteer_offsets (topic, partition, next_offset) VALUES ($1, $2, $3) \
         ON CONFLICT (topic, partition) DO UPDATE \
         SET next_offset = GREATEST(volunteer_offsets.next_offset, EXCLUDED.next_offset)",
    )
    .bind(topic)
    .bind(partition)
    .bind(offset + 1)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn volunteer(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Volunteer>> {
    let row: Option<VolunteerRow> = sqlx::query_as("SELECT * FROM volunteers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Volunteer::from))
}

/// What [`apply_volunteer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolunteerApplied {
    /// The volunteer was new here.
    Inserted,
    /// An older version was replaced.
    Updated,
    /// A version at least as new was stored already: nothing changed.
    Stale,
}

/// Stores `v` unless a version at least as new is stored.
pub async fn apply_volunteer(
    conn: &mut PgConnection,
    v: &Volunteer,
) -> sqlx::Result<VolunteerApplied> {
    // `xmax = 0` holds for a row this statement inserted, not for one it updated.
    let inserted: Option<bool> = sqlx::query_scalar(
        "INSERT INTO volunteers (id, skills, languages, age_band, min_age_reached, latitude, \
         longitude, travel_radius_km, availability, status, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET skills = EXCLUDED.skills, languages = EXCLUDED.languages, \
         age_band = EXCLUDED.age_band, min_age_reached = EXCLUDED.min_age_reached, \
         latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, \
         travel_radius_km = EXCLUDED.travel_radius_km, availability = EXCLUDED.availability, \
         status = EXCLUDED.status, version = EXCLUDED.version, updated_at = now() \
         WHERE volunteers.version < EXCLUDED.version RETURNING (xmax = 0)",
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
    .fetch_optional(conn)
    .await?;
    Ok(match inserted {
        Some(true) => VolunteerApplied::Inserted,
        Some(false) => VolunteerApplied::Updated,
        None => VolunteerApplied::Stale,
    })
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

/// The incident's tasks that may take offers and have not ended.
pub async fn incident_tasks(conn: &mut PgConnection, incident_id: Uuid) -> sqlx::Result<Vec<Task>> {
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE incident_id = $1 \
         AND status IN ('open', 'staffed') AND ends_at > now() ORDER BY id"
    ))
    .bind(incident_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}
