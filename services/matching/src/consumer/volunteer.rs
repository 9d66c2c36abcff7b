//! The volunteer topic (a part of [`crate::consumer`]): batches of volunteer records applied
//! to the read model and this replica's index.

use async_trait::async_trait;
use std::collections::BTreeMap;

use spontan_platform::kafka::log_identity::RecordIdentity;
use spontan_platform::kafka::{BatchHandler, ConsumedEvent};
use spontan_proto::v1::MatchCancelReason;
use spontan_proto::v1::event_envelope::Payload;
use tracing::Instrument;
use uuid::Uuid;

use super::{HOLDING, OPEN};
use crate::convert;
use crate::domain::{MatchState, Volunteer, VolunteerStatus};
use crate::engine;
use crate::matcher::Matcher;
use crate::store::{self, MatchOwner, VolunteerApplied};

/// Applies volunteer events to the database and this replica's index.
pub struct VolunteerConsumer {
    pub matcher: Matcher,
    /// The cluster the records come from (`CheckedStart::cluster_id`), stored with each
    /// offset so that a later start can tell whether the broker is still that cluster.
    pub cluster_id: Option<String>,
}

/// What one volunteer record asks of the read model.
enum Change {
    Apply(Volunteer),
    Erase(Uuid),
    Skip,
}

impl Change {
    fn of(event: &ConsumedEvent) -> Self {
        if event.is_tombstone() {
            return match event.key.as_deref().and_then(|k| k.parse().ok()) {
                Some(id) => Self::Erase(id),
                None => Self::Skip,
            };
        }
        let Some(envelope) = &event.envelope else {
            return Self::Skip;
        };
        let volunteer = match &envelope.payload {
            Some(Payload::VolunteerRegistered(e)) => e.volunteer.as_ref(),
            Some(Payload::VolunteerUpdated(e)) => e.volunteer.as_ref(),
            Some(Payload::VolunteerPaused(e)) => e.volunteer.as_ref(),
            Some(Payload::VolunteerResumed(e)) => e.volunteer.as_ref(),
            Some(Payload::VolunteerErased(e)) => {
                return e.volunteer_id.parse().map_or(Self::Skip, Self::Erase);
            }
            _ => None,
        };
        match volunteer.and_then(|v| convert::volunteer(v, envelope.aggregate_version)) {
            Some(v) => Self::Apply(v),
            None => {
                tracing::warn!(
                    parent: &event.span,
                    event_id = envelope.event_id,
                    "volunteer event without a usable volunteer, skipped"
                );
                Self::Skip
            }
        }
    }

    fn volunteer_id(&self) -> Uuid {
        match self {
            Self::Apply(v) => v.id,
            Self::Erase(id) => *id,
            Self::Skip => Uuid::nil(),
        }
    }
}

/// What the transaction did for one volunteer, finished after the commit.
enum Done {
    /// Their newest record applied: the index takes it and offers follow.
    Applied {
        volunteer: Volunteer,
        touched: Vec<Uuid>,
    },
    /// Only records already applied (by another replica, or a replay): the index takes
    /// the database's state.
    Stale {
        id: Uuid,
    },
    Erased {
        id: Uuid,
        touched: Vec<Uuid>,
    },
}

impl Done {
    /// This outcome followed by `later`, a later record of the same volunteer in the batch:
    /// only the last state counts for the index and for offers (an offer made for a state the
    /// batch has already replaced would escape that state's cancellations), while every task
    /// any of the records touched is re-matched.
    fn then(self, later: Self) -> Self {
        match later {
            Self::Stale { .. } => self,
            Self::Applied {
                volunteer,
                mut touched,
            } => {
                touched.extend(self.into_touched());
                Self::Applied { volunteer, touched }
            }
            Self::Erased { id, mut touched } => {
                touched.extend(self.into_touched());
                Self::Erased { id, touched }
            }
        }
    }

    fn into_touched(self) -> Vec<Uuid> {
        match self {
            Self::Applied { touched, .. } | Self::Erased { touched, .. } => touched,
            Self::Stale { .. } => Vec::new(),
        }
    }
}

