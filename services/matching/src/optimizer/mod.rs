//! The batch optimiser's solver.
//!
//! # Objective
//!
//! Lexicographic, as in the spontaneous-volunteer coordination literature: first maximise
//! priority-weighted coverage (each filled unit of a task's need counts its priority weight),
//! then minimise total travel, then balance load. The three tiers are folded into one integer
//! profit per volunteer-task pair (see [`Scales`]): the coverage scale exceeds every travel and
//! hours term a whole solution can add up to, and the travel scale every hours term, so the
//! fold is exactly lexicographic for the first two tiers. Load enters as a linear preference
//! for volunteers with fewer hours (a volunteer's hours already held, plus, in the
//! multi-period case, the hours of the other slots given to them in this run): that balances
//! load but does not minimise the spread exactly.
//!
//! # Single period ([`solve`]): exact
//!
//! Every task window overlaps every other, so a volunteer takes at most one new task. That is
//! a maximum-profit bipartite b-matching, solved exactly by successive shortest paths on the
//! sparse residual graph (a sparse Hungarian method, as in Jonker-Volgenant): every unit of a
//! task's need is a row that must be assigned either to an eligible volunteer or to "stays
//! open" (profit 0); rows are added one at a time by a Dijkstra search over reduced costs with
//! node potentials, which stops as soon as the cheapest way to place the row is known and
//! only updates the potentials of the nodes it settled. Most rows settle in one step (their
//! best volunteer is free), so the work follows the contention, not the size of the graph.
//! Flat arrays, a compressed per-task edge list, no allocation per edge or per search step.
//!
//! # Several periods ([`solve_periods`])
//!
//! Tasks have time windows; a volunteer may take several tasks whose windows do not overlap.
//! With per-volunteer eligibility this is NP-hard in general, so the solver decomposes time:
//!
//! 1. **Periods.** The task windows are covered by a minimum set of *periods*, each a set of
//!    windows sharing a common instant (greedy clique cover of the interval graph by earliest
//!    end). Inside one period every pair of windows overlaps, so "at most one task per
//!    volunteer" is exactly the no-overlap rule there, and one period is a single-period
//!    problem.
//! 2. **Sweep.** Periods are solved in time order, each exactly by the min-cost flow above,
//!    with a volunteer eligible for a task only if the task does not overlap what they already
//!    hold from other periods.
//! 3. **Block-coordinate improvement.** Each period is solved again exactly with all other
//!    periods fixed, backwards and forwards, until a whole pass changes nothing (or a pass
//!    limit). Each re-solve keeps the period's current assignment feasible, so the objective
//!    never gets worse.
//! 4. **Ejection chains (conflict repair).** For every open unit of need, highest priority
//!    first, an augmenting move is searched: give the task to an eligible volunteer who is
//!    busy with overlapping tasks, and hand each of those to another eligible volunteer who is
//!    free then, or leave it open when its weight is lower; applied when the weighted coverage
//!    strictly rises. Then step 3 runs again to recover travel and load.
//!
//! With one period (all windows overlap) steps 3 and 4 change nothing and the result is the
//! exact optimum, the same as [`solve`].

mod incident;

pub use incident::optimize_incident;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One allowed volunteer-task pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub volunteer: usize,
    pub task: usize,
    pub distance_km: f64,
    /// Hours the volunteer already holds in the incident.
    pub assigned_hours: f64,
}

/// A task as the multi-period solver sees it: remaining need, priority and window
/// `[start, end)` in any integer time unit (the service uses seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub need: u32,
    pub priority: i32,
    pub start: i64,
    pub end: i64,
}

impl Slot {
    fn overlaps(&self, other: &Slot) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Hours in tenths, for the load term.
    fn tenths(&self) -> i64 {
        ((self.end - self.start).max(0) as f64 / 360.0).round() as i64
    }
}

/// Weight of a proto `Priority` in the coverage objective.
pub fn priority_weight(priority: i32) -> i64 {
    match priority {
        1 => 8,
        2 => 4,
        3 => 2,
        _ => 1,
    }
}

