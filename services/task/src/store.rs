//! SQL of the task service: incidents, tasks, staffing, idempotency keys and the audit trail.
//!
//! Functions take a `PgConnection` so that callers compose them inside one transaction with
//! the outbox rows that announce the change.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::{
    Incident, IncidentSpec, IncidentStatus, Point, Priority, Staffing, Task, TaskSpec, TaskStatus,
    Window,
};

const INCIDENT_COLUMNS: &str = "incident_id, organisation_id, name, description, \
    centre_latitude, centre_longitude, region_radius_km, status, version, created_at, \
    updated_at, closed_at";

const TASK_COLUMNS: &str = "task_id, incident_id, organisation_id, title, description, \
    meeting_latitude, meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
    min_age, headcount, window_start, window_end, priority, max_distance_km, safety_notes, \
    status, cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
    created_at, updated_at";

fn corrupt(column: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: "value outside the domain".into(),
    }
}

fn count(row: &PgRow, column: &str) -> Result<u32, sqlx::Error> {
    u32::try_from(row.try_get::<i32, _>(column)?).map_err(|_| corrupt(column))
}

fn version(row: &PgRow) -> Result<u64, sqlx::Error> {
    u64::try_from(row.try_get::<i64, _>("version")?).map_err(|_| corrupt("version"))
}

