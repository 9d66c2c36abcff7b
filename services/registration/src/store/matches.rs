//! The matches registration was told about (from the match topic), and the audit of every
//! read of a volunteer's contact through one of them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A match as the export shows it.
#[derive(Debug)]
pub struct Seen {
    pub match_id: Uuid,
    pub task_id: Uuid,
    pub organisation_id: String,
    pub state: i16,
    pub updated_at: DateTime<Utc>,
    pub task_title: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub hours_on_site: f64,
}

/// A match as a match event tells it.
pub struct Heard<'a> {
    pub match_id: Uuid,
    pub volunteer_id: Uuid,
    pub task_id: Uuid,
    pub incident_id: Option<Uuid>,
    pub organisation_id: &'a str,
    /// The proto `MatchState`.
    pub state: i16,
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    pub starts_at: Option<DateTime<Utc>>,
    /// Only offers carry it; kept from then on.
    pub task_title: Option<&'a str>,
    /// Only offers carry it; kept from then on.
    pub task_address: Option<&'a str>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub hours_on_site: f64,
}

/// The match's state at `version`, unless a later version is already stored.
pub async fn record(conn: &mut PgConnection, m: Heard<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO matches_seen (match_id, volunteer_id, task_id, organisation_id, state, \
         version, updated_at, incident_id, starts_at, task_title, task_address, checked_in_at, \
         checked_out_at, hours_on_site) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (match_id) DO UPDATE \
         SET state = EXCLUDED.state, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, \
         incident_id = COALESCE(EXCLUDED.incident_id, matches_seen.incident_id), \
         starts_at = COALESCE(EXCLUDED.starts_at, matches_seen.starts_at), \
         task_title = COALESCE(EXCLUDED.task_title, matches_seen.task_title), \
         task_address = COALESCE(EXCLUDED.task_address, matches_seen.task_address), \
         checked_in_at = EXCLUDED.checked_in_at, checked_out_at = EXCLUDED.checked_out_at, \
         hours_on_site = EXCLUDED.hours_on_site \
         WHERE matches_seen.version < EXCLUDED.version",
        m.match_id,
        m.volunteer_id,
        m.task_id,
        m.organisation_id,
        m.state,
        m.version,
        m.occurred_at,
        m.incident_id,
        m.starts_at,
        m.task_title,
        m.task_address,
        m.checked_in_at,
        m.checked_out_at,
        m.hours_on_site,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What registration knows of a match.
#[derive(Debug)]
pub struct Known {
    pub volunteer_id: Uuid,
    pub task_id: Uuid,
    pub organisation_id: String,
    /// The proto `MatchState` of the latest event received.
    pub state: i16,
}

/// The volunteer, task, organisation and latest state of a match.
pub async fn find(pool: &PgPool, match_id: Uuid) -> Result<Option<Known>, sqlx::Error> {
    sqlx::query_as!(
        Known,
        "SELECT volunteer_id, task_id, organisation_id, state FROM matches_seen \
         WHERE match_id = $1",
        match_id,
    )
    .fetch_optional(pool)
    .await
}

/// A volunteer's matches, least recently changed first.
pub async fn of_volunteer(pool: &PgPool, volunteer_id: Uuid) -> Result<Vec<Seen>, sqlx::Error> {
    sqlx::query_as!(
        Seen,
        "SELECT match_id, task_id, organisation_id, state, updated_at, task_title, starts_at, \
         checked_in_at, checked_out_at, hours_on_site FROM matches_seen \
         WHERE volunteer_id = $1 ORDER BY updated_at",
        volunteer_id,
    )
    .fetch_all(pool)
    .await
}

/// Writes down that `accessor` read the contact of the volunteer of a match.
pub async fn audit_contact_access(
    pool: &PgPool,
    match_id: Uuid,
    volunteer_id: Uuid,
    task_id: Uuid,
    organisation_id: &str,
    accessor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO contact_access_audit (match_id, volunteer_id, accessor, task_id, \
         organisation_id) VALUES ($1, $2, $3, $4, $5)",
        match_id,
        volunteer_id,
        accessor,
        task_id,
        organisation_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One read of a volunteer's contact, as admins list it.
#[derive(Debug)]
pub struct ContactReadRow {
    pub id: i64,
    pub accessed_at: chrono::DateTime<chrono::Utc>,
    pub accessor: String,
    pub organisation_id: Option<String>,
    pub task_id: Option<Uuid>,
    pub match_id: Uuid,
}

/// The reads of contacts of matches of `tasks` after `after_id`, oldest first.
pub async fn contact_reads(
    pool: &PgPool,
    tasks: &[Uuid],
    after_id: i64,
    limit: i64,
) -> Result<Vec<ContactReadRow>, sqlx::Error> {
    sqlx::query_as!(
        ContactReadRow,
        "SELECT id, accessed_at, accessor, organisation_id, task_id, match_id \
         FROM contact_access_audit WHERE task_id = ANY($1) AND id > $2 ORDER BY id LIMIT $3",
        tasks,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await
}

/// One volunteer's work on one task, as the participation list shows it.
#[derive(Debug)]
pub struct ParticipantRow {
    pub match_id: Uuid,
    pub volunteer_id: Uuid,
    pub task_id: Uuid,
    pub organisation_id: String,
    pub task_title: Option<String>,
    pub task_address: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub hours_on_site: f64,
    pub state: i16,
}

/// The checked-in and completed matches of the incident (of `organisation_id`, or any), of
/// volunteers not erased, by start.
pub async fn participants(
    pool: &PgPool,
    incident_id: Uuid,
    organisation_id: Option<&str>,
) -> Result<Vec<ParticipantRow>, sqlx::Error> {
    sqlx::query_as!(
        ParticipantRow,
        "SELECT m.match_id, m.volunteer_id, m.task_id, m.organisation_id, m.task_title, \
         m.task_address, m.starts_at, m.checked_in_at, m.checked_out_at, m.hours_on_site, m.state \
         FROM matches_seen m JOIN volunteers v ON v.id = m.volunteer_id \
         WHERE m.incident_id = $1 AND ($2::text IS NULL OR m.organisation_id = $2) \
         AND m.state IN (4, 5) AND v.status <> 'erased' \
         ORDER BY m.starts_at, m.match_id",
        incident_id,
        organisation_id,
    )
    .fetch_all(pool)
    .await
}

/// Records that `accessor` read the names of these participants (one entry each).
pub async fn audit_participation(
    pool: &PgPool,
    accessor: &str,
    rows: &[ParticipantRow],
) -> Result<(), sqlx::Error> {
    let matches: Vec<Uuid> = rows.iter().map(|r| r.match_id).collect();
    let volunteers: Vec<Uuid> = rows.iter().map(|r| r.volunteer_id).collect();
    let tasks: Vec<Uuid> = rows.iter().map(|r| r.task_id).collect();
    let organisations: Vec<String> = rows.iter().map(|r| r.organisation_id.clone()).collect();
    sqlx::query!(
        "INSERT INTO contact_access_audit (match_id, volunteer_id, accessor, task_id, \
         organisation_id, purpose) \
         SELECT m, v, $5, t, o, 'participation' \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) AS r(m, v, t, o)",
        &matches,
        &volunteers,
        &tasks,
        &organisations,
        accessor,
    )
    .execute(pool)
    .await?;
    Ok(())
}