/// Travel in units of 10 m.
pub fn travel_units(km: f64) -> i64 {
    (km * 100.0).round().clamp(0.0, 10_000_000.0) as i64
}

/// Hours in tenths, capped at 1,000 hours.
pub fn hours_units(hours: f64) -> i64 {
    (hours * 10.0).round().clamp(0.0, HOURS_CAP as f64) as i64
}

const HOURS_CAP: i64 = 10_000;

/// The multipliers that fold the three objectives into one integer profit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scales {
    /// Multiplier of a priority weight; larger than any solution's travel and hours terms.
    pub coverage: i64,
    /// Multiplier of travel units; larger than any solution's hours terms.
    pub travel: i64,
    /// Hours terms are capped here (0 when the load tier had to be dropped to stay in range).
    pub max_hours: i64,
}

impl Scales {
    /// Scales for at most `flows` assignments, pairs up to `max_travel` units and hours terms
    /// up to `max_hours` tenths. If the exact fold would not fit comfortably in an `i64`
    /// (absurd inputs), the load tier is dropped, then travel is coarsened.
    pub fn new(flows: usize, max_travel: i64, max_hours: i64) -> Self {
        const LIMIT: i128 = 1 << 58;
        let flows = flows as i128 + 1;
        let fold = |max_hours: i128, max_travel: i128| {
            let travel = flows * (max_hours + 1);
            let coverage = flows * (max_travel * travel + max_hours + 1);
            (coverage, travel)
        };
        let max_travel = i128::from(max_travel.max(0));
        let (coverage, travel) = fold(i128::from(max_hours.max(0)), max_travel);
        if coverage * 8 < LIMIT {
            return Self {
                coverage: coverage as i64,
                travel: travel as i64,
                max_hours: max_hours.max(0),
            };
        }
        let (coverage, travel) = fold(0, max_travel);
        Self {
            coverage: (coverage * 8).min(LIMIT) as i64 / 8,
            travel: travel as i64,
            max_hours: 0,
        }
    }

    /// The folded profit of one assignment.
    pub fn profit(&self, weight: i64, travel_units: i64, hours_units: i64) -> i64 {
        weight * self.coverage
            - travel_units
                .saturating_mul(self.travel)
                .min(self.coverage - 1)
            - hours_units.clamp(0, self.max_hours)
    }
}

const NONE: u32 = u32::MAX;
/// Profit of an edge that is not allowed in the current block.
const BLOCKED: i64 = i64::MIN;

/// The pairs grouped by task (compressed rows), shared by all searches.
struct Graph {
    volunteers: usize,
    /// `edges[start[t]..start[t + 1]]` are the pair indices of task `t`.
    start: Vec<u32>,
    edges: Vec<u32>,
    /// Volunteer of the edge at each position of `edges` (contiguous with the task's row).
    volunteer: Vec<u32>,
}

impl Graph {
    fn new(volunteers: usize, tasks: usize, pairs: &[Pair]) -> Self {
        let mut start = vec![0u32; tasks + 1];
        for p in pairs {
            start[p.task + 1] += 1;
        }
        for t in 0..tasks {
            start[t + 1] += start[t];
        }
        let mut fill = start.clone();
        let mut edges = vec![0u32; pairs.len()];
        for (i, p) in pairs.iter().enumerate() {
            edges[fill[p.task] as usize] = i as u32;
            fill[p.task] += 1;
        }
        let volunteer = edges
            .iter()
            .map(|&e| pairs[e as usize].volunteer as u32)
            .collect();
        Self {
            volunteers,
            start,
            edges,
            volunteer,
        }
    }

    /// Pair indices of task `task`.
    fn of_task(&self, task: u32) -> &[u32] {
        &self.edges[self.positions(task)]
    }

    /// Positions (in `edges`, `volunteer` and per-position profits) of task `task`'s pairs.
    fn positions(&self, task: u32) -> std::ops::Range<usize> {
        self.start[task as usize] as usize..self.start[task as usize + 1] as usize
    }
}