fn incident_from(row: &PgRow) -> Result<Incident, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Incident {
        id: row.try_get("incident_id")?,
        spec: IncidentSpec {
            organisation_id: row.try_get("organisation_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            region_centre: Point {
                latitude: row.try_get("centre_latitude")?,
                longitude: row.try_get("centre_longitude")?,
            },
            region_radius_km: row.try_get("region_radius_km")?,
        },
        status: IncidentStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        version: version(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

fn task_from(row: &PgRow) -> Result<Task, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let priority: i16 = row.try_get("priority")?;
    Ok(Task {
        id: row.try_get("task_id")?,
        incident_id: row.try_get("incident_id")?,
        organisation_id: row.try_get("organisation_id")?,
        spec: TaskSpec {
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            meeting_point: Point {
                latitude: row.try_get("meeting_latitude")?,
                longitude: row.try_get("meeting_longitude")?,
            },
            address: row.try_get("address")?,
            required_skill_ids: row.try_get("required_skill_ids")?,
            preferred_skill_ids: row.try_get("preferred_skill_ids")?,
            min_age: count(row, "min_age")?,
            headcount: count(row, "headcount")?,
            window: Window {
                start: row.try_get("window_start")?,
                end: row.try_get("window_end")?,
            },
            priority: Priority::from_i32(i32::from(priority)).ok_or_else(|| corrupt("priority"))?,
            max_distance_km: row.try_get("max_distance_km")?,
            safety_notes: row.try_get("safety_notes")?,
        },
        status: TaskStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        cancellation_reason: row.try_get("cancellation_reason")?,
        version: version(row)?,
        staffing: Staffing {
            offered: count(row, "offered_count")?,
            accepted: count(row, "accepted_count")?,
            checked_in: count(row, "checked_in_count")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[tracing::instrument(skip_all, fields(incident_id = %id))]
pub async fn insert_incident(
    tx: &mut PgConnection,
    id: Uuid,
    spec: &IncidentSpec,
) -> Result<Incident, sqlx::Error> {
    let sql = format!(
        "INSERT INTO incidents (incident_id, organisation_id, name, description, \
         centre_latitude, centre_longitude, region_radius_km) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {INCIDENT_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(&spec.organisation_id)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.region_centre.latitude)
        .bind(spec.region_centre.longitude)
        .bind(spec.region_radius_km)
        .fetch_one(&mut *tx)
        .await?;
    incident_from(&row)
}

/// One incident; with `lock`, locked until the transaction ends (closing vs. creating tasks).
pub async fn incident(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<Incident>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE incident_id = $1{lock}");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(incident_from).transpose()
}

/// Newest first; `after` is the (created_at, id) of the last incident of the previous page.
pub async fn list_incidents(
    conn: &mut PgConnection,
    organisation: Option<&str>,
    status: Option<IncidentStatus>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents \
         WHERE ($1::text IS NULL OR organisation_id = $1) \
           AND ($2::text IS NULL OR status = $2) \
           AND ($3::timestamptz IS NULL OR (created_at, incident_id) < ($3, $4)) \
         ORDER BY created_at DESC, incident_id DESC LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(organisation)
        .bind(status.map(IncidentStatus::as_str))
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(incident_from).collect()
}

pub async fn close_incident(tx: &mut PgConnection, id: Uuid) -> Result<Incident, sqlx::Error> {
    let sql = format!(
        "UPDATE incidents SET status = 'closed', closed_at = now(), updated_at = now(), \
         version = version + 1 WHERE incident_id = $1 RETURNING {INCIDENT_COLUMNS}"
    );
    let row = sqlx::query(&sql).bind(id).fetch_one(tx).await?;
    incident_from(&row)
}

#[tracing::instrument(skip_all, fields(task_id = %id))]
pub async fn insert_task(
    tx: &mut PgConnection,
    id: Uuid,
    incident: &Incident,
    spec: &TaskSpec,
) -> Result<Task, sqlx::Error> {
    let sql = format!(
        "INSERT INTO tasks (task_id, incident_id, organisation_id, title, description, \
         meeting_latitude, meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         min_age, headcount, window_start, window_end, priority, max_distance_km, safety_notes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         RETURNING {TASK_COLUMNS}"
    );
    let row = bind_spec(
        sqlx::query(&sql)
            .bind(id)
            .bind(incident.id)
            .bind(&incident.spec.organisation_id),
        spec,
    )
    .fetch_one(tx)
    .await?;
    task_from(&row)
}

/// Binds the fourteen columns of a spec, in `insert_task`'s order from `title` on.
fn bind_spec<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    spec: &'q TaskSpec,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&spec.title)
        .bind(&spec.description)
        .bind(spec.meeting_point.latitude)
        .bind(spec.meeting_point.longitude)
        .bind(&spec.address)
        .bind(&spec.required_skill_ids)
        .bind(&spec.preferred_skill_ids)
        .bind(i32::try_from(spec.min_age).unwrap_or(i32::MAX))
        .bind(i32::try_from(spec.headcount).unwrap_or(i32::MAX))
        .bind(spec.window.start)
        .bind(spec.window.end)
        .bind(spec.priority as i16)
        .bind(spec.max_distance_km)
        .bind(&spec.safety_notes)
}

/// One task; with `lock`, locked until the transaction ends.
pub async fn task(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<Task>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = $1{lock}");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(task_from).transpose()
}

/// The incident's tasks that are not final, locked, in id order (a fixed lock order).
pub async fn unfinished_tasks(
    tx: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Vec<Task>, sqlx::Error> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE incident_id = $1 \
         AND status NOT IN ('completed', 'cancelled') ORDER BY task_id FOR UPDATE"
    );
    let rows = sqlx::query(&sql).bind(incident_id).fetch_all(tx).await?;
    rows.iter().map(task_from).collect()
}

/// Replaces the coordinator's fields and the status; one version more.
pub async fn update_task(
    tx: &mut PgConnection,
    id: Uuid,
    spec: &TaskSpec,
    status: TaskStatus,
) -> Result<Task, sqlx::Error> {
    let sql = format!(
        "UPDATE tasks SET title = $2, description = $3, meeting_latitude = $4, \
         meeting_longitude = $5, address = $6, required_skill_ids = $7, \
         preferred_skill_ids = $8, min_age = $9, headcount = $10, window_start = $11, \
         window_end = $12, priority = $13, max_distance_km = $14, safety_notes = $15, \
         status = $16, version = version + 1, updated_at = now() \
         WHERE task_id = $1 RETURNING {TASK_COLUMNS}"
    );
    let row = bind_spec(sqlx::query(&sql).bind(id), spec)
        .bind(status.as_str())
        .fetch_one(tx)
        .await?;
    task_from(&row)
}

/// A new status (and, for cancellations, the reason); one version more.
pub async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: TaskStatus,
    cancellation_reason: &str,
) -> Result<Task, sqlx::Error> {
    let sql = format!(
        "UPDATE tasks SET status = $2, cancellation_reason = $3, version = version + 1, \
         updated_at = now() WHERE task_id = $1 RETURNING {TASK_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(status.as_str())
        .bind(cancellation_reason)
        .fetch_one(tx)
        .await?;
    task_from(&row)
}

/// Position of a task in ListTasks order: priority, window start, id.
pub type TaskCursor = (i16, DateTime<Utc>, Uuid);

pub async fn list_tasks(
    conn: &mut PgConnection,
    incident_id: Uuid,
    statuses: &[TaskStatus],
    priorities: &[Priority],
    after: Option<TaskCursor>,
    limit: i64,
) -> Result<Vec<Task>, sqlx::Error> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let priorities: Vec<i16> = priorities.iter().map(|p| *p as i16).collect();
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE incident_id = $1 \
           AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
           AND (cardinality($3::smallint[]) = 0 OR priority = ANY($3)) \
           AND ($4::smallint IS NULL OR (priority, window_start, task_id) > ($4, $5, $6)) \
         ORDER BY priority, window_start, task_id LIMIT $7"
    );
    let rows = sqlx::query(&sql)
        .bind(incident_id)
        .bind(&statuses)
        .bind(&priorities)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(after.map(|a| a.2))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(task_from).collect()
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new and now belongs to `resource_id`: create it.
    New,
    /// The key was used before for the same request: return this resource.
    Replay(Uuid),
    /// The key was used before for another request (or operation).
    Conflict,
}

/// The resource an earlier request of `creator` with the same key, operation and content
/// created, if any. Checked before validation, so that a retry hours later (when its window
/// may have ended) still gets its answer.
pub async fn replayed(
    conn: &mut PgConnection,
    creator: &str,
    key: Uuid,
    operation: &str,
    request: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT resource_id FROM idempotency_keys WHERE creator = $1 AND idempotency_key = $2 \
         AND operation = $3 AND request_digest = sha256($4)",
    )
    .bind(creator)
    .bind(key.to_string())
    .bind(operation)
    .bind(request)
    .fetch_optional(conn)
    .await
}

/// Claims `key` for `resource_id` within the caller's transaction. A concurrent claim of the
/// same key waits for this transaction and then sees it, so one request creates the resource.
#[allow(clippy::too_many_arguments)]
pub async fn claim_idempotency_key(
    tx: &mut PgConnection,
    organisation: &str,
    creator: &str,
    key: Uuid,
    operation: &str,
    request: &[u8],
    resource_id: Uuid,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys \
         (organisation_id, creator, idempotency_key, operation, request_digest, resource_id) \
         VALUES ($1, $2, $3, $4, sha256($5), $6) ON CONFLICT DO NOTHING",
    )
    .bind(organisation)
    .bind(creator)
    .bind(key.to_string())
    .bind(operation)
    .bind(request)
    .bind(resource_id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let row = sqlx::query(
        "SELECT resource_id, operation = $4 AND request_digest = sha256($5) AS same \
         FROM idempotency_keys \
         WHERE organisation_id = $1 AND creator = $2 AND idempotency_key = $3",
    )
    .bind(organisation)
    .bind(creator)
    .bind(key.to_string())
    .bind(operation)
    .bind(request)
    .fetch_one(&mut *tx)
    .await?;
    if row.try_get::<bool, _>("same")? {
        Ok(Claim::Replay(row.try_get("resource_id")?))
    } else {
        Ok(Claim::Conflict)
    }
}

/// Who did something: the token's subject and role, or the service itself.
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: String,
    pub role: &'static str,
}

