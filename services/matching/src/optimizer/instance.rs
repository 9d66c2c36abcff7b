//! The input of an incident's optimisation (a part of [`crate::optimizer`]): its open tasks,
//! the matches that stay fixed, the open offers a plan may move, and the volunteer-task pairs
//! the solver may choose from, with what only the database knows (earlier matches, other
//! bookings, hours held) already applied.

use std::collections::{HashMap, HashSet};

use spontan_platform::ApiError;
use uuid::Uuid;

use super::{Pair, Slot};
use crate::domain::{MatchState, Task, Window};
use crate::engine::Explanation;
use crate::lifecycle::db;
use crate::matcher::Matcher;
use crate::store;

/// One assignment with what the objectives need.
#[derive(Clone)]
pub(super) struct Assigned {
    pub(super) task: usize,
    pub(super) volunteer_id: Uuid,
    pub(super) volunteer_ref: String,
    pub(super) match_id: String,
    /// An existing match the plan keeps.
    pub(super) kept: bool,
    /// Accepted or checked in: its hours are already in [`Instance::hours`].
    pub(super) fixed: bool,
    pub(super) explanation: Explanation,
}

/// An open offer (PROPOSED or OFFERED) of one of the incident's tasks.
pub(super) struct OpenOffer {
    pub(super) match_id: Uuid,
    pub(super) task: usize,
    pub(super) volunteer_id: Uuid,
    pub(super) volunteer_ref: String,
    pub(super) explanation: Explanation,
    /// Its pair in [`Instance::pairs`] while the volunteer is still eligible for the task.
    pub(super) pair: Option<usize>,
}

impl OpenOffer {
    pub(super) fn assigned(&self) -> Assigned {
        Assigned {
            task: self.task,
            volunteer_id: self.volunteer_id,
            volunteer_ref: self.volunteer_ref.clone(),
            match_id: self.match_id.to_string(),
            kept: true,
            fixed: false,
            explanation: self.explanation.clone(),
        }
    }
}

/// What the solver is given for one incident, and what its result is read against.
pub(super) struct Instance {
    /// The incident's tasks that may take offers; a [`Pair`]'s or [`Slot`]'s task is an index
    /// here.
    pub(super) tasks: Vec<Task>,
    /// The accepted and checked-in matches: fixed.
    pub(super) fixed: Vec<Assigned>,
    /// The open offers: a plan may keep or move them.
    pub(super) open: Vec<OpenOffer>,
    /// Every candidate; a [`Pair`]'s volunteer is an index here (sorted).
    pub(super) volunteer_ids: Vec<Uuid>,
    /// Candidate pairs; the open offers' own pairs carry the move cost as their stay credit.
    pub(super) pairs: Vec<Pair>,
    /// One per task: what it still needs beside its acceptances.
    pub(super) slots: Vec<Slot>,
    /// Hours each candidate already holds in the incident.
    pub(super) hours: HashMap<Uuid, f64>,
    /// Per task: acceptances (accepted, checked in, completed).
    pub(super) accepted: Vec<i64>,
    /// Per task: how many open offers and acceptances it may hold together
    /// ([`Matcher::offer_target`]).
    pub(super) targets: Vec<i64>,
}