/// Successive-shortest-path assignment over one block of tasks (sparse Hungarian method).
/// The volunteer arrays are sized for everyone and reset only where a block touched them.
struct Assigner {
    vol_h: Vec<i64>,
    vol_match: Vec<u32>,
    vol_dist: Vec<i64>,
    vol_pred_row: Vec<u32>,
    vol_pred_edge: Vec<u32>,
    row_task: Vec<u32>,
    row_h: Vec<i64>,
    row_match: Vec<u32>,
    row_dist: Vec<i64>,
    row_pred_vol: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    settled: Vec<(u32, i64)>,
    touched: Vec<u32>,
}

impl Assigner {
    fn new(volunteers: usize) -> Self {
        Self {
            vol_h: vec![0; volunteers],
            vol_match: vec![NONE; volunteers],
            vol_dist: vec![i64::MAX; volunteers],
            vol_pred_row: vec![NONE; volunteers],
            vol_pred_edge: vec![NONE; volunteers],
            row_task: Vec::new(),
            row_h: Vec::new(),
            row_match: Vec::new(),
            row_dist: Vec::new(),
            row_pred_vol: Vec::new(),
            heap: BinaryHeap::new(),
            settled: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// The maximum-profit assignment of `tasks` (each up to its `need`), every volunteer at
    /// most once, using only edges whose `profit` (indexed by position in `graph.edges`) is
    /// not [`BLOCKED`]. Returns the chosen pair indices.
    fn solve(&mut self, graph: &Graph, tasks: &[u32], need: &[u32], profit: &[i64]) -> Vec<u32> {
        let v_count = graph.volunteers as u32;
        self.row_task.clear();
        self.row_h.clear();
        for &t in tasks {
            let range = graph.positions(t);
            let best = profit[range.clone()]
                .iter()
                .copied()
                .filter(|&p| p != BLOCKED)
                .max()
                .unwrap_or(0)
                .max(0);
            if best == 0 {
                continue; // nothing worth placing: the rows would stay open anyway
            }
            for &v in &graph.volunteer[range] {
                self.vol_h[v as usize] = 0;
                self.vol_match[v as usize] = NONE;
            }
            for _ in 0..need[t as usize] {
                self.row_task.push(t);
                self.row_h.push(best);
            }
        }
        let rows = self.row_task.len();
        self.row_match.clear();
        self.row_match.resize(rows, NONE);
        self.row_dist.clear();
        self.row_dist.resize(rows, i64::MAX);
        self.row_pred_vol.clear();
        self.row_pred_vol.resize(rows, NONE);
        for source in 0..rows as u32 {
            self.place(graph, profit, source, v_count);
        }
        self.row_match
            .iter()
            .filter(|&&j| j != NONE)
            .map(|&j| graph.edges[j as usize])
            .collect()
    }

    /// One Dijkstra search from row `source` to "placed" and the augmentation along it.
    fn place(&mut self, graph: &Graph, profit: &[i64], source: u32, v_count: u32) {
        // Nodes: volunteers 0..v_count, rows v_count + r.
        let mut best = i64::MAX;
        let mut end = NONE;
        self.row_dist[source as usize] = 0;
        self.touched.push(v_count + source);
        self.heap.push(Reverse((0, v_count + source)));
        while let Some(Reverse((d, node))) = self.heap.pop() {
            if d >= best {
                break;
            }
            if node < v_count {
                let v = node as usize;
                if d > self.vol_dist[v] {
                    continue;
                }
                self.settled.push((node, d));
                let r = self.vol_match[v];
                if r == NONE {
                    let reach = d + self.vol_h[v];
                    if reach < best {
                        best = reach;
                        end = node;
                    }
                } else {
                    let e = self.row_match[r as usize] as usize;
                    let reduced = profit[e] + self.vol_h[v] - self.row_h[r as usize];
                    debug_assert!(reduced >= 0, "negative reduced cost on a matched edge");
                    let next = d + reduced;
                    if next < self.row_dist[r as usize] && next < best {
                        if self.row_dist[r as usize] == i64::MAX {
                            self.touched.push(v_count + r);
                        }
                        self.row_dist[r as usize] = next;
                        self.row_pred_vol[r as usize] = node;
                        self.heap.push(Reverse((next, v_count + r)));
                    }
                }
            } else {
                let r = (node - v_count) as usize;
                if d > self.row_dist[r] {
                    continue;
                }
                self.settled.push((node, d));
                let open = d + self.row_h[r];
                if open < best {
                    best = open;
                    end = node;
                }
                let h_row = self.row_h[r];
                for j in graph.positions(self.row_task[r]) {
                    let p = profit[j];
                    if p == BLOCKED {
                        continue;
                    }
                    let v = graph.volunteer[j] as usize;
                    if self.vol_match[v] == r as u32 {
                        continue;
                    }
                    let reduced = h_row - p - self.vol_h[v];
                    debug_assert!(reduced >= 0, "negative reduced cost");
                    let next = d + reduced;
                    if next >= self.vol_dist[v] || next >= best {
                        continue;
                    }
                    if self.vol_dist[v] == i64::MAX {
                        self.touched.push(v as u32);
                    }
                    self.vol_dist[v] = next;
                    self.vol_pred_row[v] = r as u32;
                    self.vol_pred_edge[v] = j as u32;
                    // A free volunteer ends a path here; with potential 0 (the common case)
                    // nothing cheaper can follow, so it need not enter the heap at all.
                    if self.vol_match[v] == NONE && next + self.vol_h[v] < best {
                        best = next + self.vol_h[v];
                        end = v as u32;
                    }
                    if next < best {
                        self.heap.push(Reverse((next, v as u32)));
                    }
                }
            }
        }
        self.heap.clear();
        // Potentials of the settled nodes; the others keep theirs (a uniform shift).
        for &(node, d) in &self.settled {
            if node < v_count {
                self.vol_h[node as usize] += d - best;
            } else {
                self.row_h[(node - v_count) as usize] += d - best;
            }
        }
        self.settled.clear();
        // Augment backwards from the end of the path.
        let mut v = if end < v_count {
            end
        } else {
            let r = end - v_count;
            self.row_match[r as usize] = NONE;
            if r == source {
                NONE
            } else {
                self.row_pred_vol[r as usize]
            }
        };
        while v != NONE {
            let r = self.vol_pred_row[v as usize];
            let e = self.vol_pred_edge[v as usize];
            let previous = if r == source {
                NONE
            } else {
                self.row_pred_vol[r as usize]
            };
            self.vol_match[v as usize] = r;
            self.row_match[r as usize] = e;
            v = previous;
        }
        for &node in &self.touched {
            if node < v_count {
                self.vol_dist[node as usize] = i64::MAX;
            } else {
                self.row_dist[(node - v_count) as usize] = i64::MAX;
            }
        }
        self.touched.clear();
    }
}

/// Room (tenths of hours) the multi-period load term leaves for hours given in the same run.
pub const PERIOD_LOAD_ROOM: i64 = 1_000;

/// The scales [`solve`] (`extra_hours` 0) and [`solve_periods`] ([`PERIOD_LOAD_ROOM`]) use for these pairs,
/// exported so that other solvers can be given the very same folded profits.
pub fn scales_for(volunteers: usize, units: u64, pairs: &[Pair], extra_hours: i64) -> Scales {
    let max_travel = pairs
        .iter()
        .map(|p| travel_units(p.distance_km))
        .max()
        .unwrap_or(0);
    let max_hours = pairs
        .iter()
        .map(|p| hours_units(p.assigned_hours))
        .max()
        .unwrap_or(0);
    let flows = (volunteers as u64).min(units).min(pairs.len() as u64) as usize;
    Scales::new(flows, max_travel, (max_hours + extra_hours).min(HOURS_CAP))
}

/// The optimal set of new pairs (indices into `pairs`) when every volunteer takes at most one
/// task, given each task's remaining need and priority. Exact for coverage, then travel, then
/// the linear load preference.
pub fn solve(volunteers: usize, task_need: &[(u32, i32)], pairs: &[Pair]) -> Vec<usize> {
    let units: u64 = task_need.iter().map(|(n, _)| u64::from(*n)).sum();
    let scales = scales_for(volunteers, units, pairs, 0);
    let graph = Graph::new(volunteers, task_need.len(), pairs);
    let profit: Vec<i64> = graph
        .edges
        .iter()
        .map(|&e| {
            let p = &pairs[e as usize];
            scales.profit(
                priority_weight(task_need[p.task].1),
                travel_units(p.distance_km),
                hours_units(p.assigned_hours),
            )
        })
        .collect();
    let tasks: Vec<u32> = (0..task_need.len() as u32).collect();
    let need: Vec<u32> = task_need.iter().map(|(n, _)| *n).collect();
    let mut chosen: Vec<usize> = Assigner::new(volunteers)
        .solve(&graph, &tasks, &need, &profit)
        .into_iter()
        .map(|e| e as usize)
        .collect();
    chosen.sort_unstable();
    chosen
}

/// Groups tasks into periods: each period's windows all contain one instant (greedy clique
/// cover of the interval graph by earliest end). Periods come out in time order.
pub fn periods(slots: &[Slot]) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..slots.len() as u32).collect();
    order.sort_by_key(|&t| (slots[t as usize].end, slots[t as usize].start));
    let mut periods = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    // Sorted by end, the period's instant is the last moment of its first (earliest-ending)
    // task; every later task that starts by then contains it too.
    let mut instant = i64::MIN;
    for t in order {
        let slot = &slots[t as usize];
        if current.is_empty() || slot.start > instant {
            if !current.is_empty() {
                periods.push(std::mem::take(&mut current));
            }
            instant = slot.end - 1;
        }
        current.push(t);
    }
    if !current.is_empty() {
        periods.push(current);
    }
    periods
}

