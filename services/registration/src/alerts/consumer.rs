//! The match-topic consumer: remembers the matches of our volunteers (for
//! GetVolunteerContact and the export) and queues alerts for offers and withdrawn offers.
//! It only writes rows; sending is the dispatcher's job, so a slow gateway never stalls it.

use std::sync::Arc;

use async_trait::async_trait;
use spontan_platform::events::from_timestamp;
use spontan_platform::kafka::{ConsumedEvent, EventHandler, mark_processed};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{MatchSnapshot, MatchState};
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use super::AlertKind;
use crate::store;
use crate::store::matches::Heard;

/// Name under which this consumer records processed events.
pub const CONSUMER: &str = "registration-match-alerts";

pub struct MatchAlerts {
    pub pool: PgPool,
    /// Wakes the dispatcher when an alert was queued.
    pub wake: Arc<Notify>,
}

/// What one match event means here.
struct Seen<'a> {
    snapshot: &'a MatchSnapshot,
    alert: Option<(AlertKind, String, Option<chrono::DateTime<chrono::Utc>>)>,
}

fn interpret(payload: &Payload) -> Option<Seen<'_>> {
    let (snapshot, alert) = match payload {
        Payload::MatchOffered(o) => (
            o.snapshot.as_ref()?,
            Some((
                AlertKind::Offer,
                o.task_title.clone(),
                o.expires_at.as_ref().and_then(from_timestamp),
            )),
        ),
        Payload::MatchCancelled(c) => {
            let snapshot = c.snapshot.as_ref()?;
            let told = [MatchState::Offered as i32, MatchState::Accepted as i32]
                .contains(&snapshot.previous_state);
            (
                snapshot,
                told.then(|| (AlertKind::Withdrawn, String::new(), None)),
            )
        }
        Payload::MatchProposed(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchAccepted(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchDeclined(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchExpired(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchCheckedIn(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchCompleted(m) => (m.snapshot.as_ref()?, None),
        Payload::MatchNoShow(m) => (m.snapshot.as_ref()?, None),
        _ => return None,
    };
    Some(Seen { snapshot, alert })
}

#[async_trait]
impl EventHandler for MatchAlerts {
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()> {
        let Some(envelope) = &event.envelope else {
            return Ok(());
        };
        let Some(seen) = envelope.payload.as_ref().and_then(interpret) else {
            return Ok(());
        };
        let s = seen.snapshot;
        let (Ok(event_id), Ok(match_id), Ok(volunteer_id), Ok(task_id)) = (
            Uuid::parse_str(&envelope.event_id),
            Uuid::parse_str(&s.match_id),
            Uuid::parse_str(&s.volunteer_id),
            Uuid::parse_str(&s.task_id),
        ) else {
            tracing::warn!(
                event_id = envelope.event_id,
                "match event with malformed ids skipped"
            );
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        if !mark_processed(&mut tx, CONSUMER, event_id).await? {
            return Ok(());
        }
        if !store::volunteers::is_live(&mut tx, volunteer_id).await? {
            // Unknown here or erased: nothing to remember, nobody to alert.
            tx.commit().await?;
            return Ok(());
        }
        let version = i64::try_from(envelope.aggregate_version).unwrap_or(i64::MAX);
        // When the match changed at matching, not when we heard: retention counts a
        // volunteer's inactivity from their last match event (crate::retention).
        let occurred_at = envelope
            .occurred_at
            .as_ref()
            .and_then(from_timestamp)
            .unwrap_or_else(chrono::Utc::now);
        let title = seen
            .alert
            .as_ref()
            .filter(|(kind, ..)| *kind == AlertKind::Offer)
            .map(|(_, title, _)| title.as_str());
        let address = match envelope.payload.as_ref() {
            Some(Payload::MatchOffered(o)) => Some(o.task_address.as_str()),
            _ => None,
        };
        let starts_at = s
            .window
            .as_ref()
            .and_then(|w| w.start_time.as_ref())
            .and_then(from_timestamp);
        store::matches::record(
            &mut tx,
            Heard {
                match_id,
                volunteer_id,
                task_id,
                incident_id: Uuid::parse_str(&s.incident_id).ok(),
                organisation_id: &s.organisation_id,
                state: i16::try_from(s.state).unwrap_or_default(),
                version,
                occurred_at,
                starts_at,
                task_title: title,
                task_address: address,
                checked_in_at: s.checked_in_at.as_ref().and_then(from_timestamp),
                checked_out_at: s.checked_out_at.as_ref().and_then(from_timestamp),
                hours_on_site: s.hours_on_site,
            },
        )
        .await?;
        let mut queued = false;
        if let Some((kind, title, expires_at)) = seen.alert {
            let title = if title.is_empty() {
                // A withdrawal names the task the offer named.
                store::alerts::offer_title(&mut tx, match_id)
                    .await?
                    .unwrap_or_default()
            } else {
                title
            };
            queued = store::alerts::queue(
                &mut tx,
                volunteer_id,
                match_id,
                kind.as_str(),
                &title,
                expires_at,
            )
            .await?;
        }
        tx.commit().await?;
        if queued {
            tracing::info!(match_id = %match_id, volunteer_id = %volunteer_id, "alert queued");
            self.wake.notify_one();
        }
        Ok(())
    }
}
