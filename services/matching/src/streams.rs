//! The open `WatchMatchChanges` streams of this replica, and the bounds on them.
//!
//! - **One poller per incident.** Each watched incident has one task that reads its head (the
//!   latest change's sequence and whether it is closed) every 200 ms and shares it with every
//!   stream of the incident through a `watch` channel. A stream reads changes only when the
//!   head moved past its cursor, so a hundred idle dashboards on one incident cost one small
//!   query per turn, not a hundred. The poller stops when its last stream ends.
//! - **Admission.** At most `max_streams_per_subject` streams per caller (a dashboard that
//!   reconnects in a loop, a stolen token) and `max_streams` on the replica; more are refused
//!   with `ResourceExhausted`, and a dashboard falls back to polling.
//! - **Lifetime.** A stream ends when its token does (`Unauthenticated`: open it again with a
//!   fresh token), and after `max_stream_secs` at the latest (`Unavailable`: open it again
//!   from `next_after_sequence`), so that revoked access and rebalanced replicas take effect.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::IncidentStatus;
use crate::store;

/// How often an incident's head is read while streams watch it.
pub const HEAD_POLL: Duration = Duration::from_millis(200);

/// Bounds on `WatchMatchChanges` (`SPONTAN_MATCHING__STREAMS__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSettings {
    /// Open streams one caller (token subject) may hold on a replica.
    pub max_streams_per_subject: usize,
    /// Open streams on a replica, of all callers.
    pub max_streams: usize,
    /// The longest a stream stays open; the client then opens it again from its cursor.
    pub max_stream_secs: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_streams_per_subject: 8,
            max_streams: 2_000,
            max_stream_secs: 3_600,
        }
    }
}

impl StreamSettings {
    pub fn validate(&self, problems: &mut Vec<String>) {
        if self.max_streams_per_subject == 0 {
            problems.push("matching.streams.max_streams_per_subject must be at least 1".into());
        }
        if self.max_streams < self.max_streams_per_subject {
            problems.push(
                "matching.streams.max_streams must be at least max_streams_per_subject".into(),
            );
        }
        if self.max_stream_secs < 10 {
            problems.push("matching.streams.max_stream_secs must be at least 10".into());
        }
    }
}

/// An incident's head: what a stream compares its cursor with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub last_sequence: i64,
    pub closed: bool,
}

/// Why an open stream must end although its incident is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    TokenExpired,
    MaxAge,
}

/// The streams of this replica.
#[derive(Debug)]
pub struct Streams {
    settings: StreamSettings,
    pool: PgPool,
    shutdown: CancellationToken,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    per_subject: HashMap<String, usize>,
    heads: HashMap<Uuid, watch::Sender<Head>>,
}

/// A place among the open streams, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    streams: Arc<Streams>,
    subject: String,
    /// When the stream must end, and why.
    pub deadline: (tokio::time::Instant, Deadline),
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.streams.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(n) = state.per_subject.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                state.per_subject.remove(&self.subject);
            }
        }
        metrics::gauge!("matching_watch_streams").set(state.total as f64);
    }
}

impl Streams {
    pub fn new(settings: StreamSettings, pool: PgPool, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            settings,
            pool,
            shutdown,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more stream of `caller`, or `ResourceExhausted`.
    pub fn admit(self: &Arc<Self>, caller: &Principal) -> Result<Permit, ApiError> {
        let mut state = self.lock();
        let mine = state.per_subject.get(&caller.subject).copied().unwrap_or(0);
        if mine >= self.settings.max_streams_per_subject || state.total >= self.settings.max_streams
        {
            metrics::counter!("matching_watch_streams_refused_total").increment(1);
            return Err(ApiError::ResourceExhausted {
                retry_after: Duration::from_secs(30),
            });
        }
        state.total += 1;
        *state.per_subject.entry(caller.subject.clone()).or_default() += 1;
        metrics::gauge!("matching_watch_streams").set(state.total as f64);
        drop(state);
        Ok(Permit {
            streams: self.clone(),
            subject: caller.subject.clone(),
            deadline: deadline(caller.expires_at, self.settings.max_stream_secs),
        })
    }

    /// The head of `incident_id`, shared with the other streams of the incident; starts the
    /// incident's poller if none runs.
    pub fn head(self: &Arc<Self>, incident_id: Uuid, first: Head) -> watch::Receiver<Head> {
        let mut state = self.lock();
        if let Some(sender) = state.heads.get(&incident_id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(first);
        state.heads.insert(incident_id, sender.clone());
        drop(state);
        tokio::spawn(self.clone().poll(incident_id, sender));
        receiver
    }

    /// Reads the incident's head every [`HEAD_POLL`] while a stream watches it.
    async fn poll(self: Arc<Self>, incident_id: Uuid, sender: watch::Sender<Head>) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(HEAD_POLL) => {}
            }
            {
                // Stop once the last stream is gone; under the lock, so that a stream
                // subscribing now finds either this poller or none.
                let mut state = self.lock();
                if sender.receiver_count() == 0 {
                    state.heads.remove(&incident_id);
                    return;
                }
            }
            let read = async {
                let mut conn = self.pool.acquire().await?;
                store::incident(&mut conn, incident_id).await
            };
            match read.await {
                Ok(Some(incident)) => {
                    let head = Head {
                        last_sequence: incident.last_sequence,
                        closed: incident.status == IncidentStatus::Closed,
                    };
                    sender.send_if_modified(|current| {
                        let changed = *current != head;
                        *current = head;
                        changed
                    });
                }
                Ok(None) => {}
                // The streams keep their last head; the next turn tries again.
                Err(error) => {
                    tracing::warn!(%error, %incident_id, "reading the incident head failed")
                }
            }
        }
        self.lock().heads.remove(&incident_id);
    }

    /// Streams open now (for tests and metrics).
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Incidents with a running poller (for tests).
    pub fn pollers(&self) -> usize {
        self.lock().heads.len()
    }
}

/// The earlier of the token's end and the stream's maximum age.
fn deadline(expires_at: u64, max_secs: u64) -> (tokio::time::Instant, Deadline) {
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token_left = expires_at.saturating_sub(now_unix);
    let now = tokio::time::Instant::now();
    if token_left < max_secs {
        (
            now + Duration::from_secs(token_left),
            Deadline::TokenExpired,
        )
    } else {
        (now + Duration::from_secs(max_secs), Deadline::MaxAge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ends_with_its_token_or_at_its_maximum_age() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(deadline(now + 60, 3_600).1, Deadline::TokenExpired);
        assert_eq!(deadline(now + 7_200, 3_600).1, Deadline::MaxAge);
        // An expired token (within the verifier's leeway) ends the stream at once.
        let (at, why) = deadline(now.saturating_sub(10), 3_600);
        assert_eq!(why, Deadline::TokenExpired);
        assert!(at <= tokio::time::Instant::now());
    }
}
