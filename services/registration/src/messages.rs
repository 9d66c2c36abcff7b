//! Messages from staff to volunteers (`SendVolunteerMessage`, `ListVolunteerMessages`): a
//! coordinator's short message to the volunteers of a task or an incident whose matches are
//! accepted or checked in, queued as one alert per volunteer and sent by the alert
//! dispatcher through each volunteer's channel ([`crate::alerts`]). Idempotent per message
//! id, rate-limited per organisation and incident, kept as the record of what was sent to
//! whom. Reminders before a task starts come from the dispatcher
//! ([`crate::alerts::dispatcher`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use spontan_platform::ApiError;
use spontan_platform::auth::{Principal, Role};
use spontan_platform::error::Violations;
use spontan_platform::events::timestamp;
use spontan_platform::text::TextRules;
use spontan_proto::v1 as pb;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::store::messages::{self, MessageRow, NewMessage};

/// The longest message, in characters.
pub const MAX_CHARS: usize = 500;

/// Sends and lists messages.
#[derive(Debug, Clone)]
pub struct Messages {
    pub pool: PgPool,
    /// `alerts.messages_per_hour`.
    pub per_hour: u32,
    /// Wakes the alert dispatcher when alerts were queued.
    pub wake: Arc<Notify>,
}

/// The organisation a caller sends for and whose matches they reach: their own for a
/// coordinator; every organisation for an admin (`None`).
pub(crate) fn scope(caller: &Principal) -> Result<Option<String>, ApiError> {
    match caller.role {
        Role::Admin => Ok(None),
        Role::Coordinator => {
            caller
                .organisation
                .clone()
                .map(Some)
                .ok_or(ApiError::PermissionDenied(
                    "the token names no organisation",
                ))
        }
        _ => Err(ApiError::PermissionDenied(
            "a coordinator token is required",
        )),
    }
}

/// The message text, trimmed and in NFC, or a violation (see [`spontan_platform::text`]):
/// 1 to [`MAX_CHARS`] characters, line breaks allowed.
fn text(v: &mut Violations, value: &str) -> String {
    let rules = TextRules {
        required: true,
        max: MAX_CHARS,
        multiline: true,
    };
    spontan_platform::text::clean(value, rules).unwrap_or_else(|problem| {
        v.add("text", problem.describe());
        String::new()
    })
}

impl Messages {
    pub async fn send(
        &self,
        caller: &Principal,
        r: &pb::SendVolunteerMessageRequest,
    ) -> Result<pb::VolunteerMessage, ApiError> {
        let organisation = scope(caller)?;
        let mut v = Violations::new();
        let id = v.id::<Uuid>("message_id", &r.message_id);
        let incident_id = v.id::<Uuid>("incident_id", &r.incident_id);
        let task_id = if r.task_id.trim().is_empty() {
            None
        } else {
            v.id::<Uuid>("task_id", &r.task_id)
        };
        let body = text(&mut v, &r.text);
        let (id, incident_id) = v.finish((id, incident_id))?;
        let (Some(id), Some(incident_id)) = (id, incident_id) else {
            return Err(ApiError::invalid("message_id", "is required"));
        };
        let message = NewMessage {
            id,
            organisation_id: organisation.as_deref().unwrap_or_default(),
            incident_id,
            task_id,
            body: &body,
            essential: r.essential,
            sender_subject: &caller.subject,
            sender_role: caller.role.name(),
        };
        if let Some(existing) = self.one(id).await? {
            return same_or_taken(existing, &message);
        }
        let mut tx = self.pool.begin().await.map_err(ApiError::from)?;
        // One sender per organisation and incident at a time, so the rate limit holds.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!(
                "messages:{}:{incident_id}",
                message.organisation_id
            ))
            .execute(&mut *tx)
            .await
            .map_err(ApiError::from)?;
        let hour = chrono::Duration::hours(1);
        let (sent, oldest) = messages::sent_since(
            &mut tx,
            message.organisation_id,
            incident_id,
            Utc::now() - hour,
        )
        .await
        .map_err(ApiError::from)?;
        if sent >= i64::from(self.per_hour) {
            let retry_after = oldest
                .map(|t| (t + hour - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(60));
            return Err(ApiError::ResourceExhausted {
                retry_after: retry_after.max(Duration::from_secs(1)),
            });
        }
        if !messages::insert(&mut tx, &message)
            .await
            .map_err(ApiError::from)?
        {
            // The same id sent at the same moment by a retry: its first copy answers.
            drop(tx);
            let existing = self
                .one(id)
                .await?
                .ok_or(ApiError::Aborted("the message is being sent, retry".into()))?;
            return same_or_taken(existing, &message);
        }
        let pending = messages::queue_recipients(&mut tx, &message, organisation.as_deref())
            .await
            .map_err(ApiError::from)?;
        tx.commit().await.map_err(ApiError::from)?;
        if pending > 0 {
            self.wake.notify_one();
        }
        tracing::info!(message_id = %id, %incident_id, pending, essential = r.essential, "message to volunteers queued");
        let row = self.one(id).await?.ok_or(ApiError::NotFound("message"))?;
        Ok(convert(row))
    }

    pub async fn list(
        &self,
        caller: &Principal,
        r: &pb::ListVolunteerMessagesRequest,
    ) -> Result<Vec<pb::VolunteerMessage>, ApiError> {
        let organisation = scope(caller)?;
        let mut v = Violations::new();
        let incident_id = v.id::<Uuid>("incident_id", &r.incident_id);
        let task_id = if r.task_id.trim().is_empty() {
            None
        } else {
            v.id::<Uuid>("task_id", &r.task_id)
        };
        if r.limit > 200 {
            v.add("limit", "at most 200");
        }
        let incident_id = v.finish(incident_id)?;
        let limit = if r.limit == 0 { 50 } else { i64::from(r.limit) };
        let rows = messages::list(
            &self.pool,
            incident_id,
            task_id,
            organisation.as_deref(),
            None,
            limit,
        )
        .await
        .map_err(ApiError::from)?;
        Ok(rows.into_iter().map(convert).collect())
    }

    async fn one(&self, id: Uuid) -> Result<Option<MessageRow>, ApiError> {
        Ok(messages::list(&self.pool, None, None, None, Some(id), 1)
            .await
            .map_err(ApiError::from)?
            .pop())
    }
}

/// A repeated send answers with the message sent first, if it is the same message.
fn same_or_taken(
    existing: MessageRow,
    message: &NewMessage<'_>,
) -> Result<pb::VolunteerMessage, ApiError> {
    let same = existing.organisation_id == message.organisation_id
        && existing.incident_id == message.incident_id
        && existing.task_id == message.task_id
        && existing.body == message.body
        && existing.essential == message.essential;
    if same {
        Ok(convert(existing))
    } else {
        Err(ApiError::AlreadyExists(
            "message_id names another message".into(),
        ))
    }
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn convert(m: MessageRow) -> pb::VolunteerMessage {
    pb::VolunteerMessage {
        message_id: m.id.to_string(),
        incident_id: m.incident_id.to_string(),
        task_id: m.task_id.map(|t| t.to_string()).unwrap_or_default(),
        organisation_id: m.organisation_id,
        text: m.body,
        essential: m.essential,
        sender_subject: m.sender_subject,
        sent_at: Some(timestamp(m.created_at)),
        delivery: Some(pb::MessageDelivery {
            recipients: count(m.recipients),
            pending: count(m.pending),
            sent: count(m.sent),
            failed: count(m.failed),
            opted_out: count(m.opted_out),
            skipped: count(m.skipped),
        }),
    }
}
