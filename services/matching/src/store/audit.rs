//! The staff audit trail of this service (`audit_log`): who checked a volunteer in or out,
//! completed a match or marked a no-show, or applied an optimisation.

use spontan_platform::auth::Principal;
use sqlx::PgConnection;
use uuid::Uuid;

/// What was done, to which incident and match.
#[derive(Debug, Clone)]
pub struct Audited<'a> {
    pub organisation_id: &'a str,
    pub incident_id: Uuid,
    pub action: &'static str,
    pub match_id: Option<Uuid>,
    pub details: serde_json::Value,
}

/// Writes one entry in the caller's transaction: it is there exactly when the change is.
pub async fn audit(
    conn: &mut PgConnection,
    actor: &Principal,
    entry: Audited<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO audit_log (actor_subject, actor_role, organisation_id, incident_id, \
         action, match_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        actor.subject,
        actor.role.name(),
        entry.organisation_id,
        entry.incident_id,
        entry.action,
        entry.match_id,
        entry.details,
    )
    .execute(conn)
    .await?;
    Ok(())
}
