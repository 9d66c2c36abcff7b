//! The multi-period solver: periods, sweep, block-coordinate improvement and ejection chains
//! (see the [module](super) documentation).

use std::cmp::Reverse;

use super::assign::{Assigner, BLOCKED, Graph, NONE};
use super::model::{
    PERIOD_LOAD_ROOM, Pair, Scales, Slot, hours_units, priority_weight, scales_for,
};

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
            p.travel(),
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
