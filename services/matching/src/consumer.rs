//! Consumers of `spontan.volunteer.v1` (every replica reads everything, into its own index,
//! in batches of whatever has arrived, and stores how far the read model goes with each
//! batch it applies) and `spontan.task.v1` (one consumer group: task partitions are split across replicas).
//!
//! Both are idempotent by aggregate version: the database keeps the newest version applied,
//! older or repeated events change nothing. Side effects on matches (cancellations) commit in
//! the same transaction as the read-model change, and only the replica whose write applied
//! performs them; offers follow after the commit and are idempotent themselves, so a task event
//! always (re-)runs matching for its task, and the periodic sweep catches anything a crash
//! between commit and offer left undone.

use async_trait::async_trait;
use std::collections::BTreeMap;

use spontan_platform::kafka::{BatchHandler, ConsumedEvent, EventHandler};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{self as pb, MatchCancelReason};
use tracing::Instrument;
use uuid::Uuid;

use crate::convert;
use crate::domain::{MatchState, Point, Task, TaskStatus, Volunteer, VolunteerStatus};
use crate::engine;
use crate::events;
use crate::matcher::Matcher;
use crate::store::{self, Applied, MatchOwner, VolunteerApplied};

const HOLDING: [&str; 3] = ["proposed", "offered", "accepted"];
const ACTIVE: [&str; 4] = ["proposed", "offered", "accepted", "checked_in"];