/// Tuning of [`solve_periods`].
#[derive(Debug, Clone, Copy)]
pub struct PeriodOptions {
    /// Upper bound on block-coordinate passes over all periods.
    pub max_passes: usize,
    /// Rounds of ejection-chain repair (each followed by block-coordinate passes).
    pub repair_rounds: usize,
}

impl Default for PeriodOptions {
    fn default() -> Self {
        Self {
            max_passes: 6,
            repair_rounds: 3,
        }
    }
}

/// New pairs (indices into `pairs`) for tasks with time windows: every task at most its need,
/// every volunteer any set of tasks whose windows do not overlap each other. See the module
/// documentation for the method.
pub fn solve_periods(volunteers: usize, slots: &[Slot], pairs: &[Pair]) -> Vec<usize> {
    solve_periods_with(volunteers, slots, pairs, PeriodOptions::default())
}

/// [`solve_periods`] with explicit tuning.
pub fn solve_periods_with(
    volunteers: usize,
    slots: &[Slot],
    pairs: &[Pair],
    options: PeriodOptions,
) -> Vec<usize> {
    let mut state = PeriodState::new(volunteers, slots, pairs);
    state.sweep();
    state.improve(options.max_passes);
    for _ in 0..options.repair_rounds {
        if !state.repair() {
            break;
        }
        state.improve(options.max_passes);
    }
    let mut chosen: Vec<usize> = state.chosen.iter().flatten().map(|&e| e as usize).collect();
    chosen.sort_unstable();
    chosen
}

