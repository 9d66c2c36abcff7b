//! The exact single-period solver: successive shortest paths over the sparse residual graph
//! (see the [module](super) documentation), used by [`solve`] and, one block at a time, by the
//! multi-period solver.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::model::{Pair, hours_units, priority_weight, scales_for};

pub(super) const NONE: u32 = u32::MAX;
/// Profit of an edge that is not allowed in the current block.
pub(super) const BLOCKED: i64 = i64::MIN;

/// The pairs grouped by task (compressed rows), shared by all searches.
pub(super) struct Graph {
    pub(super) volunteers: usize,
    /// `edges[start[t]..start[t + 1]]` are the pair indices of task `t`.
    pub(super) start: Vec<u32>,
    pub(super) edges: Vec<u32>,
    /// Volunteer of the edge at each position of `edges` (contiguous with the task's row).
    pub(super) volunteer: Vec<u32>,
}

impl Graph {
    pub(super) fn new(volunteers: usize, tasks: usize, pairs: &[Pair]) -> Self {
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
    pub(super) fn of_task(&self, task: u32) -> &[u32] {
        &self.edges[self.positions(task)]
    }

    /// Positions (in `edges`, `volunteer` and per-position profits) of task `task`'s pairs.
    pub(super) fn positions(&self, task: u32) -> std::ops::Range<usize> {
        self.start[task as usize] as usize..self.start[task as usize + 1] as usize
    }
}

/// Successive-shortest-path assignment over one block of tasks (sparse Hungarian method).
/// The volunteer arrays are sized for everyone and reset only where a block touched them.
pub(super) struct Assigner {
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
    pub(super) fn new(volunteers: usize) -> Self {
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
    pub(super) fn solve(
        &mut self,
        graph: &Graph,
        tasks: &[u32],
        need: &[u32],
        profit: &[i64],
    ) -> Vec<u32> {
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
                p.travel(),
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
