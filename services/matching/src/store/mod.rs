//! Every SQL statement of the matching service, checked against the schema at compile time
//! (`sqlx::query!` and its kin; the offline data of each statement is committed in
//! `services/matching/.sqlx/`, rewritten by `deploy/local/sqlx.sh prepare`).
//!
//! Layout: `volunteers.rs` (the volunteer read model and how far into the topic it goes),
//! `tasks.rs` (incidents and tasks as consumed), `matches.rs` (matches and their transitions),
//! `plans.rs` (optimisation plans until applied), `staffing.rs` (what a task holds and what rules a candidate out), `changes.rs` (the
//! per-incident change log and what dashboards read), `states.rs` (states and statuses as
//! text). Every match transition goes through
//! `events::record`, which writes the change-log row and the outbox event in the caller's
//! transaction.

use sqlx::{PgPool, Postgres, Transaction};

/// `sqlx::query_as!` of [`MatchRow`]s: `$with SELECT <every column of MatchRow> FROM $source m
/// JOIN tasks t ON t.id = m.task_id $rest`, where `$with` is empty or a `WITH m AS (...)` that
/// `$source` names. One column list for every query of match rows; the macro only joins string
/// literals, so each statement is still checked whole. Every column says its nullability (`!`,
/// `?`): inference cannot see through the `WITH m AS (... RETURNING *)` of a write.
macro_rules! match_rows {
    ($with:literal, $source:literal, $rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $crate::store::MatchRow,
            $with
                + r#" SELECT m.id AS "id!", m.task_id AS "task_id!",
                m.incident_id AS "incident_id!",
                m.volunteer_id AS "volunteer_id!", m.volunteer_ref AS "volunteer_ref!",
                m.state AS "state!: crate::domain::MatchState", lower(m.slot) AS "starts_at!", upper(m.slot) AS "ends_at!",
                m.explanation AS "explanation!: sqlx::types::Json<crate::engine::Explanation>",
                m.decline_reason AS "decline_reason!", m.cancel_reason AS "cancel_reason!",
                m.offered_at AS "offered_at?", m.expires_at AS "expires_at?",
                m.created_at AS "created_at!", m.updated_at AS "updated_at!",
                m.version AS "version!", m.checked_in_at AS "checked_in_at?",
                m.checked_out_at AS "checked_out_at?", m.check_in_failures AS "check_in_failures!",
                t.organisation_id AS "organisation_id!", t.title AS "title!",
                t.address AS "address!"
                FROM "#
                + $source
                + " m JOIN tasks t ON t.id = m.task_id "
                + $rest
            $(, $arg)*
        )
    };
}

/// `sqlx::query_as!` of `TaskRow`s: `SELECT <every column of TaskRow> FROM tasks $rest`, one
/// column list for every query of tasks (see [`match_rows!`]).
macro_rules! task_rows {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            TaskRow,
            r#"SELECT id, incident_id, organisation_id, title, address, required_skills,
            preferred_skills, min_age, headcount, starts_at, ends_at, priority, latitude,
            longitude, max_distance_km, status AS "status: crate::domain::TaskStatus", version,
            required_languages, preferred_languages
            FROM tasks "#
                + $rest
            $(, $arg)*
        )
    };
}

mod audit;
mod changes;
mod matches;
mod plans;
mod staffing;
mod states;
mod tasks;
mod volunteers;

pub use audit::*;
pub use changes::*;
pub use matches::*;
pub use plans::*;
pub use staffing::*;
pub use tasks::*;
pub use volunteers::*;

/// Begins a read-only transaction whose statements all see one snapshot (repeatable read):
/// what is read together is consistent, whatever commits meanwhile.
pub async fn begin_snapshot(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