/// Applies volunteer events to the database and this replica's index.
pub struct VolunteerConsumer {
    pub matcher: Matcher,
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
        // included): a restart resumes after them.
        let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for event in events {
            let offset = last
                .entry((event.topic.as_str(), event.partition))
                .or_insert(event.offset);
            *offset = (*offset).max(event.offset);
        }
        for ((topic, partition), offset) in last {
            store::record_volunteer_offset(&mut tx, topic, partition, offset).await?;
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
                        &["proposed", "offered"],
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
                &ACTIVE,
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

/// Applies incident and task events and matches tasks.
pub struct TaskConsumer {
    pub matcher: Matcher,
}

#[async_trait]
impl EventHandler for TaskConsumer {
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()> {
        let Some(envelope) = &event.envelope else {
            return Ok(());
        };
        let version = envelope.aggregate_version;
        match &envelope.payload {
            Some(Payload::IncidentOpened(e)) => self.incident_opened(e, version).await,
            Some(Payload::IncidentClosed(e)) => self.incident_closed(e).await,
            Some(Payload::TaskCreated(e)) => self.task(e.task.as_ref(), version, None).await,
            Some(Payload::TaskUpdated(e)) => self.task(e.task.as_ref(), version, None).await,
            Some(Payload::TaskCancelled(e)) => {
                let reason = if e.reason == pb::TaskCancelReason::IncidentClosed as i32 {
                    MatchCancelReason::IncidentClosed
                } else {
                    MatchCancelReason::TaskCancelled
                };
                self.task(e.task.as_ref(), version, Some(reason)).await
            }
            Some(Payload::TaskCompleted(e)) => {
                self.task(
                    e.task.as_ref(),
                    version,
                    Some(MatchCancelReason::TaskCompleted),
                )
                .await
            }
            _ => Ok(()),
        }
    }
}

impl TaskConsumer {
    async fn incident_opened(&self, e: &pb::IncidentOpened, version: u64) -> anyhow::Result<()> {
        let Ok(id) = e.incident_id.parse() else {
            return Ok(());
        };
        let centre = e.region_centre.as_ref().map(|p| Point {
            lat: p.latitude,
            lon: p.longitude,
        });
        let mut conn = self.matcher.pool.acquire().await?;
        store::upsert_incident(
            &mut conn,
            id,
            &e.organisation_id,
            centre,
            Some(e.region_radius_km),
            i64::try_from(version).unwrap_or(i64::MAX),
        )
        .await?;
        Ok(())
    }

    async fn incident_closed(&self, e: &pb::IncidentClosed) -> anyhow::Result<()> {
        let Ok(id) = e.incident_id.parse() else {
            return Ok(());
        };
        let m = &self.matcher;
        let mut tx = m.pool.begin().await?;
        store::upsert_incident(&mut tx, id, &e.organisation_id, None, None, 0).await?;
        for task_id in store::close_incident(&mut tx, id).await? {
            m.cancel_matches(
                &mut tx,
                MatchOwner::Task,
                task_id,
                &HOLDING,
                MatchCancelReason::IncidentClosed,
                |_| false,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies a task snapshot; `ended` is set for TaskCancelled / TaskCompleted.
    async fn task(
        &self,
        snapshot: Option<&pb::TaskSnapshot>,
        version: u64,
        ended: Option<MatchCancelReason>,
    ) -> anyhow::Result<()> {
        let Some(mut task) = snapshot.and_then(|t| convert::task(t, version)) else {
            tracing::warn!("task event without a usable task, skipped");
            return Ok(());
        };
        match ended {
            Some(MatchCancelReason::TaskCompleted) => task.status = TaskStatus::Completed,
            Some(_) => task.status = TaskStatus::Cancelled,
            None => {}
        }
        let m = &self.matcher;
        let mut tx = m.pool.begin().await?;
        store::upsert_incident(
            &mut tx,
            task.incident_id,
            &task.organisation_id,
            None,
            None,
            0,
        )
        .await?;
        let applied = store::apply_task(&mut tx, &task).await?;
        let mut freed = Vec::new();
        if let Applied::Stored(Some(before)) = &applied {
            freed = self.settle_changed(&mut tx, before, &task, ended).await?;
        }
        tx.commit().await?;
        if task.status.is_matchable() || !freed.is_empty() {
            m.match_task(task.id).await?;
        }
        // People the task let go are offered the other open tasks at once, not at the next
        // sweep: a cancelled task must not leave willing helpers idle.
        for volunteer in freed {
            m.match_volunteer(volunteer).await?;
        }
        Ok(())
    }

    /// Cancels or closes the task's matches after a change; returns the volunteers whose
    /// matches were cancelled (free again for other tasks).
    async fn settle_changed(
        &self,
        tx: &mut sqlx::PgConnection,
        before: &Task,
        task: &Task,
        ended: Option<MatchCancelReason>,
    ) -> anyhow::Result<Vec<Uuid>> {
        let m = &self.matcher;
        if task.status == TaskStatus::Completed {
            for row in store::lock_matches_where(tx, MatchOwner::Task, task.id, &ACTIVE).await? {
                let (to, reason) = match row.state() {
                    MatchState::CheckedIn => (MatchState::Completed, 0),
                    MatchState::Accepted => (MatchState::NoShow, 0),
                    _ => (
                        MatchState::Cancelled,
                        MatchCancelReason::TaskCompleted as i32,
                    ),
                };
                events::transition(tx, &m.topic, &row, to, 0, reason).await?;
            }
            return Ok(Vec::new());
        }
        if task.status == TaskStatus::Cancelled {
            let reason = ended.unwrap_or(MatchCancelReason::TaskCancelled);
            let freed = store::lock_matches_where(tx, MatchOwner::Task, task.id, &ACTIVE)
                .await?
                .iter()
                .map(|row| row.volunteer_id)
                .collect();
            m.cancel_matches(tx, MatchOwner::Task, task.id, &ACTIVE, reason, |_| false)
                .await?;
            return Ok(freed);
        }
        // Changed: who no longer fits loses the match; the others follow a moved window.
        let rows = store::lock_matches_where(tx, MatchOwner::Task, task.id, &HOLDING).await?;
        let unfit_rows: Vec<&store::MatchRow> = {
            let index = m.index();
            rows.iter()
                .filter(|row| {
                    index
                        .get(&row.volunteer_id)
                        .is_none_or(|v| engine::check(v, task).is_err())
                })
                .collect()
        };
        let unfit: Vec<Uuid> = unfit_rows.iter().map(|row| row.id).collect();
        let freed: Vec<Uuid> = unfit_rows.iter().map(|row| row.volunteer_id).collect();
        let cancelled = m
            .cancel_matches(
                tx,
                MatchOwner::Task,
                task.id,
                &HOLDING,
                MatchCancelReason::TaskChanged,
                |r| !unfit.contains(&r.id),
            )
            .await?;
        if before.window != task.window {
            self.move_window(tx, task).await?;
        }
        Ok(if cancelled.is_empty() {
            Vec::new()
        } else {
            freed
        })
    }

    /// Moves the task's remaining matches to its new window; a match that would then
    /// overlap another of its volunteer's is cancelled instead.
    async fn move_window(&self, tx: &mut sqlx::PgConnection, task: &Task) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        for row in store::lock_matches_where(tx, MatchOwner::Task, task.id, &ACTIVE).await? {
            let mut savepoint = tx.begin().await?;
            let moved =
                sqlx::query("UPDATE matches SET slot = tstzrange($2, $3, '[)') WHERE id = $1")
                    .bind(row.id)
                    .bind(task.window.start)
                    .bind(task.window.end)
                    .execute(&mut *savepoint)
                    .await;
            match moved {
                Ok(_) => savepoint.commit().await?,
                Err(error) if store::is_conflict(&error) => {
                    savepoint.rollback().await?;
                    events::transition(
                        tx,
                        &self.matcher.topic,
                        &row,
                        MatchState::Cancelled,
                        0,
                        MatchCancelReason::TaskChanged as i32,
                    )
                    .await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}