impl Instance {
    /// Reads the incident's tasks and active matches, takes the candidates from the index and
    /// leaves out the pairs the database rules out. Keeping an open offer is worth
    /// `move_cost_km` of travel.
    pub(super) async fn load(
        matcher: &Matcher,
        incident_id: Uuid,
        move_cost_km: f64,
    ) -> Result<Self, ApiError> {
        let mut conn = matcher.pool.acquire().await.map_err(db)?;
        let tasks = store::incident_tasks(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let task_index: HashMap<Uuid, usize> =
            tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let counts = store::incident_counts(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let active = store::active_matches(&mut conn, incident_id)
            .await
            .map_err(db)?;
        let mut fixed = Vec::new();
        let mut open = Vec::new();
        // Open offers of tasks that take no offers any more (started, say) are not moved: they
        // book their volunteer like an acceptance.
        let mut unmovable: HashMap<Uuid, Vec<Window>> = HashMap::new();
        for m in active {
            let open_offer = matches!(m.state, MatchState::Proposed | MatchState::Offered);
            match (task_index.get(&m.task_id), open_offer) {
                (Some(&t), true) => open.push(OpenOffer {
                    match_id: m.id,
                    task: t,
                    volunteer_id: m.volunteer_id,
                    volunteer_ref: m.volunteer_ref,
                    explanation: m.explanation.0,
                    pair: None,
                }),
                (Some(&t), false) => fixed.push(Assigned {
                    task: t,
                    volunteer_id: m.volunteer_id,
                    volunteer_ref: m.volunteer_ref,
                    match_id: m.id.to_string(),
                    kept: true,
                    fixed: true,
                    explanation: m.explanation.0,
                }),
                (None, true) => unmovable.entry(m.volunteer_id).or_default().push(Window {
                    start: m.starts_at,
                    end: m.ends_at,
                }),
                (None, false) => {}
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
        let mut busy = store::busy_windows(&mut conn, &volunteer_ids, incident_id)
            .await
            .map_err(db)?;
        for (id, windows) in unmovable {
            busy.entry(id).or_default().extend(windows);
        }
        let hours = store::assigned_hours(&mut conn, incident_id, &volunteer_ids)
            .await
            .map_err(db)?;
        drop(conn);
        let position: HashMap<Uuid, usize> = volunteer_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let offered: HashMap<(usize, Uuid), usize> = open
            .iter()
            .enumerate()
            .map(|(o, offer)| ((offer.task, offer.volunteer_id), o))
            .collect();
        let mut pairs = Vec::new();
        for (t, task) in tasks.iter().enumerate() {
            for (id, distance_km) in &eligible[t] {
                let current = offered.get(&(t, *id)).copied();
                if current.is_none() {
                    let overlaps = busy
                        .get(id)
                        .is_some_and(|ws| ws.iter().any(|w| w.overlaps(&task.window)));
                    if overlaps || tried.contains(&(task.id, *id)) {
                        continue;
                    }
                }
                if let Some(o) = current {
                    open[o].pair = Some(pairs.len());
                }
                pairs.push(Pair {
                    volunteer: position[id],
                    task: t,
                    distance_km: *distance_km,
                    assigned_hours: hours.get(id).copied().unwrap_or(0.0),
                    stay_km: if current.is_some() { move_cost_km } else { 0.0 },
                });
            }
        }
        let accepted: Vec<i64> = tasks
            .iter()
            .map(|t| counts.get(&t.id).map_or(0, |c| c.accepted))
            .collect();
        let slots: Vec<Slot> = tasks
            .iter()
            .zip(&accepted)
            .map(|(t, a)| Slot {
                need: u32::try_from((i64::from(t.headcount) - a).max(0)).unwrap_or(0),
                priority: t.priority,
                start: t.window.start.timestamp(),
                end: t.window.end.timestamp(),
            })
            .collect();
        let targets = tasks.iter().map(|t| matcher.offer_target(t)).collect();
        Ok(Self {
            tasks,
            fixed,
            open,
            volunteer_ids,
            pairs,
            slots,
            hours,
            accepted,
            targets,
        })
    }

    /// The moves that turn the incident's assignment into the solver's `chosen` pairs: the new
    /// pairs (indices into `pairs`) and the open offers withdrawn (indices into `open`).
    ///
    /// An open offer the solver did not choose is withdrawn only when it must be: its volunteer
    /// gets a new offer overlapping it, or its task gets new offers and would otherwise hold
    /// more than its offer target (the farthest such offers go first). Spare offers beyond the
    /// headcount (over-offering) otherwise stay.
    pub(super) fn moves(&self, chosen: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let current: HashSet<usize> = self.open.iter().filter_map(|o| o.pair).collect();
        let chosen_set: HashSet<usize> = chosen.iter().copied().collect();
        let new_pairs: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|p| !current.contains(p))
            .collect();
        let mut new_windows: HashMap<Uuid, Vec<Window>> = HashMap::new();
        let mut new_per_task = vec![0i64; self.tasks.len()];
        for &p in &new_pairs {
            let pair = &self.pairs[p];
            new_windows
                .entry(self.volunteer_ids[pair.volunteer])
                .or_default()
                .push(self.tasks[pair.task].window);
            new_per_task[pair.task] += 1;
        }
        let kept_by_solver = |o: &OpenOffer| o.pair.is_some_and(|p| chosen_set.contains(&p));
        let mut withdrawn = vec![false; self.open.len()];
        for (o, offer) in self.open.iter().enumerate() {
            let window = self.tasks[offer.task].window;
            withdrawn[o] = !kept_by_solver(offer)
                && new_windows
                    .get(&offer.volunteer_id)
                    .is_some_and(|ws| ws.iter().any(|w| w.overlaps(&window)));
        }
        for (t, &fresh) in new_per_task.iter().enumerate() {
            if fresh == 0 {
                continue;
            }
            let mut spare: Vec<usize> = (0..self.open.len())
                .filter(|&o| self.open[o].task == t && !withdrawn[o])
                .collect();
            let held = self.accepted[t] + spare.len() as i64 + fresh;
            spare.retain(|&o| !kept_by_solver(&self.open[o]));
            spare.sort_by(|&a, &b| {
                let d = |o: usize| self.open[o].explanation.distance_km;
                d(b).total_cmp(&d(a))
            });
            let excess = usize::try_from(held - self.targets[t]).unwrap_or(0);
            for &o in spare.iter().take(excess) {
                withdrawn[o] = true;
            }
        }
        let withdrawn = (0..self.open.len()).filter(|&o| withdrawn[o]).collect();
        (new_pairs, withdrawn)
    }
}
