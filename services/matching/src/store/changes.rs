//! The per-incident change log (written with every match transition) and what dashboards read:
//! pages of the log and the incident's coverage by priority. No personal data: volunteers
//! appear as `volunteer_ref`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::MatchRow;
use crate::domain::{IncidentStatus, MatchState};
use crate::engine::Explanation;

/// Next sequence of the incident's change log. The row lock it takes is held until commit,
/// so changes of one incident commit in sequence order and a poller never skips one.
pub async fn next_sequence(conn: &mut PgConnection, incident_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "UPDATE incidents SET last_sequence = last_sequence + 1 WHERE id = $1 \
         RETURNING last_sequence",
        incident_id
    )
    .fetch_one(conn)
    .await
}

pub async fn insert_change(
    conn: &mut PgConnection,
    sequence: i64,
    m: &MatchRow,
    previous: Option<MatchState>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO match_changes (incident_id, sequence, match_id, task_id, volunteer_ref, \
         state, previous_state, changed_at, explanation) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        m.incident_id,
        sequence,
        m.id,
        m.task_id,
        m.volunteer_ref,
        m.state.as_str(),
        previous.map(MatchState::as_str),
        m.updated_at,
        &m.explanation as _,
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug)]
pub struct ChangeRow {
    pub sequence: i64,
    pub match_id: Uuid,
    pub task_id: Uuid,
    pub incident_id: Uuid,
    pub volunteer_ref: String,
    pub state: MatchState,
    pub previous_state: Option<MatchState>,
    pub changed_at: DateTime<Utc>,
    pub explanation: Json<Explanation>,
}

/// One read of an incident's change log: who owns the incident, its head and state, and the
/// changes after a cursor, all from one statement and so from one snapshot.
pub struct Page {
    pub organisation_id: String,
    pub shared_with: Vec<String>,
    pub closed: bool,
    pub last_sequence: i64,
    pub changes: Vec<ChangeRow>,
}

/// Up to `limit` changes after `after`, with the incident they belong to; `None` when there is
/// no such incident.
///
/// A poll is the dashboards' most frequent call, and most polls find nothing new, so it is one
/// statement: the incident by its primary key, joined to the changes from the primary key
/// (incident_id, sequence) of `match_changes`; nothing new reads one index entry of each. It
/// always asks PostgreSQL, never memory: another replica may have written the change.
pub async fn change_page(
    pool: &PgPool,
    incident_id: Uuid,
    after: i64,
    limit: i64,
) -> sqlx::Result<Option<Page>> {
    // A row per change, or one row of NULL changes when none is new.
    let rows = sqlx::query!(
        r#"SELECT i.organisation_id AS "organisation_id!", i.shared_with AS "shared_with!",
        i.status AS "status!: IncidentStatus",
        i.last_sequence AS "last_sequence!", c.sequence AS "sequence?",
        c.match_id AS "match_id?", c.task_id AS "task_id?", c.volunteer_ref AS "volunteer_ref?",
        c.state AS "state?: MatchState", c.previous_state AS "previous_state?: MatchState",
        c.changed_at AS "changed_at?", c.explanation AS "explanation?: Json<Explanation>"
        FROM incidents i LEFT JOIN LATERAL (
          SELECT sequence, match_id, task_id, volunteer_ref, state, previous_state,
            changed_at, explanation FROM match_changes
          WHERE incident_id = i.id AND sequence > $2 ORDER BY sequence LIMIT $3) c ON true
        WHERE i.id = $1"#,
        incident_id,
        after,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut page = Page {
        organisation_id: first.organisation_id.clone(),
        shared_with: first.shared_with.clone(),
        closed: first.status == IncidentStatus::Closed,
        last_sequence: first.last_sequence,
        changes: Vec::with_capacity(rows.len()),
    };
    // Only the row of an incident without new changes lacks them: the columns are NOT NULL.
    page.changes.extend(rows.into_iter().filter_map(|r| {
        Some(ChangeRow {
            sequence: r.sequence?,
            match_id: r.match_id?,
            task_id: r.task_id?,
            incident_id,
            volunteer_ref: r.volunteer_ref?,
            state: r.state?,
            previous_state: r.previous_state,
            changed_at: r.changed_at?,
            explanation: r.explanation?,
        })
    }));
    // The join keeps the lateral order in practice; SQL does not promise it, so make sure
    // (already sorted input costs one pass).
    page.changes.sort_by_key(|c| c.sequence);
    Ok(Some(page))
}

/// Staffing of an incident's tasks of one priority (tasks that are open, staffed or under
/// way).
pub struct CoverageRow {
    pub priority: i16,
    pub task_count: i64,
    pub staffed_task_count: i64,
    pub needed: i64,
    pub offered: i64,
    /// Accepted, checked in or completed, at most the headcount of each task.
    pub accepted: i64,
    pub checked_in: i64,
}

/// The incident's coverage by priority, most urgent first.
pub async fn coverage(pool: &PgPool, incident_id: Uuid) -> sqlx::Result<Vec<CoverageRow>> {
    sqlx::query_as!(
        CoverageRow,
        r#"WITH per_task AS (
          SELECT t.id, t.priority, t.headcount,
            count(m.*) FILTER (WHERE m.state = 'offered') AS offered,
            count(m.*) FILTER (WHERE m.state IN ('accepted', 'checked_in', 'completed'))
              AS accepted,
            count(m.*) FILTER (WHERE m.state IN ('checked_in', 'completed')) AS checked_in
          FROM tasks t LEFT JOIN matches m ON m.task_id = t.id
          WHERE t.incident_id = $1 AND t.status IN ('open', 'staffed', 'in_progress')
          GROUP BY t.id)
        SELECT priority AS "priority!", count(*) AS "task_count!",
          count(*) FILTER (WHERE accepted >= headcount) AS "staffed_task_count!",
          sum(headcount)::int8 AS "needed!", sum(offered)::int8 AS "offered!",
          sum(LEAST(accepted, headcount))::int8 AS "accepted!",
          sum(checked_in)::int8 AS "checked_in!"
        FROM per_task GROUP BY priority
        ORDER BY CASE WHEN priority = 0 THEN 99 ELSE priority END"#,
        incident_id
    )
    .fetch_all(pool)
    .await
}
