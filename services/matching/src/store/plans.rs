//! Optimisation plans (`optimization_plans`): what a dry run of `OptimizeIncident` would change,
//! kept until it is applied or expires (see [`crate::optimizer`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::engine::Explanation;

/// A new offer a plan makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedOffer {
    pub task_id: Uuid,
    pub volunteer_id: Uuid,
    pub explanation: Explanation,
}

/// An open offer a plan withdraws.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedWithdrawal {
    pub match_id: Uuid,
    pub task_id: Uuid,
}

/// A stored plan.
pub struct PlanRow {
    pub expires_at: DateTime<Utc>,
    pub offers: Json<Vec<PlannedOffer>>,
    pub withdrawals: Json<Vec<PlannedWithdrawal>>,
    /// The dry run's `OptimizeIncidentResponse`, encoded.
    pub planned: Vec<u8>,
    /// The `ApplyOptimizationPlanResponse`, encoded, once applied.
    pub applied: Option<Vec<u8>>,
}

/// What [`insert_plan`] stores.
pub struct NewPlan<'a> {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub created_by: &'a str,
    pub expires_at: DateTime<Utc>,
    pub offers: &'a [PlannedOffer],
    pub withdrawals: &'a [PlannedWithdrawal],
    pub planned: &'a [u8],
}

/// Stores a plan, and deletes plans that expired more than an hour ago.
pub async fn insert_plan(conn: &mut PgConnection, plan: NewPlan<'_>) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM optimization_plans WHERE expires_at < now() - interval '1 hour'")
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "INSERT INTO optimization_plans (id, incident_id, created_by, expires_at, offers, \
         withdrawals, planned) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        plan.id,
        plan.incident_id,
        plan.created_by,
        plan.expires_at,
        Json(plan.offers) as _,
        Json(plan.withdrawals) as _,
        plan.planned,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The plan `id` of the incident, locked for the rest of the transaction.
pub async fn lock_plan(
    conn: &mut PgConnection,
    id: Uuid,
    incident_id: Uuid,
) -> sqlx::Result<Option<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        r#"SELECT expires_at, offers AS "offers: Json<Vec<PlannedOffer>>",
        withdrawals AS "withdrawals: Json<Vec<PlannedWithdrawal>>", planned, applied
        FROM optimization_plans WHERE id = $1 AND incident_id = $2 FOR UPDATE"#,
        id,
        incident_id,
    )
    .fetch_optional(conn)
    .await
}

/// Records that the plan was applied, with the answer a retry gets.
pub async fn mark_plan_applied(
    conn: &mut PgConnection,
    id: Uuid,
    applied: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE optimization_plans SET applied_at = now(), applied = $2 WHERE id = $1",
        id,
        applied,
    )
    .execute(conn)
    .await?;
    Ok(())
}
