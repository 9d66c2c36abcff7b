//! The volunteer read model, applied idempotently by version, and how far into the volunteer
//! topic it goes, in which log.

use std::collections::HashMap;

use spontan_platform::kafka::log_identity::{RecordIdentity, StoredPosition};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Point, Volunteer, VolunteerStatus, Window};

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
    status: VolunteerStatus,
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
            status: r.status,
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
    /// The same offsets with the log they belong to, to be checked against the broker's
    /// before they are used.
    pub positions: Vec<StoredPosition>,
}

/// Reads the volunteers and the offsets of `topic` in one snapshot, so that the offsets say
/// exactly which records the volunteers already reflect (both are written in one transaction).
pub async fn volunteer_snapshot(pool: &PgPool, topic: &str) -> sqlx::Result<VolunteerSnapshot> {
    let mut tx = super::begin_snapshot(pool).await?;
    let rows = sqlx::query_as!(
        VolunteerRow,
        r#"SELECT id, skills, languages, age_band, min_age_reached, latitude, longitude,
        travel_radius_km, availability AS "availability: Json<Vec<Window>>",
        status AS "status: VolunteerStatus", version
        FROM volunteers WHERE status <> 'erased'"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let offsets = sqlx::query!(
        "SELECT partition, next_offset, cluster_id, last_record FROM volunteer_offsets \
         WHERE topic = $1",
        topic
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(VolunteerSnapshot {
        volunteers: rows.into_iter().map(Volunteer::from).collect(),
        offsets: offsets
            .iter()
            .map(|r| (r.partition, r.next_offset))
            .collect(),
        positions: offsets
            .into_iter()
            .map(|r| StoredPosition {
                partition: r.partition,
                next_offset: r.next_offset,
                cluster_id: r.cluster_id,
                last_record: r.last_record.map(RecordIdentity::new),
            })
            .collect(),
    })
}

/// Records, inside the transaction that applied it, that `record`, at `offset` of
/// `partition` of the cluster `cluster_id`, is in the read model. Offsets only grow: a
/// replica behind another changes nothing (both read the same log; after a log was
/// replaced, [`forget_volunteer_offsets`] lets the offsets start again).
pub async fn record_volunteer_offset(
    conn: &mut PgConnection,
    topic: &str,
    partition: i32,
    offset: i64,
    cluster_id: Option<&str>,
    record: &RecordIdentity,
) -> sqlx::Result<()> {
    // An equal offset without a record is a row from before the record was kept: fill it in.
    sqlx::query!(
        "INSERT INTO volunteer_offsets (topic, partition, next_offset, cluster_id, last_record) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (topic, partition) DO UPDATE \
         SET next_offset = EXCLUDED.next_offset, cluster_id = EXCLUDED.cluster_id, \
         last_record = EXCLUDED.last_record \
         WHERE volunteer_offsets.next_offset < EXCLUDED.next_offset \
         OR (volunteer_offsets.next_offset = EXCLUDED.next_offset \
         AND volunteer_offsets.last_record IS NULL)",
        topic,
        partition,
        offset + 1,
        cluster_id,
        record.as_str(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the stored offsets of `partitions`, whose log was found replaced: they are read
/// from their beginning, and the offsets of the new log can grow from there. The read model
/// itself stays (its volunteers exist; records read again change nothing older versions
/// would).
pub async fn forget_volunteer_offsets(
    pool: &PgPool,
    topic: &str,
    partitions: &[i32],
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM volunteer_offsets WHERE topic = $1 AND partition = ANY($2)",
        topic,
        partitions,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn volunteer(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Volunteer>> {
    let row = sqlx::query_as!(
        VolunteerRow,
        r#"SELECT id, skills, languages, age_band, min_age_reached, latitude, longitude,
        travel_radius_km, availability AS "availability: Json<Vec<Window>>",
        status AS "status: VolunteerStatus", version
        FROM volunteers WHERE id = $1"#,
        id
    )
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
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO volunteers (id, skills, languages, age_band, min_age_reached, latitude,
        longitude, travel_radius_km, availability, status, version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (id) DO UPDATE SET skills = EXCLUDED.skills, languages = EXCLUDED.languages,
        age_band = EXCLUDED.age_band, min_age_reached = EXCLUDED.min_age_reached,
        latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
        travel_radius_km = EXCLUDED.travel_radius_km, availability = EXCLUDED.availability,
        status = EXCLUDED.status, version = EXCLUDED.version, updated_at = now()
        WHERE volunteers.version < EXCLUDED.version RETURNING (xmax = 0) AS "inserted!""#,
        v.id,
        v.skills.as_slice(),
        v.languages.as_slice(),
        i16::try_from(v.age_band).unwrap_or(0),
        i16::try_from(v.min_age_reached).unwrap_or(0),
        v.location.map(|p| p.lat),
        v.location.map(|p| p.lon),
        v.travel_radius_km,
        Json(&v.availability) as _,
        v.status.as_str(),
        v.version,
    )
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
    let done = sqlx::query!(
        "INSERT INTO volunteers (id, status, version) VALUES ($1, 'erased', $2) \
         ON CONFLICT (id) DO UPDATE SET skills = '{}', languages = '{}', age_band = 0, \
         min_age_reached = 0, latitude = NULL, longitude = NULL, travel_radius_km = 0, \
         availability = '[]', status = 'erased', version = EXCLUDED.version, updated_at = now() \
         WHERE volunteers.status <> 'erased'",
        id,
        i64::MAX,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM task_volunteer_refs WHERE volunteer_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    // Written by the release before (per-incident pseudonyms) until its table is dropped.
    sqlx::query!("DELETE FROM volunteer_refs WHERE volunteer_id = $1", id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the volunteer has been erased (the registration service's erasure event has
/// arrived): their tokens, still unexpired, are refused here from then on.
pub async fn volunteer_erased(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let erased = sqlx::query_scalar!(
        "SELECT status = 'erased' AS \"erased!\" FROM volunteers WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(erased.unwrap_or(false))
}

/// After an erasure: the volunteer's finished matches stay countable for dashboards but no
/// longer lead to the person.
pub async fn unlink_matches(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE matches SET volunteer_id = gen_random_uuid() WHERE volunteer_id = $1 \
         AND state NOT IN ('proposed', 'offered', 'accepted', 'checked_in')",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}
