//! The task topic (a part of [`crate::consumer`]): incidents and tasks applied to the read
//! model, their matches settled, and tasks matched.

use async_trait::async_trait;

use spontan_platform::kafka::{ConsumedEvent, EventHandler};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{self as pb, MatchCancelReason};
use uuid::Uuid;

use super::HOLDING;
use crate::convert;
use crate::domain::{MatchState, Point, Task, TaskStatus};
use crate::engine;
use crate::events;
use crate::matcher::Matcher;
use crate::store::{self, Applied, MatchOwner};

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
            Some(Payload::IncidentShared(e)) => self.incident_shared(e, version).await,
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

    async fn incident_shared(&self, e: &pb::IncidentShared, version: u64) -> anyhow::Result<()> {
        let Ok(id) = e.incident_id.parse() else {
            return Ok(());
        };
        let mut conn = self.matcher.pool.acquire().await?;
        store::share_incident(
            &mut conn,
            id,
            &e.organisation_id,
            &e.shared_with_organisation_ids,
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
        if task.status.is_not_started() || !freed.is_empty() {
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
            for row in store::lock_matches_where(tx, MatchOwner::Task, task.id, &MatchState::ACTIVE)
                .await?
            {
                let (to, reason) = match row.state {
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
            let freed =
                store::lock_matches_where(tx, MatchOwner::Task, task.id, &MatchState::ACTIVE)
                    .await?
                    .iter()
                    .map(|row| row.volunteer_id)
                    .collect();
            m.cancel_matches(
                tx,
                MatchOwner::Task,
                task.id,
                &MatchState::ACTIVE,
                reason,
                |_| false,
            )
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
        for row in
            store::lock_matches_where(tx, MatchOwner::Task, task.id, &MatchState::ACTIVE).await?
        {
            let mut savepoint = tx.begin().await?;
            let moved = store::move_match(&mut savepoint, row.id, &task.window).await;
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