impl Actor {
    /// The task service acting on match events (staffing) or on a closed incident's tasks.
    pub fn system() -> Self {
        Self {
            subject: "spontan-task".to_owned(),
            role: "system",
        }
    }
}

/// Appends one entry to the audit trail. `details` must never hold volunteer data.
pub async fn audit(
    tx: &mut PgConnection,
    actor: &Actor,
    organisation: &str,
    action: &str,
    entity: (&str, Uuid),
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (actor_subject, actor_role, organisation_id, action, \
         entity_kind, entity_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&actor.subject)
    .bind(actor.role)
    .bind(organisation)
    .bind(action)
    .bind(entity.0)
    .bind(entity.1)
    .bind(details)
    .execute(tx)
    .await?;
    Ok(())
}

/// Records a match's state if `version` is newer than what is known; `false` for a stale or
/// repeated event.
pub async fn apply_match_state(
    tx: &mut PgConnection,
    match_id: Uuid,
    task_id: Uuid,
    state: &str,
    version: u64,
) -> Result<bool, sqlx::Error> {
    let applied = sqlx::query(
        "INSERT INTO task_matches (match_id, task_id, state, version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (match_id) DO UPDATE SET state = EXCLUDED.state, \
         version = EXCLUDED.version, updated_at = now() \
         WHERE task_matches.version < EXCLUDED.version",
    )
    .bind(match_id)
    .bind(task_id)
    .bind(state)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .execute(tx)
    .await?;
    Ok(applied.rows_affected() == 1)
}

/// Recounts a task's staffing from its matches' latest states and stores it with `status`;
/// the version moves only when the status does (offers coming and going must not make a
/// coordinator's edit fail as stale).
pub async fn restaff(
    tx: &mut PgConnection,
    task: &Task,
    staffing: Staffing,
    status: TaskStatus,
) -> Result<Task, sqlx::Error> {
    let bump = i64::from(status != task.status);
    let sql = format!(
        "UPDATE tasks SET offered_count = $2, accepted_count = $3, checked_in_count = $4, \
         status = $5, version = version + $6, \
         updated_at = CASE WHEN $6 = 1 THEN now() ELSE updated_at END \
         WHERE task_id = $1 RETURNING {TASK_COLUMNS}"
    );
    let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let row = sqlx::query(&sql)
        .bind(task.id)
        .bind(as_i32(staffing.offered))
        .bind(as_i32(staffing.accepted))
        .bind(as_i32(staffing.checked_in))
        .bind(status.as_str())
        .bind(bump)
        .fetch_one(tx)
        .await?;
    task_from(&row)
}

/// Counts of a task's matches by their latest state.
pub async fn staffing(tx: &mut PgConnection, task_id: Uuid) -> Result<Staffing, sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE state = 'offered') AS offered, \
         count(*) FILTER (WHERE state IN ('accepted', 'checked_in', 'completed')) AS accepted, \
         count(*) FILTER (WHERE state IN ('checked_in', 'completed')) AS checked_in \
         FROM task_matches WHERE task_id = $1",
    )
    .bind(task_id)
    .fetch_one(tx)
    .await?;
    let n = |c: &str| -> Result<u32, sqlx::Error> {
        u32::try_from(row.try_get::<i64, _>(c)?).map_err(|_| corrupt(c))
    };
    Ok(Staffing {
        offered: n("offered")?,
        accepted: n("accepted")?,
        checked_in: n("checked_in")?,
    })
}
