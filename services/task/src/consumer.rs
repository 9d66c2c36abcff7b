//! Follows `spontan.match.v1` to keep each task's staffing: counts of offered, accepted and
//! checked-in volunteers, and the status they imply (`staffed` when enough accepted, back to
//! `open` when an acceptance is withdrawn, `in_progress` from the first check-in).
//!
//! Idempotent twice over: the event id is marked processed in the transaction that applies
//! it, and each match's state is stored with its aggregate version, so a redelivered or late
//! event never moves a match backwards. Counts are recomputed from the matches' states, never
//! incremented. No volunteer id is stored.

use anyhow::Context;
use async_trait::async_trait;
use serde_json::json;
use spontan_platform::ids::{MatchId, TaskId};
use spontan_platform::kafka::{ConsumedEvent, EventHandler, mark_processed};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{MatchSnapshot, MatchState};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::staffing_status;
use crate::events::Publisher;
use crate::store::{self, Actor};

/// Name of this consumer in `processed_events`, logs and metrics.
pub const CONSUMER: &str = "task-staffing";

/// Applies match events to the tasks' staffing.
#[derive(Debug, Clone)]
pub struct StaffingConsumer {
    pool: PgPool,
    events: Publisher,
}

impl StaffingConsumer {
    pub fn new(pool: PgPool, events: Publisher) -> Self {
        Self { pool, events }
    }
}

/// The match snapshot and the state an event moves the match to; `None` for other payloads.
fn match_change(payload: &Payload) -> Option<(&MatchSnapshot, MatchState)> {
    let (snapshot, state) = match payload {
        Payload::MatchProposed(e) => (e.snapshot.as_ref()?, MatchState::Proposed),
        Payload::MatchOffered(e) => (e.snapshot.as_ref()?, MatchState::Offered),
        Payload::MatchAccepted(e) => (e.snapshot.as_ref()?, MatchState::Accepted),
        Payload::MatchDeclined(e) => (e.snapshot.as_ref()?, MatchState::Declined),
        Payload::MatchExpired(e) => (e.snapshot.as_ref()?, MatchState::Expired),
        Payload::MatchCancelled(e) => (e.snapshot.as_ref()?, MatchState::Cancelled),
        Payload::MatchCheckedIn(e) => (e.snapshot.as_ref()?, MatchState::CheckedIn),
        Payload::MatchCompleted(e) => (e.snapshot.as_ref()?, MatchState::Completed),
        Payload::MatchNoShow(e) => (e.snapshot.as_ref()?, MatchState::NoShow),
        _ => return None,
    };
    Some((snapshot, state))
}

fn state_name(state: MatchState) -> &'static str {
    match state {
        MatchState::Unspecified => "unspecified",
        MatchState::Proposed => "proposed",
        MatchState::Offered => "offered",
        MatchState::Accepted => "accepted",
        MatchState::CheckedIn => "checked_in",
        MatchState::Completed => "completed",
        MatchState::Declined => "declined",
        MatchState::Expired => "expired",
        MatchState::Cancelled => "cancelled",
        MatchState::NoShow => "no_show",
    }
}

#[async_trait]
impl EventHandler for StaffingConsumer {
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()> {
        let Some(envelope) = &event.envelope else {
            return Ok(());
        };
        let Some((snapshot, state)) = envelope.payload.as_ref().and_then(match_change) else {
            return Ok(());
        };
        let (Ok(event_id), Ok(match_id), Ok(task_id)) = (
            Uuid::parse_str(&envelope.event_id),
            envelope.aggregate_id.parse::<MatchId>(),
            snapshot.task_id.parse::<TaskId>(),
        ) else {
            // Could never be applied; retrying would stop the partition.
            tracing::warn!(event_id = %envelope.event_id, "match event with malformed ids skipped");
            return Ok(());
        };

        let mut tx = self.pool.begin().await.context("begin")?;
        if !mark_processed(&mut tx, CONSUMER, event_id).await? {
            return Ok(());
        }
        let Some(task) = store::task(&mut tx, task_id, true).await? else {
            tracing::warn!(%task_id, "match event for an unknown task skipped");
            tx.commit().await?;
            return Ok(());
        };
        let applied = store::apply_match_state(
            &mut tx,
            match_id,
            task_id,
            state_name(state),
            envelope.aggregate_version,
        )
        .await?;
        if applied {
            let staffing = store::staffing(&mut tx, task_id).await?;
            let status = staffing_status(task.status, staffing, task.spec.headcount);
            let updated = store::restaff(&mut tx, &task, staffing, status).await?;
            if status != task.status {
                self.events
                    .task_updated(&mut tx, &updated, vec!["status".to_owned()])
                    .await?;
                store::audit(
                    &mut tx,
                    &Actor::system(),
                    &task.organisation_id,
                    "task.status_changed",
                    ("task", task_id.uuid()),
                    json!({ "from": task.status.as_str(), "to": status.as_str(),
                            "accepted_count": staffing.accepted,
                            "checked_in_count": staffing.checked_in }),
                )
                .await?;
                tracing::info!(%task_id, from = task.status.as_str(), to = status.as_str(), "task status follows staffing");
            }
        }
        tx.commit().await.context("commit")?;
        Ok(())
    }
}
