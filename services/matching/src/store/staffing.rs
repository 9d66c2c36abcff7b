//! What a task holds (staffing counts) and what rules a candidate out beyond the engine's
//! checks: earlier matches, overlapping bookings, hours already held.

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{MatchState, Window};

/// Staffing counts of one task.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub proposed: i64,
    pub offered: i64,
    /// ACCEPTED, CHECKED_IN and COMPLETED.
    pub accepted: i64,
    /// CHECKED_IN and COMPLETED.
    pub checked_in: i64,
}

pub async fn task_counts(conn: &mut PgConnection, task_id: Uuid) -> sqlx::Result<Counts> {
    sqlx::query_as!(
        Counts,
        r#"SELECT count(*) FILTER (WHERE state = 'proposed') AS "proposed!",
        count(*) FILTER (WHERE state = 'offered') AS "offered!",
        count(*) FILTER (WHERE state IN ('accepted', 'checked_in', 'completed')) AS "accepted!",
        count(*) FILTER (WHERE state IN ('checked_in', 'completed')) AS "checked_in!"
        FROM matches WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(conn)
    .await
}

/// Volunteers who had a match for the task: nobody is offered the same task twice, except
/// after a withdrawal because the task was full (`TASK_STAFFED`), when a place opens again.
pub async fn volunteers_tried(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> sqlx::Result<HashSet<Uuid>> {
    let ids = sqlx::query_scalar!(
        "SELECT volunteer_id FROM matches WHERE task_id = $1 \
         AND NOT (state = 'cancelled' AND cancel_reason = 4)",
        task_id
    )
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Every (task, volunteer) pair of the incident that rules out a new offer (as
/// [`volunteers_tried`] for each task).
pub async fn tried_pairs(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<HashSet<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        "SELECT task_id, volunteer_id FROM matches WHERE incident_id = $1 \
         AND NOT (state = 'cancelled' AND cancel_reason = 4)",
        incident_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.task_id, r.volunteer_id))
        .collect())
}

/// Of `ids`, those holding an active match overlapping `window`.
pub async fn busy_volunteers(
    conn: &mut PgConnection,
    ids: &[Uuid],
    window: &Window,
) -> sqlx::Result<HashSet<Uuid>> {
    let busy = sqlx::query_scalar!(
        "SELECT DISTINCT volunteer_id FROM matches WHERE volunteer_id = ANY($1) \
         AND state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND slot && tstzrange($2, $3, '[)')",
        ids,
        window.start,
        window.end,
    )
    .fetch_all(conn)
    .await?;
    Ok(busy.into_iter().collect())
}

/// Every volunteer holding an active match overlapping `window`: what a task's matching
/// leaves out. Its cost follows the active matches, not the candidates (which may be tens of
/// thousands: an array of all their ids costs more than this read).
pub async fn busy_during(conn: &mut PgConnection, window: &Window) -> sqlx::Result<HashSet<Uuid>> {
    let busy = sqlx::query_scalar!(
        "SELECT DISTINCT volunteer_id FROM matches \
         WHERE state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND slot && tstzrange($1, $2, '[)')",
        window.start,
        window.end,
    )
    .fetch_all(conn)
    .await?;
    Ok(busy.into_iter().collect())
}

/// The windows `ids` are booked in, in any incident: accepted and checked-in matches, and open
/// offers outside incident `movable_in` (whose open offers an optimisation plan may move).
pub async fn busy_windows(
    conn: &mut PgConnection,
    ids: &[Uuid],
    movable_in: Uuid,
) -> sqlx::Result<HashMap<Uuid, Vec<Window>>> {
    let rows = sqlx::query!(
        r#"SELECT volunteer_id, lower(slot) AS "start!", upper(slot) AS "end!" FROM matches
        WHERE volunteer_id = ANY($1)
        AND (state IN ('accepted', 'checked_in')
            OR (state IN ('proposed', 'offered') AND incident_id <> $2))"#,
        ids,
        movable_in,
    )
    .fetch_all(conn)
    .await?;
    let mut busy: HashMap<Uuid, Vec<Window>> = HashMap::new();
    for r in rows {
        busy.entry(r.volunteer_id).or_default().push(Window {
            start: r.start,
            end: r.end,
        });
    }
    Ok(busy)
}

/// Staffing counts of every task of the incident that has matches.
pub async fn incident_counts(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<HashMap<Uuid, Counts>> {
    let rows = sqlx::query!(
        r#"SELECT task_id, count(*) FILTER (WHERE state = 'proposed') AS "proposed!",
        count(*) FILTER (WHERE state = 'offered') AS "offered!",
        count(*) FILTER (WHERE state IN ('accepted', 'checked_in', 'completed')) AS "accepted!",
        count(*) FILTER (WHERE state IN ('checked_in', 'completed')) AS "checked_in!"
        FROM matches WHERE incident_id = $1 GROUP BY task_id"#,
        incident_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let counts = Counts {
                proposed: r.proposed,
                offered: r.offered,
                accepted: r.accepted,
                checked_in: r.checked_in,
            };
            (r.task_id, counts)
        })
        .collect())
}

/// Hours every volunteer holds in the incident (accepted, checked in, completed); those
/// without any are absent.
pub async fn incident_hours(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> sqlx::Result<HashMap<Uuid, f64>> {
    let rows = sqlx::query!(
        r#"SELECT volunteer_id,
        sum(extract(epoch FROM upper(slot) - lower(slot)))::float8 / 3600.0 AS "hours!"
        FROM matches WHERE incident_id = $1
        AND state IN ('accepted', 'checked_in', 'completed') GROUP BY volunteer_id"#,
        incident_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.volunteer_id, r.hours))
        .collect())
}

/// Hours each of `ids` holds in the incident (accepted, checked in, completed).
pub async fn assigned_hours(
    conn: &mut PgConnection,
    incident_id: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, f64>> {
    let rows = sqlx::query!(
        r#"SELECT volunteer_id,
        sum(extract(epoch FROM upper(slot) - lower(slot)))::float8 / 3600.0 AS "hours!"
        FROM matches WHERE incident_id = $1 AND volunteer_id = ANY($2)
        AND state IN ('accepted', 'checked_in', 'completed') GROUP BY volunteer_id"#,
        incident_id,
        ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.volunteer_id, r.hours))
        .collect())
}

/// How many matches are in each state now, over every incident (states with none are absent).
pub async fn count_by_state(pool: &PgPool) -> sqlx::Result<Vec<(MatchState, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT state AS "state: MatchState", count(*) AS "count!" FROM matches
        GROUP BY state"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.state, r.count)).collect())
}
