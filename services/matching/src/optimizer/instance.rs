//! The input of an incident's optimisation (a part of [`crate::optimizer`]): its open tasks,
//! the matches it keeps, and the volunteer-task pairs the solver may choose from, with what
//! only the database knows (earlier matches, other bookings, hours held) already applied.

use std::collections::HashMap;

use spontan_platform::ApiError;
use uuid::Uuid;

use super::{Pair, Slot};
use crate::domain::Task;
use crate::engine::Explanation;
use crate::lifecycle::db;
use crate::matcher::Matcher;
use crate::store;

/// One assignment with what the objectives need.
pub(super) struct Assigned {
    pub(super) task: usize,
    pub(super) volunteer_id: Uuid,
    pub(super) volunteer_ref: String,
    pub(super) match_id: String,
    pub(super) kept: bool,
    pub(super) explanation: Explanation,
}

/// What the solver is given for one incident, and what its result is read against.
pub(super) struct Instance {
    /// The incident's tasks that may take offers; a [`Pair`]'s or [`Slot`]'s task is an index
    /// here.
    pub(super) tasks: Vec<Task>,
    /// The active matches, kept as they are.
    pub(super) kept: Vec<Assigned>,
    /// Every candidate; a [`Pair`]'s volunteer is an index here.
    pub(super) volunteer_ids: Vec<Uuid>,
    pub(super) pairs: Vec<Pair>,
    /// One per task: what it still needs beside the kept matches.
    pub(super) slots: Vec<Slot>,
    /// Hours each candidate already holds in the incident.
    pub(super) hours: HashMap<Uuid, f64>,
}

impl Instance {
    /// Reads the incident's tasks and kept matches, takes the candidates from the index and
    /// leaves out the pairs the database rules out.
    pub(super) async fn load(matcher: &Matcher, incident_id: Uuid) -> Result<Self, ApiError> {
        let mut conn = matcher.pool.acquire().await.map_err(db)?;
        let tasks = store::incident_tasks(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let task_index: HashMap<Uuid, usize> =
            tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let kept_rows = store::kept_matches(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let mut kept = Vec::new();
        let mut held = vec![0u32; tasks.len()];
        for m in kept_rows {
            if let Some(&t) = task_index.get(&m.task_id) {
                held[t] += 1;
                kept.push(Assigned {
                    task: t,
                    volunteer_id: m.volunteer_id,
                    volunteer_ref: m.volunteer_ref.clone(),
                    match_id: m.id.to_string(),
                    kept: true,
                    explanation: m.explanation.0.clone(),
                });
            }
        }
        // Candidates from the index, then what only the database knows.
        let eligible: Vec<Vec<(Uuid, f64)>> = {
            let index = matcher.index();
            tasks
                .iter()
                .map(|t| {
                    index
                        .eligible_for(t)
                        .into_iter()
                        .map(|(v, d)| (v.id, d))
                        .collect()
                })
                .collect()
        };
        let mut volunteer_ids: Vec<Uuid> = eligible.iter().flatten().map(|(id, _)| *id).collect();
        volunteer_ids.sort_unstable();
        volunteer_ids.dedup();
        let tried = store::tried_pairs(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let busy = store::busy_windows(&mut conn, &volunteer_ids)
            .await
            .map_err(db)?;
        let hours = store::assigned_hours(&mut conn, incident_id, &volunteer_ids)
            .await
            .map_err(db)?;
        drop(conn);
        let position: HashMap<Uuid, usize> = volunteer_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let mut pairs = Vec::new();
        for (t, task) in tasks.iter().enumerate() {
            for (id, distance_km) in &eligible[t] {
                let overlaps = busy
                    .get(id)
                    .is_some_and(|ws| ws.iter().any(|w| w.overlaps(&task.window)));
                if overlaps || tried.contains(&(task.id, *id)) {
                    continue;
                }
                pairs.push(Pair {
                    volunteer: position[id],
                    task: t,
                    distance_km: *distance_km,
                    assigned_hours: hours.get(id).copied().unwrap_or(0.0),
                });
            }
        }
        let slots: Vec<Slot> = tasks
            .iter()
            .zip(&held)
            .map(|(t, h)| Slot {
                need: t.headcount.saturating_sub(*h),
                priority: t.priority,
                start: t.window.start.timestamp(),
                end: t.window.end.timestamp(),
            })
            .collect();
        Ok(Self {
            tasks,
            kept,
            volunteer_ids,
            pairs,
            slots,
            hours,
        })
    }
}
