//! Tasks: creating, reading, listing, editing, status changes.
//!
//! The column list of `TaskRow` is written out in every query: the query macros take one
//! string literal each and check it whole.

use chrono::{DateTime, Utc};
use spontan_platform::ids::{IncidentId, TaskId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{TaskRow, as_i32};
use crate::domain::{Incident, Priority, Task, TaskSpec, TaskStatus};

#[tracing::instrument(skip_all, fields(task_id = %id))]
pub async fn insert_task(
    tx: &mut PgConnection,
    id: TaskId,
    incident: &Incident,
    spec: &TaskSpec,
) -> Result<Task, sqlx::Error> {
    sqlx::query_as!(
        TaskRow,
        "INSERT INTO tasks (task_id, incident_id, organisation_id, title, description, \
         meeting_latitude, meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, headcount, window_start, window_end, \
         priority, max_distance_km, safety_notes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19) \
         RETURNING task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at",
        id.uuid(),
        incident.id.uuid(),
        incident.spec.organisation_id,
        spec.title,
        spec.description,
        spec.meeting_point.latitude,
        spec.meeting_point.longitude,
        spec.address,
        &spec.required_skill_ids,
        &spec.preferred_skill_ids,
        &spec.required_languages,
        &spec.preferred_languages,
        as_i32(spec.min_age),
        as_i32(spec.headcount),
        spec.window.start,
        spec.window.end,
        spec.priority as i16,
        spec.max_distance_km,
        spec.safety_notes,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// One task; with `lock`, locked until the transaction ends.
pub async fn task(
    conn: &mut PgConnection,
    id: TaskId,
    lock: bool,
) -> Result<Option<Task>, sqlx::Error> {
    let row = if lock {
        sqlx::query_as!(
            TaskRow,
            "SELECT task_id, incident_id, organisation_id, title, description, meeting_latitude, \
             meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
             headcount, window_start, window_end, priority, max_distance_km, safety_notes, \
             status, cancellation_reason, version, offered_count, accepted_count, \
             checked_in_count, created_at, updated_at FROM tasks WHERE task_id = $1 FOR UPDATE",
            id.uuid(),
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            TaskRow,
            "SELECT task_id, incident_id, organisation_id, title, description, meeting_latitude, \
             meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
             headcount, window_start, window_end, priority, max_distance_km, safety_notes, \
             status, cancellation_reason, version, offered_count, accepted_count, \
             checked_in_count, created_at, updated_at FROM tasks WHERE task_id = $1",
            id.uuid(),
        )
        .fetch_optional(conn)
        .await?
    };
    row.map(Task::try_from).transpose()
}

/// The incident's tasks that are not final, locked, in id order (a fixed lock order).
pub async fn unfinished_tasks(
    tx: &mut PgConnection,
    incident_id: IncidentId,
) -> Result<Vec<Task>, sqlx::Error> {
    sqlx::query_as!(
        TaskRow,
        "SELECT task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at FROM tasks WHERE incident_id = $1 \
         AND status NOT IN ('completed', 'cancelled') ORDER BY task_id FOR UPDATE",
        incident_id.uuid(),
    )
    .fetch_all(tx)
    .await?
    .into_iter()
    .map(Task::try_from)
    .collect()
}

/// Replaces the coordinator's fields and the status; one version more.
pub async fn update_task(
    tx: &mut PgConnection,
    id: TaskId,
    spec: &TaskSpec,
    status: TaskStatus,
) -> Result<Task, sqlx::Error> {
    sqlx::query_as!(
        TaskRow,
        "UPDATE tasks SET title = $2, description = $3, meeting_latitude = $4, \
         meeting_longitude = $5, address = $6, required_skill_ids = $7, \
         preferred_skill_ids = $8, min_age = $9, headcount = $10, window_start = $11, \
         window_end = $12, priority = $13, max_distance_km = $14, safety_notes = $15, \
         status = $16, required_languages = $17, preferred_languages = $18, \
         version = version + 1, updated_at = now() WHERE task_id = $1 \
         RETURNING task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at",
        id.uuid(),
        spec.title,
        spec.description,
        spec.meeting_point.latitude,
        spec.meeting_point.longitude,
        spec.address,
        &spec.required_skill_ids,
        &spec.preferred_skill_ids,
        as_i32(spec.min_age),
        as_i32(spec.headcount),
        spec.window.start,
        spec.window.end,
        spec.priority as i16,
        spec.max_distance_km,
        spec.safety_notes,
        status.as_str(),
        &spec.required_languages,
        &spec.preferred_languages,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// A new status (and, for cancellations, the reason); one version more.
pub async fn set_status(
    tx: &mut PgConnection,
    id: TaskId,
    status: TaskStatus,
    cancellation_reason: &str,
) -> Result<Task, sqlx::Error> {
    sqlx::query_as!(
        TaskRow,
        "UPDATE tasks SET status = $2, cancellation_reason = $3, version = version + 1, \
         updated_at = now() WHERE task_id = $1 \
         RETURNING task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at",
        id.uuid(),
        status.as_str(),
        cancellation_reason,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// Position of a task in ListTasks order: priority, window start, id.
pub type TaskCursor = (i16, DateTime<Utc>, Uuid);

pub async fn list_tasks(
    conn: &mut PgConnection,
    incident_id: IncidentId,
    statuses: &[TaskStatus],
    priorities: &[Priority],
    after: Option<TaskCursor>,
    limit: i64,
) -> Result<Vec<Task>, sqlx::Error> {
    let statuses: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
    let priorities: Vec<i16> = priorities.iter().map(|p| *p as i16).collect();
    sqlx::query_as!(
        TaskRow,
        "SELECT task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at FROM tasks WHERE incident_id = $1 \
           AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
           AND (cardinality($3::smallint[]) = 0 OR priority = ANY($3)) \
           AND ($4::smallint IS NULL \
                OR (priority, window_start, task_id) > ($4, $5::timestamptz, $6::uuid)) \
         ORDER BY priority, window_start, task_id LIMIT $7",
        incident_id.uuid(),
        &statuses,
        &priorities,
        after.map(|a| a.0),
        after.map(|a| a.1),
        after.map(|a| a.2),
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(Task::try_from)
    .collect()
}
