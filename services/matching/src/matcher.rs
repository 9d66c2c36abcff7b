//! Incremental matching: offers for a task that needs people, offers of a volunteer to open
//! tasks, expiry of unanswered offers and the periodic catch-up sweep.
//!
//! Each offer is its own short transaction that locks the task row (one offer at a time per
//! task, across replicas), re-counts what the task still needs and inserts the match; the
//! exclusion constraint refuses a double booking (23P01) and the unique (task, volunteer)
//! constraint a repeated offer (23505), and the matcher then moves on to the next candidate.
//! Matching a task is therefore idempotent: running it twice never over-offers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::MatchingSettings;
use crate::domain::{IncidentStatus, MatchState, Task, VolunteerStatus};
use crate::engine::{self, Candidate, Explanation, Ranked, VolunteerIndex};
use crate::events;
use crate::store::{self, Counts, MatchOwner};

/// Everything matching needs, cheap to clone.
#[derive(Clone)]
pub struct Matcher {
    pub pool: PgPool,
    pub index: Arc<RwLock<VolunteerIndex>>,
    pub settings: MatchingSettings,
    /// The match topic.
    pub topic: String,
    /// Signs contact grants into the accepted matches coordinators see (`None` without
    /// `auth.contact_grant_key`).
    pub grants: Option<spontan_platform::auth::grant::GrantSigner>,
}

pub enum Offer {
    /// The new match.
    Made(Uuid),
    /// The task needs nobody more (or can no longer take offers).
    Full,
    /// This volunteer cannot take it (booked meanwhile, or tried before).
    Conflict,
}

impl Matcher {
    /// Reads the index; a poisoned lock (a panic while writing) still holds usable data.
    pub fn index(&self) -> std::sync::RwLockReadGuard<'_, VolunteerIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, VolunteerIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the index from the database (at start, before the topic catches it up);
    /// returns how many volunteers it holds and, per partition of `volunteer_topic`, the offset
    /// from which the topic must be read to catch up (absent: from the beginning).
    pub async fn restore(
        &self,
        volunteer_topic: &str,
    ) -> anyhow::Result<(usize, HashMap<i32, i64>)> {
        let snapshot = store::volunteer_snapshot(&self.pool, volunteer_topic).await?;
        let mut index = self.index_mut();
        for v in snapshot.volunteers {
            index.upsert(v);
        }
        Ok((index.len(), snapshot.offsets))
    }

    /// How many open offers and acceptances `task` may hold together: its headcount times the
    /// over-offer factor (some offers go unanswered).
    pub fn offer_target(&self, task: &Task) -> i64 {
        let headcount = f64::from(task.headcount);
        (headcount * self.settings.over_offer_factor.max(1.0)).ceil() as i64
    }

    /// How many more offers `task` should get now.
    pub fn need(&self, task: &Task, c: Counts) -> i64 {
        if c.accepted >= i64::from(task.headcount) {
            return 0;
        }
        (self.offer_target(task) - c.proposed - c.offered - c.accepted).max(0)
    }

    /// Offers `task` to the best eligible volunteers until it has what it needs.
    #[tracing::instrument(skip_all, fields(task_id = %task_id))]
    pub async fn match_task(&self, task_id: Uuid) -> anyhow::Result<usize> {
        let mut conn = self.pool.acquire().await?;
        let Some(task) = store::task(&mut conn, task_id).await? else {
            return Ok(0);
        };
        if !task.status.is_not_started() || task.window.end <= Utc::now() {
            return Ok(0);
        }
        let counts = store::task_counts(&mut conn, task_id).await?;
        let need = self.need(&task, counts);
        if need == 0 {
            return Ok(0);
        }
        // Read by task, window and incident, not by candidate: their cost does not grow with
        // the thousands of volunteers a flood area holds.
        let tried = store::volunteers_tried(&mut conn, task_id).await?;
        let busy = store::busy_during(&mut conn, &task.window).await?;
        let hours = store::incident_hours(&mut conn, task.incident_id).await?;
        drop(conn);
        let candidates: Vec<Candidate> = self
            .index()
            .eligible_for(&task)
            .into_iter()
            .filter(|(v, _)| !tried.contains(&v.id) && !busy.contains(&v.id))
            .map(|(v, d)| Candidate::new(v, &task, d, hours.get(&v.id).copied().unwrap_or(0.0)))
            .collect();
        // Only the best few are explained and tried; should every one of them be taken
        // meanwhile (offers racing on other tasks), the rest are ranked too.
        let few = usize::try_from(need)
            .unwrap_or(usize::MAX)
            .saturating_mul(4)
            + 16;
        let (mut made, full) = self
            .offer_in_order(task_id, engine::rank_top(&task, &candidates, few))
            .await?;
        if !full && candidates.len() > few {
            // `rank_top` is the prefix of `rank`: the first `few` were tried already.
            let ranked = engine::rank(&task, &candidates).into_iter().skip(few);
            made += self.offer_in_order(task_id, ranked).await?.0;
        }
        if made > 0 {
            tracing::info!(offers = made, "task matched");
        }
        Ok(made)
    }

