//! SQL of the task service: incidents, tasks, staffing, idempotency keys and the audit trail.
//! Every query is checked against the schema at compile time (`sqlx::query!`; offline data in
//! `services/task/.sqlx`, rewritten by `deploy/local/sqlx.sh prepare`).
//!
//! Functions take a `PgConnection` so that callers compose them inside one transaction with
//! the outbox rows that announce the change. Rows become domain values only through the
//! conversions here, and a value outside the domain (an unknown status) is an error, never a
//! default.

mod incidents;
mod requests;
mod staffing;
mod tasks;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    Incident, IncidentSpec, IncidentStatus, Point, Priority, Staffing, Task, TaskSpec, TaskStatus,
    Window,
};

pub use incidents::{close_incident, incident, insert_incident, list_incidents, share_incident};
pub use requests::{Actor, AuditRow, Claim, audit, audit_entries, claim_idempotency_key, replayed};
pub use staffing::{apply_match_state, restaff, staffing};
pub use tasks::{
    TaskCursor, insert_task, list_tasks, set_status, task, unfinished_tasks, update_task,
};

fn corrupt(column: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: "value outside the domain".into(),
    }
}

fn count(value: i32, column: &str) -> Result<u32, sqlx::Error> {
    u32::try_from(value).map_err(|_| corrupt(column))
}

fn as_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// An `incidents` row as the queries return it.
struct IncidentRow {
    incident_id: Uuid,
    organisation_id: String,
    name: String,
    description: String,
    centre_latitude: f64,
    centre_longitude: f64,
    region_radius_km: f64,
    status: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    shared_with: Vec<String>,
}

impl TryFrom<IncidentRow> for Incident {
    type Error = sqlx::Error;

    fn try_from(row: IncidentRow) -> Result<Self, Self::Error> {
        Ok(Incident {
            id: row.incident_id.into(),
            spec: IncidentSpec {
                organisation_id: row.organisation_id,
                name: row.name,
                description: row.description,
                region_centre: Point {
                    latitude: row.centre_latitude,
                    longitude: row.centre_longitude,
                },
                region_radius_km: row.region_radius_km,
            },
            status: IncidentStatus::parse(&row.status).map_err(|_| corrupt("status"))?,
            version: u64::try_from(row.version).map_err(|_| corrupt("version"))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
            shared_with: row.shared_with,
        })
    }
}

/// A `tasks` row as the queries return it.
struct TaskRow {
    task_id: Uuid,
    incident_id: Uuid,
    organisation_id: String,
    title: String,
    description: String,
    meeting_latitude: f64,
    meeting_longitude: f64,
    address: String,
    required_skill_ids: Vec<String>,
    preferred_skill_ids: Vec<String>,
    required_languages: Vec<String>,
    preferred_languages: Vec<String>,
    min_age: i32,
    headcount: i32,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    priority: i16,
    max_distance_km: f64,
    safety_notes: String,
    status: String,
    cancellation_reason: String,
    version: i64,
    offered_count: i32,
    accepted_count: i32,
    checked_in_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<TaskRow> for Task {
    type Error = sqlx::Error;

    fn try_from(row: TaskRow) -> Result<Self, Self::Error> {
        Ok(Task {
            id: row.task_id.into(),
            incident_id: row.incident_id.into(),
            organisation_id: row.organisation_id,
            spec: TaskSpec {
                title: row.title,
                description: row.description,
                meeting_point: Point {
                    latitude: row.meeting_latitude,
                    longitude: row.meeting_longitude,
                },
                address: row.address,
                required_skill_ids: row.required_skill_ids,
                preferred_skill_ids: row.preferred_skill_ids,
                required_languages: row.required_languages,
                preferred_languages: row.preferred_languages,
                min_age: count(row.min_age, "min_age")?,
                headcount: count(row.headcount, "headcount")?,
                window: Window {
                    start: row.window_start,
                    end: row.window_end,
                },
                priority: Priority::from_i32(i32::from(row.priority))
                    .ok_or_else(|| corrupt("priority"))?,
                max_distance_km: row.max_distance_km,
                safety_notes: row.safety_notes,
            },
            status: TaskStatus::parse(&row.status).map_err(|_| corrupt("status"))?,
            cancellation_reason: row.cancellation_reason,
            version: u64::try_from(row.version).map_err(|_| corrupt("version"))?,
            staffing: Staffing {
                offered: count(row.offered_count, "offered_count")?,
                accepted: count(row.accepted_count, "accepted_count")?,
                checked_in: count(row.checked_in_count, "checked_in_count")?,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
