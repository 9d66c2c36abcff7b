//! Staffing: the latest state of every match of a task, and the counts derived from them.

use spontan_platform::ids::{MatchId, TaskId};
use sqlx::PgConnection;

use super::{TaskRow, as_i32, corrupt};
use crate::domain::{Staffing, Task, TaskStatus};

/// Records a match's state if `version` is newer than what is known; `false` for a stale or
/// repeated event.
pub async fn apply_match_state(
    tx: &mut PgConnection,
    match_id: MatchId,
    task_id: TaskId,
    state: &str,
    version: u64,
) -> Result<bool, sqlx::Error> {
    let applied = sqlx::query!(
        "INSERT INTO task_matches (match_id, task_id, state, version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (match_id) DO UPDATE SET state = EXCLUDED.state, \
         version = EXCLUDED.version, updated_at = now() \
         WHERE task_matches.version < EXCLUDED.version",
        match_id.uuid(),
        task_id.uuid(),
        state,
        i64::try_from(version).unwrap_or(i64::MAX),
    )
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
    sqlx::query_as!(
        TaskRow,
        "UPDATE tasks SET offered_count = $2, accepted_count = $3, checked_in_count = $4, \
         status = $5, version = version + $6, \
         updated_at = CASE WHEN $6 = 1 THEN now() ELSE updated_at END WHERE task_id = $1 \
         RETURNING task_id, incident_id, organisation_id, title, description, meeting_latitude, \
         meeting_longitude, address, required_skill_ids, preferred_skill_ids, \
         required_languages, preferred_languages, min_age, \
         headcount, window_start, window_end, priority, max_distance_km, safety_notes, status, \
         cancellation_reason, version, offered_count, accepted_count, checked_in_count, \
         created_at, updated_at",
        task.id.uuid(),
        as_i32(staffing.offered),
        as_i32(staffing.accepted),
        as_i32(staffing.checked_in),
        status.as_str(),
        bump,
    )
    .fetch_one(tx)
    .await?
    .try_into()
}

/// Counts of a task's matches by their latest state.
pub async fn staffing(tx: &mut PgConnection, task_id: TaskId) -> Result<Staffing, sqlx::Error> {
    let task_id = task_id.uuid();
    let counts = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'offered') AS "offered!",
           count(*) FILTER (WHERE state IN ('accepted', 'checked_in', 'completed')) AS "accepted!",
           count(*) FILTER (WHERE state IN ('checked_in', 'completed')) AS "checked_in!"
           FROM task_matches WHERE task_id = $1"#,
        task_id,
    )
    .fetch_one(tx)
    .await?;
    let n = |value: i64, column: &str| u32::try_from(value).map_err(|_| corrupt(column));
    Ok(Staffing {
        offered: n(counts.offered, "offered")?,
        accepted: n(counts.accepted, "accepted")?,
        checked_in: n(counts.checked_in, "checked_in")?,
    })
}