    /// Offers the task to `ranked` in order until it needs nobody more; the offers made, and
    /// whether it filled.
    async fn offer_in_order(
        &self,
        task_id: Uuid,
        ranked: impl IntoIterator<Item = Ranked>,
    ) -> anyhow::Result<(usize, bool)> {
        let mut made = 0;
        for ranked in ranked {
            match self
                .try_offer(task_id, ranked.volunteer_id, &ranked.explanation)
                .await?
            {
                Offer::Made(_) => made += 1,
                Offer::Full => return Ok((made, true)),
                Offer::Conflict => continue,
            }
        }
        Ok((made, false))
    }

    /// Offers a new, resumed or changed volunteer to the open tasks that still need people,
    /// highest priority first, then earliest start.
    #[tracing::instrument(skip_all, fields(volunteer_id = %volunteer_id))]
    pub async fn match_volunteer(&self, volunteer_id: Uuid) -> anyhow::Result<usize> {
        let Some(volunteer) = self.index().get(&volunteer_id).cloned() else {
            return Ok(0);
        };
        let Some(home) = volunteer.location else {
            return Ok(0);
        };
        if volunteer.status != VolunteerStatus::Active {
            return Ok(0);
        }
        let lat_span = volunteer.travel_radius_km / 110.0 + 0.01;
        let tasks = store::matchable_tasks_near(&self.pool, home.lat, lat_span).await?;
        let mut made = 0;
        for task in tasks {
            let Ok(distance) = engine::check(&volunteer, &task) else {
                continue;
            };
            let mut conn = self.pool.acquire().await?;
            let counts = store::task_counts(&mut conn, task.id).await?;
            if self.need(&task, counts) == 0 {
                continue;
            }
            let ids = [volunteer_id];
            if !store::busy_volunteers(&mut conn, &ids, &task.window)
                .await?
                .is_empty()
            {
                continue;
            }
            let hours = store::assigned_hours(&mut conn, task.incident_id, &ids).await?;
            drop(conn);
            let candidate = Candidate::new(
                &volunteer,
                &task,
                distance,
                hours.get(&volunteer_id).copied().unwrap_or(0.0),
            );
            let Some(ranked) = engine::rank(&task, &[candidate]).pop() else {
                continue;
            };
            if let Offer::Made(_) = self
                .try_offer(task.id, volunteer_id, &ranked.explanation)
                .await?
            {
                made += 1;
            }
        }
        Ok(made)
    }