struct PeriodState<'a> {
    slots: &'a [Slot],
    pairs: &'a [Pair],
    graph: Graph,
    scales: Scales,
    periods: Vec<Vec<u32>>,
    period_of: Vec<u32>,
    /// Chosen pair indices per period.
    chosen: Vec<Vec<u32>>,
    /// Pair indices each volunteer holds, across periods.
    holds: Vec<Vec<u32>>,
    /// Hours (tenths) each volunteer gets in this run.
    load: Vec<i64>,
    filled: Vec<u32>,
    profit: Vec<i64>,
    need: Vec<u32>,
    assigner: Assigner,
}

impl<'a> PeriodState<'a> {
    fn new(volunteers: usize, slots: &'a [Slot], pairs: &'a [Pair]) -> Self {
        let units: u64 = slots.iter().map(|s| u64::from(s.need)).sum();
        // The load term may grow by the hours given in this run; leave room for 100 hours.
        let scales = scales_for(volunteers, units, pairs, PERIOD_LOAD_ROOM);
        let periods = periods(slots);
        let mut period_of = vec![0u32; slots.len()];
        for (k, p) in periods.iter().enumerate() {
            for &t in p {
                period_of[t as usize] = k as u32;
            }
        }
        Self {
            slots,
            pairs,
            graph: Graph::new(volunteers, slots.len(), pairs),
            scales,
            chosen: vec![Vec::new(); periods.len()],
            periods,
            period_of,
            holds: vec![Vec::new(); volunteers],
            load: vec![0; volunteers],
            filled: vec![0; slots.len()],
            profit: vec![BLOCKED; pairs.len()],
            need: slots.iter().map(|s| s.need).collect(),
            assigner: Assigner::new(volunteers),
        }
    }