#[async_trait]
impl BatchHandler for VolunteerConsumer {
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> anyhow::Result<()> {
        // Rows are locked in volunteer order, the same on every replica whatever batches it
        // got, so that replicas applying the same records never deadlock; one volunteer's
        // records stay in arrival order (they share a partition).
        let mut changes: Vec<(usize, Change)> = events
            .iter()
            .enumerate()
            .map(|(i, event)| (i, Change::of(event)))
            .collect();
        changes.sort_by_key(|(i, change)| (change.volunteer_id(), *i));
        let mut tx = self.matcher.pool.begin().await?;
        // One outcome per volunteer, at the arrival index of their last record.
        let mut done: Vec<(usize, Uuid, Done)> = Vec::with_capacity(changes.len());
        for (i, change) in changes {
            let id = change.volunteer_id();
            let span = events[i].span.clone();
            let outcome = match change {
                Change::Apply(v) => self.apply(&mut tx, v).instrument(span).await?,
                Change::Erase(id) => self.erase(&mut tx, id).instrument(span).await?,
                Change::Skip => continue,
            };
            match done.last_mut() {
                Some((last, same, earlier)) if *same == id => {
                    let before = std::mem::replace(earlier, Done::Stale { id });
                    *earlier = before.then(outcome);
                    *last = i;
                }
                _ => done.push((i, id, outcome)),
            }
        }
        // The read model now reflects every record of the batch (skipped and stale ones
        // included): a restart resumes after them, once it has checked that the last of them
        // is still in the broker's log (another log when the broker was rebuilt).
        let mut last: BTreeMap<(&str, i32), &ConsumedEvent> = BTreeMap::new();
        for event in events {
            let newest = last
                .entry((event.topic.as_str(), event.partition))
                .or_insert(event);
            if event.offset > newest.offset {
                *newest = event;
            }
        }
        for ((topic, partition), event) in last {
            let record = RecordIdentity::of_event(event);
            let cluster = self.cluster_id.as_deref();
            store::record_volunteer_offset(
                &mut tx,
                topic,
                partition,
                event.offset,
                cluster,
                &record,
            )
            .await?;
        }
        tx.commit().await?;
        done.sort_by_key(|(i, _, _)| *i);
        // Every volunteer is finished even if one fails: a retry finds the batch applied and
        // only refreshes the index, so what one failure would skip for the rest of the batch
        // would be left to the sweep.
        let mut first_error = None;
        for (i, _, outcome) in done {
            if let Err(error) = self
                .finish(outcome)
                .instrument(events[i].span.clone())
                .await
            {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl VolunteerConsumer {
    /// Stores one volunteer record inside the batch's transaction, with what it changes about
    /// the matches the volunteer holds.
    async fn apply(&self, tx: &mut sqlx::PgConnection, v: Volunteer) -> anyhow::Result<Done> {
        let m = &self.matcher;
        // A volunteer seen for the first time holds no matches, so only a changed one is
        // checked against what it holds (most events of a surge are first registrations).
        let stored = store::apply_volunteer(tx, &v).await?;
        let applied = stored != VolunteerApplied::Stale;
        let mut touched = Vec::new();
        if stored == VolunteerApplied::Updated {
            if v.status == VolunteerStatus::Active {
                // Still fits every task they hold? Otherwise the task gets someone else.
                let mut unfit = Vec::new();
                for row in
                    store::lock_matches_where(tx, MatchOwner::Volunteer, v.id, &HOLDING).await?
                {
                    let fits = store::task(tx, row.task_id)
                        .await?
                        .is_some_and(|t| engine::check(&v, &t).is_ok());
                    if !fits {
                        unfit.push(row.id);
                    }
                }
                touched = m
                    .cancel_matches(
                        tx,
                        MatchOwner::Volunteer,
                        v.id,
                        &HOLDING,
                        MatchCancelReason::VolunteerChanged,
                        |r| !unfit.contains(&r.id),
                    )
                    .await?;
            } else {
                // A pause withdraws open offers only: accepted matches stay (PauseMe in
                // registration.proto, VOLUNTEER_STATUS_PAUSED in common.proto).
                touched = m
                    .cancel_matches(
                        tx,
                        MatchOwner::Volunteer,
                        v.id,
                        &OPEN,
                        MatchCancelReason::VolunteerPaused,
                        |_| false,
                    )
                    .await?;
            }
        }
        Ok(if applied {
            Done::Applied {
                volunteer: v,
                touched,
            }
        } else {
            Done::Stale { id: v.id }
        })
    }

    /// Erases one volunteer inside the batch's transaction and cancels what they held.
    async fn erase(&self, tx: &mut sqlx::PgConnection, id: Uuid) -> anyhow::Result<Done> {
        // The volunteer row first: it waits for offers being made to them right now, so
        // the cancellation below sees those too.
        store::erase_volunteer(tx, id).await?;
        let touched = self
            .matcher
            .cancel_matches(
                tx,
                MatchOwner::Volunteer,
                id,
                &MatchState::ACTIVE,
                MatchCancelReason::VolunteerErased,
                |_| false,
            )
            .await?;
        store::unlink_matches(tx, id).await?;
        Ok(Done::Erased { id, touched })
    }

    /// After the commit: the index, re-matching of touched tasks and offers to the volunteer.
    async fn finish(&self, done: Done) -> anyhow::Result<()> {
        let m = &self.matcher;
        match done {
            Done::Applied {
                volunteer,
                mut touched,
            } => {
                let active = volunteer.status == VolunteerStatus::Active;
                let id = volunteer.id;
                m.index_mut().upsert(volunteer);
                touched.sort_unstable();
                touched.dedup();
                m.rematch_later(touched);
                if active {
                    m.match_volunteer(id).await?;
                }
            }
            Done::Stale { id } => {
                // The database has the truth (an erased volunteer must not come back into
                // the index from an old record).
                let mut conn = m.pool.acquire().await?;
                match store::volunteer(&mut conn, id).await? {
                    Some(current) => m.index_mut().upsert(current),
                    None => m.index_mut().remove(&id),
                }
            }
            Done::Erased { id, mut touched } => {
                m.index_mut().remove(&id);
                touched.sort_unstable();
                touched.dedup();
                if !touched.is_empty() {
                    tracing::info!(volunteer_id = %id, matches = touched.len(), "erased volunteer's matches cancelled");
                }
                m.rematch_later(touched);
            }
        }
        Ok(())
    }
}