    /// Offers one task to one volunteer if the task still needs people (one transaction).
    pub async fn try_offer(
        &self,
        task_id: Uuid,
        volunteer_id: Uuid,
        explanation: &Explanation,
    ) -> anyhow::Result<Offer> {
        let mut tx = self.pool.begin().await?;
        let Some(task) = store::lock_task(&mut tx, task_id).await? else {
            return Ok(Offer::Full);
        };
        if !task.status.is_not_started() {
            return Ok(Offer::Full);
        }
        if store::incident(&mut tx, task.incident_id)
            .await?
            .is_some_and(|i| i.status != IncidentStatus::Open)
        {
            return Ok(Offer::Full);
        }
        let counts = store::task_counts(&mut tx, task_id).await?;
        if self.need(&task, counts) == 0 {
            return Ok(Offer::Full);
        }
        let timeout = Duration::from_secs(self.settings.offer_timeout_secs);
        let expires_at = Utc::now() + chrono::Duration::from_std(timeout)?;
        match store::insert_offer(&mut tx, &task, volunteer_id, explanation, expires_at).await {
            Ok(None) => {
                tx.rollback().await?;
                Ok(Offer::Conflict)
            }
            Ok(Some(row)) => {
                events::record(&mut tx, &self.topic, &row, None).await?;
                tx.commit().await?;
                metrics::counter!("matching_offers_total").increment(1);
                tracing::info!(match_id = %row.id, %task_id, %volunteer_id, "offer made");
                Ok(Offer::Made(row.id))
            }
            Err(error) if store::is_conflict(&error) => {
                tx.rollback().await?;
                metrics::counter!("matching_offer_conflicts_total").increment(1);
                Ok(Offer::Conflict)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Matches these tasks again in the background (after a decline, expiry, cancellation).
    pub fn rematch_later(&self, tasks: Vec<Uuid>) {
        if tasks.is_empty() {
            return;
        }
        let matcher = self.clone();
        tokio::spawn(async move {
            for task_id in tasks {
                if let Err(error) = matcher.match_task(task_id).await {
                    tracing::warn!(%task_id, error = format!("{error:#}"), "re-matching failed, the sweep retries");
                }
            }
        });
    }

    /// Expires offers past their deadline; returns the tasks to re-match.
    pub async fn expire_due(&self) -> anyhow::Result<Vec<Uuid>> {
        let due = store::due_offers(&self.pool).await?;
        let mut tasks = Vec::new();
        for id in due {
            let mut tx = self.pool.begin().await?;
            let Some(m) = store::lock_match(&mut tx, id).await? else {
                continue;
            };
            if m.state != MatchState::Offered || m.expires_at.is_none_or(|e| e > Utc::now()) {
                continue;
            }
            events::transition(&mut tx, &self.topic, &m, MatchState::Expired, 0, 0).await?;
            tx.commit().await?;
            tasks.push(m.task_id);
        }
        tasks.dedup();
        Ok(tasks)
    }

    /// Every open task matched again: what a crash or a failed re-match left undone.
    pub async fn sweep(&self) -> anyhow::Result<()> {
        for task_id in store::matchable_task_ids(&self.pool).await? {
            self.match_task(task_id).await?;
        }
        Ok(())
    }

    /// Expires offers and sweeps periodically until shutdown.
    pub async fn run_timers(self, shutdown: CancellationToken) {
        let mut expiry =
            tokio::time::interval(Duration::from_millis(self.settings.expiry_interval_ms));
        let mut sweep =
            tokio::time::interval(Duration::from_secs(self.settings.sweep_interval_secs));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = expiry.tick() => match self.expire_due().await {
                    Ok(tasks) => {
                        for task_id in tasks {
                            if let Err(error) = self.match_task(task_id).await {
                                tracing::warn!(%task_id, error = format!("{error:#}"), "re-matching after expiry failed");
                            }
                        }
                    }
                    Err(error) => tracing::warn!(error = format!("{error:#}"), "expiring offers failed"),
                },
                _ = sweep.tick() => {
                    if let Err(error) = self.sweep().await {
                        tracing::warn!(error = format!("{error:#}"), "matching sweep failed");
                    }
                }
            }
        }
    }

    /// Cancels `states` matches of a task or volunteer inside `conn`'s transaction, or only
    /// those `keep` rejects; returns the tasks touched.
    pub async fn cancel_matches(
        &self,
        conn: &mut sqlx::PgConnection,
        owner: MatchOwner,
        id: Uuid,
        states: &[MatchState],
        reason: spontan_proto::v1::MatchCancelReason,
        keep: impl Fn(&store::MatchRow) -> bool,
    ) -> sqlx::Result<Vec<Uuid>> {
        let mut tasks = Vec::new();
        for m in store::lock_matches_where(conn, owner, id, states).await? {
            if keep(&m) {
                continue;
            }
            events::transition(
                conn,
                &self.topic,
                &m,
                MatchState::Cancelled,
                0,
                reason as i32,
            )
            .await?;
            tasks.push(m.task_id);
        }
        tasks.dedup();
        Ok(tasks)
    }
}