    fn edge_profit(&self, e: usize, extra_load: i64) -> i64 {
        let p = &self.pairs[e];
        self.scales.profit(
            priority_weight(self.slots[p.task].priority),
            travel_units(p.distance_km),
            hours_units(p.assigned_hours) + extra_load,
        )
    }

    /// Whether volunteer `v` holds a task overlapping `task` (ignoring pair `except`).
    fn busy(&self, v: usize, task: usize, except: u32) -> bool {
        let slot = &self.slots[task];
        self.holds[v].iter().any(|&e| {
            e != except && {
                let other = self.pairs[e as usize].task;
                other != task && self.slots[other].overlaps(slot)
            }
        })
    }

    fn take(&mut self, e: u32) {
        let p = &self.pairs[e as usize];
        self.holds[p.volunteer].push(e);
        self.load[p.volunteer] += self.slots[p.task].tenths();
        self.filled[p.task] += 1;
    }

    fn drop_pair(&mut self, e: u32) {
        let p = &self.pairs[e as usize];
        self.holds[p.volunteer].retain(|&x| x != e);
        self.load[p.volunteer] -= self.slots[p.task].tenths();
        self.filled[p.task] -= 1;
    }

    /// Folded profit of the whole current assignment (for monotonicity and termination).
    fn total(&self) -> i128 {
        self.chosen
            .iter()
            .flatten()
            .map(|&e| i128::from(self.edge_profit(e as usize, 0)))
            .sum()
    }

    /// Solves period `k` exactly with every other period fixed.
    fn resolve(&mut self, k: usize) {
        for e in std::mem::take(&mut self.chosen[k]) {
            self.drop_pair(e);
        }
        for i in 0..self.periods[k].len() {
            let t = self.periods[k][i];
            for j in self.graph.positions(t) {
                let e = self.graph.edges[j];
                let v = self.pairs[e as usize].volunteer;
                self.profit[j] = if self.busy(v, t as usize, NONE) {
                    BLOCKED
                } else {
                    self.edge_profit(e as usize, self.load[v])
                };
            }
        }
        let chosen = self
            .assigner
            .solve(&self.graph, &self.periods[k], &self.need, &self.profit);
        for &e in &chosen {
            self.take(e);
        }
        self.chosen[k] = chosen;
    }

    fn sweep(&mut self) {
        for k in 0..self.periods.len() {
            self.resolve(k);
        }
    }

    fn improve(&mut self, max_passes: usize) {
        let mut value = self.total();
        for pass in 0..max_passes {
            let count = self.periods.len();
            for i in 0..count {
                let k = if pass % 2 == 0 { count - 1 - i } else { i };
                self.resolve(k);
            }
            let next = self.total();
            if next <= value {
                break;
            }
            value = next;
        }
    }

