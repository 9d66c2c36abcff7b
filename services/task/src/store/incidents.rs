//! Incidents: opening, reading, listing, closing.

use chrono::{DateTime, Utc};
use spontan_platform::ids::IncidentId;
use sqlx::PgConnection;
use uuid::Uuid;

use super::IncidentRow;
use crate::domain::{Incident, IncidentSpec, IncidentStatus};

#[tracing::instrument(skip_all, fields(incident_id = %id))]
pub async fn insert_incident(
    tx: &mut PgConnection,
    id: IncidentId,
    spec: &IncidentSpec,
) -> Result<Incident, sqlx::Error> {
    sqlx::query_as!(
        IncidentRow,
        "INSERT INTO incidents (incident_id, organisation_id, name, description, \
         centre_latitude, centre_longitude, region_radius_km) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING incident_id, organisation_id, name, description, centre_latitude, \
         centre_longitude, region_radius_km, status, version, created_at, updated_at, closed_at, shared_with",
        id.uuid(),
        spec.organisation_id,
        spec.name,
        spec.description,
        spec.region_centre.latitude,
        spec.region_centre.longitude,
        spec.region_radius_km,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// One incident; with `lock`, locked until the transaction ends (closing vs. creating tasks).
pub async fn incident(
    conn: &mut PgConnection,
    id: IncidentId,
    lock: bool,
) -> Result<Option<Incident>, sqlx::Error> {
    let row = if lock {
        sqlx::query_as!(
            IncidentRow,
            "SELECT incident_id, organisation_id, name, description, centre_latitude, \
             centre_longitude, region_radius_km, status, version, created_at, updated_at, \
             closed_at, shared_with FROM incidents WHERE incident_id = $1 FOR UPDATE",
            id.uuid(),
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            IncidentRow,
            "SELECT incident_id, organisation_id, name, description, centre_latitude, \
             centre_longitude, region_radius_km, status, version, created_at, updated_at, \
             closed_at, shared_with FROM incidents WHERE incident_id = $1",
            id.uuid(),
        )
        .fetch_optional(conn)
        .await?
    };
    row.map(Incident::try_from).transpose()
}

/// Newest first; `after` is the (created_at, id) of the last incident of the previous page.
pub async fn list_incidents(
    conn: &mut PgConnection,
    organisation: Option<&str>,
    status: Option<IncidentStatus>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    sqlx::query_as!(
        IncidentRow,
        "SELECT incident_id, organisation_id, name, description, centre_latitude, \
         centre_longitude, region_radius_km, status, version, created_at, updated_at, \
         closed_at, shared_with FROM incidents \
         WHERE ($1::text IS NULL OR organisation_id = $1 OR $1 = ANY(shared_with)) \
           AND ($2::text IS NULL OR status = $2) \
           AND ($3::timestamptz IS NULL OR (created_at, incident_id) < ($3, $4::uuid)) \
         ORDER BY created_at DESC, incident_id DESC LIMIT $5",
        organisation,
        status.map(IncidentStatus::as_str),
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(Incident::try_from)
    .collect()
}

pub async fn close_incident(
    tx: &mut PgConnection,
    id: IncidentId,
) -> Result<Incident, sqlx::Error> {
    let id = id.uuid();
    sqlx::query_as!(
        IncidentRow,
        "UPDATE incidents SET status = 'closed', closed_at = now(), updated_at = now(), \
         version = version + 1 WHERE incident_id = $1 \
         RETURNING incident_id, organisation_id, name, description, centre_latitude, \
         centre_longitude, region_radius_km, status, version, created_at, updated_at, closed_at, shared_with",
        id,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// Sets who else may read the incident; bumps its version.
pub async fn share_incident(
    tx: &mut PgConnection,
    id: IncidentId,
    shared_with: &[String],
) -> Result<Incident, sqlx::Error> {
    sqlx::query_as!(
        IncidentRow,
        "UPDATE incidents SET shared_with = $2, updated_at = now(), version = version + 1 \
         WHERE incident_id = $1 \
         RETURNING incident_id, organisation_id, name, description, centre_latitude, \
         centre_longitude, region_radius_km, status, version, created_at, updated_at, closed_at, \
         shared_with",
        id.uuid(),
        shared_with,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}
