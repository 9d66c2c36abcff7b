//! Idempotency keys of the create requests, and the audit trail.

use sqlx::PgConnection;
use uuid::Uuid;

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
    sqlx::query_scalar!(
        "SELECT resource_id FROM idempotency_keys WHERE creator = $1 AND idempotency_key = $2 \
         AND operation = $3 AND request_digest = sha256($4)",
        creator,
        key.to_string(),
        operation,
        request,
    )
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
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys \
         (organisation_id, creator, idempotency_key, operation, request_digest, resource_id) \
         VALUES ($1, $2, $3, $4, sha256($5), $6) ON CONFLICT DO NOTHING",
        organisation,
        creator,
        key.to_string(),
        operation,
        request,
        resource_id,
    )
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let earlier = sqlx::query!(
        r#"SELECT resource_id, operation = $4 AND request_digest = sha256($5) AS "same!"
         FROM idempotency_keys
         WHERE organisation_id = $1 AND creator = $2 AND idempotency_key = $3"#,
        organisation,
        creator,
        key.to_string(),
        operation,
        request,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(if earlier.same {
        Claim::Replay(earlier.resource_id)
    } else {
        Claim::Conflict
    })
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
    sqlx::query!(
        "INSERT INTO audit_log (actor_subject, actor_role, organisation_id, action, \
         entity_kind, entity_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        actor.subject,
        actor.role,
        organisation,
        action,
        entity.0,
        entity.1,
        details,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// One entry of the audit trail as stored.
#[derive(Debug)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_subject: String,
    pub actor_role: String,
    pub organisation_id: String,
    pub action: String,
    pub entity_kind: String,
    pub entity_id: Uuid,
    pub details: serde_json::Value,
}

/// The entries of an incident and its tasks after `after_id`, oldest first.
pub async fn audit_entries(
    conn: &mut PgConnection,
    incident: spontan_platform::ids::IncidentId,
    after_id: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as!(
        AuditRow,
        "SELECT id, occurred_at, actor_subject, actor_role, organisation_id, action, \
         entity_kind, entity_id, details FROM audit_log \
         WHERE id > $2 AND ((entity_kind = 'incident' AND entity_id = $1) \
         OR (entity_kind = 'task' AND entity_id IN \
         (SELECT task_id FROM tasks WHERE incident_id = $1))) \
         ORDER BY id LIMIT $3",
        incident.uuid(),
        after_id,
        limit,
    )
    .fetch_all(conn)
    .await
}