    /// Ejection chains for open need; true if coverage rose.
    fn repair(&mut self) -> bool {
        let mut open: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&t| self.filled[t as usize] < self.need[t as usize])
            .collect();
        open.sort_by_key(|&t| Reverse(priority_weight(self.slots[t as usize].priority)));
        let mut improved = false;
        for t in open {
            while self.filled[t as usize] < self.need[t as usize] {
                match self.best_chain(t as usize) {
                    Some(moves) => {
                        self.apply(t as usize, moves);
                        improved = true;
                    }
                    None => break,
                }
            }
        }
        improved
    }

    /// The best coverage-raising move giving task `t` one more volunteer: (pair to add, pairs
    /// to remove, replacement pairs).
    fn best_chain(&self, t: usize) -> Option<Chain> {
        let weight = priority_weight(self.slots[t].priority);
        let mut best: Option<(i128, Chain)> = None;
        for &e in self.graph.of_task(t as u32) {
            let v = self.pairs[e as usize].volunteer;
            if self.holds[v]
                .iter()
                .any(|&h| self.pairs[h as usize].task == t)
            {
                continue;
            }
            let conflicts: Vec<u32> = self.holds[v]
                .iter()
                .copied()
                .filter(|&h| self.slots[self.pairs[h as usize].task].overlaps(&self.slots[t]))
                .collect();
            let mut value = i128::from(self.edge_profit(e as usize, self.load[v]));
            let mut replacements = Vec::new();
            let mut feasible = true;
            let mut lost_weight = 0;
            for &c in &conflicts {
                value -= i128::from(self.edge_profit(c as usize, 0));
                let ct = self.pairs[c as usize].task;
                // Someone else, free at that time and not on the task already, and not a
                // replacement chosen for another conflict of this chain.
                let replacement = self
                    .graph
                    .of_task(ct as u32)
                    .iter()
                    .copied()
                    .filter(|&r| {
                        let w = self.pairs[r as usize].volunteer;
                        w != v
                            && !self.holds[w]
                                .iter()
                                .any(|&h| self.pairs[h as usize].task == ct)
                            && !self.busy(w, ct, NONE)
                            && !replacements
                                .iter()
                                .any(|&x: &u32| self.pairs[x as usize].volunteer == w)
                    })
                    .max_by_key(|&r| {
                        self.edge_profit(r as usize, self.load[self.pairs[r as usize].volunteer])
                    });
                match replacement {
                    Some(r) => {
                        let w = self.pairs[r as usize].volunteer;
                        value += i128::from(self.edge_profit(r as usize, self.load[w]));
                        replacements.push(r);
                    }
                    None => {
                        lost_weight += priority_weight(self.slots[ct].priority);
                    }
                }
                if lost_weight >= weight {
                    feasible = false;
                    break;
                }
            }
            if !feasible || value <= 0 {
                continue;
            }
            if best.as_ref().is_none_or(|(b, _)| value > *b) {
                best = Some((
                    value,
                    Chain {
                        add: e,
                        remove: conflicts,
                        replace: replacements,
                    },
                ));
            }
        }
        best.map(|(_, chain)| chain)
    }

    fn apply(&mut self, t: usize, chain: Chain) {
        for &c in &chain.remove {
            let k = self.period_of[self.pairs[c as usize].task] as usize;
            self.chosen[k].retain(|&x| x != c);
            self.drop_pair(c);
        }
        for &r in &chain.replace {
            let k = self.period_of[self.pairs[r as usize].task] as usize;
            self.chosen[k].push(r);
            self.take(r);
        }
        let k = self.period_of[t] as usize;
        self.chosen[k].push(chain.add);
        self.take(chain.add);
    }
}

struct Chain {
    add: u32,
    remove: Vec<u32>,
    replace: Vec<u32>,
}

#[cfg(test)]
mod tests;
