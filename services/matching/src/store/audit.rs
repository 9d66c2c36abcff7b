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

/// One entry as read back.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_subject: String,
    pub actor_role: String,
    pub organisation_id: String,
    pub action: String,
    pub match_id: Option<Uuid>,
    pub details: serde_json::Value,
}

/// At most `limit` entries of the incident's trail after `after_id`, oldest first.
pub async fn audit_entries(
    conn: &mut PgConnection,
    incident_id: Uuid,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as!(
        AuditRow,
        "SELECT id, occurred_at, actor_subject, actor_role, organisation_id, action, match_id, \
         details FROM audit_log WHERE incident_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        incident_id,
        after_id,
        limit,
    )
    .fetch_all(conn)
    .await
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
