//! Messages from staff to volunteers ([`crate::messages`]): the message as sent, its recipients'
//! alerts in the alert queue, and their delivery counts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A message as stored, with its delivery counts.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: Uuid,
    pub organisation_id: String,
    pub incident_id: Uuid,
    pub task_id: Option<Uuid>,
    pub body: String,
    pub essential: bool,
    pub sender_subject: String,
    pub created_at: DateTime<Utc>,
    pub recipients: i64,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub opted_out: i64,
    pub skipped: i64,
}

/// What [`insert`] stores.
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub organisation_id: &'a str,
    pub incident_id: Uuid,
    pub task_id: Option<Uuid>,
    pub body: &'a str,
    pub essential: bool,
    pub sender_subject: &'a str,
    pub sender_role: &'a str,
}

/// Stores the message; `false` when its id is taken (by this message or another).
pub async fn insert(conn: &mut PgConnection, m: &NewMessage<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "INSERT INTO volunteer_messages (id, organisation_id, incident_id, task_id, body, \
         essential, sender_subject, sender_role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO NOTHING",
        m.id,
        m.organisation_id,
        m.incident_id,
        m.task_id,
        m.body,
        m.essential,
        m.sender_subject,
        m.sender_role,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Messages sent for the organisation to the incident since `since`.
pub async fn sent_since(
    conn: &mut PgConnection,
    organisation_id: &str,
    incident_id: Uuid,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "count!", min(created_at) AS oldest FROM volunteer_messages
        WHERE organisation_id = $1 AND incident_id = $2 AND created_at > $3"#,
        organisation_id,
        incident_id,
        since,
    )
    .fetch_one(conn)
    .await?;
    Ok((row.count, row.oldest))
}

/// Queues the message for every volunteer with an accepted or checked-in match of the task (or
/// of any task of the incident) of `organisation_id` (any, for `None`): one alert per
/// volunteer, `opted_out` instead of `pending` for those who opted out of a non-essential
/// message. Returns how many alerts are pending.
pub async fn queue_recipients(
    conn: &mut PgConnection,
    message: &NewMessage<'_>,
    organisation_filter: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "INSERT INTO alerts (volunteer_id, match_id, kind, task_title, message_id, body, status) \
         SELECT DISTINCT ON (m.volunteer_id) m.volunteer_id, m.match_id, 'message', \
         CASE WHEN $5::uuid IS NULL THEN '' ELSE COALESCE(m.task_title, '') END, $1, $2, \
         CASE WHEN NOT $3 AND v.messages_opt_out THEN 'opted_out' ELSE 'pending' END \
         FROM matches_seen m JOIN volunteers v ON v.id = m.volunteer_id \
         WHERE m.incident_id = $4 AND ($5::uuid IS NULL OR m.task_id = $5) \
         AND ($6::text IS NULL OR m.organisation_id = $6) AND m.state IN (3, 4) \
         AND v.status <> 'erased' \
         ORDER BY m.volunteer_id, m.starts_at \
         ON CONFLICT (message_id, volunteer_id) WHERE message_id IS NOT NULL DO NOTHING",
        message.id,
        message.body,
        message.essential,
        message.incident_id,
        message.task_id,
        organisation_filter,
    )
    .execute(&mut *conn)
    .await?;
    let pending = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM alerts WHERE message_id = $1 AND status = 'pending'"#,
        message.id,
    )
    .fetch_one(conn)
    .await?;
    let _ = done;
    Ok(u64::try_from(pending).unwrap_or(0))
}

/// Messages to the incident (to `task_id` only, if given) of `organisation_id` (any, for
/// `None`), newest first, with their delivery counts; or the one message `id`.
pub async fn list(
    pool: &PgPool,
    incident_id: Option<Uuid>,
    task_id: Option<Uuid>,
    organisation_id: Option<&str>,
    id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as!(
        MessageRow,
        r#"SELECT m.id, m.organisation_id, m.incident_id, m.task_id, m.body, m.essential,
        m.sender_subject, m.created_at,
        count(a.id) AS "recipients!",
        count(a.id) FILTER (WHERE a.status = 'pending') AS "pending!",
        count(a.id) FILTER (WHERE a.status = 'sent') AS "sent!",
        count(a.id) FILTER (WHERE a.status = 'failed') AS "failed!",
        count(a.id) FILTER (WHERE a.status = 'opted_out') AS "opted_out!",
        count(a.id) FILTER (WHERE a.status = 'skipped') AS "skipped!"
        FROM volunteer_messages m LEFT JOIN alerts a ON a.message_id = m.id
        WHERE ($1::uuid IS NULL OR m.incident_id = $1) AND ($2::uuid IS NULL OR m.task_id = $2)
        AND ($3::text IS NULL OR m.organisation_id = $3) AND ($4::uuid IS NULL OR m.id = $4)
        GROUP BY m.id ORDER BY m.created_at DESC, m.id LIMIT $5"#,
        incident_id,
        task_id,
        organisation_id,
        id,
        limit,
    )
    .fetch_all(pool)
    .await
}
