//! Matching's own metrics: matches by state, how long volunteers take to answer an offer,
//! and stored volunteer offsets that belonged to another log.
//!
//! Matches by state (`matching_matches`) is counted from the database every
//! [`STATE_INTERVAL`], not kept in memory from transitions: it is right after a restart, and
//! every replica reports the same numbers (dashboards take the `max`, never the `sum`).
//! The answer time (`matching_offer_answer_seconds`, buckets in `spontan_platform::telemetry`)
//! is observed by [`crate::lifecycle::respond`] once the answer has committed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::MatchState;

/// How often matches are counted by state.
pub const STATE_INTERVAL: Duration = Duration::from_secs(5);

/// Counts matches by state every [`STATE_INTERVAL`] until `shutdown`.
pub async fn report_states(pool: PgPool, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(STATE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        match crate::store::count_by_state(&pool).await {
            Ok(counts) => {
                // Every state, so that a state with no match reads 0 instead of disappearing.
                for state in MatchState::ALL {
                    let count = counts
                        .iter()
                        .find(|(s, _)| *s == state)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("matching_matches", "state" => state.as_str())
                        .set(count as f64);
                }
            }
            Err(error) => tracing::warn!(%error, "counting matches by state failed"),
        }
    }
}

/// A volunteer answered an offer made at `offered_at`: `accepted` or `declined`.
pub fn offer_answered(offered_at: DateTime<Utc>, answer: &'static str) {
    let seconds = (Utc::now() - offered_at).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::histogram!("matching_offer_answer_seconds", "answer" => answer).record(seconds);
}

/// A stored offset of `topic` did not hold ([`crate::consumer::VolunteerLog`]): `reason` is
/// `cluster`, `log_end` or `record` (another log: the partition is read again from its
/// beginning) or `expired` (records deleted by retention before they were read).
pub fn foreign_offsets(topic: &str, reason: &'static str) {
    metrics::counter!("matching_foreign_offsets_total", "topic" => topic.to_owned(), "reason" => reason)
        .increment(1);
}
