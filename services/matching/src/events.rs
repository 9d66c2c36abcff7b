//! Match events on `spontan.match.v1`, keyed by task id, and [`record`], which every
//! transition calls inside its transaction: change-log row and outbox event commit with it.

use spontan_platform::outbox::{self, OutboxMessage};
use spontan_proto::v1 as pb;
use spontan_proto::v1::event_envelope::Payload;
use sqlx::PgConnection;

use crate::convert;
use crate::domain::MatchState;
use crate::store::{self, MatchRow};

/// `ce_source` of this service's events.
pub const SOURCE: &str = "/spontan/matching";

/// The event of the transition that left `m` in its current state.
pub fn envelope(m: &MatchRow, previous: Option<MatchState>, sequence: i64) -> pb::EventEnvelope {
    let state = m.state;
    let snapshot = Some(pb::MatchSnapshot {
        match_id: m.id.to_string(),
        task_id: m.task_id.to_string(),
        incident_id: m.incident_id.to_string(),
        organisation_id: m.organisation_id.clone(),
        volunteer_id: m.volunteer_id.to_string(),
        state: state.to_proto(),
        previous_state: previous.map_or(0, MatchState::to_proto),
        window: Some(convert::time_window(&m.window())),
        explanation: Some(convert::explanation(&m.explanation.0)),
        sequence: u64::try_from(sequence).unwrap_or(0),
        checked_in_at: m.checked_in_at.map(convert::ts),
        checked_out_at: m.checked_out_at.map(convert::ts),
        hours_on_site: m.hours_on_site(),
    });
    let payload = match state {
        MatchState::Proposed => Payload::MatchProposed(pb::MatchProposed { snapshot }),
        MatchState::Offered => Payload::MatchOffered(pb::MatchOffered {
            snapshot,
            expires_at: m.expires_at.map(convert::ts),
            task_title: m.title.clone(),
            task_address: m.address.clone(),
        }),
        MatchState::Accepted => Payload::MatchAccepted(pb::MatchAccepted { snapshot }),
        MatchState::Declined => Payload::MatchDeclined(pb::MatchDeclined {
            snapshot,
            reason: i32::from(m.decline_reason),
        }),
        MatchState::Expired => Payload::MatchExpired(pb::MatchExpired { snapshot }),
        MatchState::Cancelled => Payload::MatchCancelled(pb::MatchCancelled {
            snapshot,
            reason: i32::from(m.cancel_reason),
        }),
        MatchState::CheckedIn => Payload::MatchCheckedIn(pb::MatchCheckedIn { snapshot }),
        MatchState::Completed => Payload::MatchCompleted(pb::MatchCompleted { snapshot }),
        MatchState::NoShow => Payload::MatchNoShow(pb::MatchNoShow { snapshot }),
    };
    spontan_platform::events::envelope(
        m.id.to_string(),
        u64::try_from(m.version).unwrap_or(0),
        payload,
    )
}

/// Writes the change-log row and the event of `m`'s latest transition; returns its sequence.
pub async fn record(
    conn: &mut PgConnection,
    topic: &str,
    m: &MatchRow,
    previous: Option<MatchState>,
) -> sqlx::Result<i64> {
    let sequence = store::next_sequence(conn, m.incident_id).await?;
    store::insert_change(conn, sequence, m, previous).await?;
    let event = envelope(m, previous, sequence);
    outbox::enqueue(
        conn,
        &[OutboxMessage::event(topic, SOURCE, &event).with_key(m.task_id.to_string())],
    )
    .await?;
    Ok(sequence)
}

/// Moves `m` to `to` and records it; returns the match after the change.
pub async fn transition(
    conn: &mut PgConnection,
    topic: &str,
    m: &MatchRow,
    to: MatchState,
    decline_reason: i32,
    cancel_reason: i32,
) -> sqlx::Result<MatchRow> {
    let after = store::set_state(conn, m.id, to, decline_reason, cancel_reason).await?;
    record(conn, topic, &after, Some(m.state)).await?;
    tracing::info!(match_id = %m.id, task_id = %m.task_id, from = m.state.as_str(), to = to.as_str(), "match transition");
    Ok(after)
}
