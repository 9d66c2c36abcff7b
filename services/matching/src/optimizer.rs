//! The batch optimiser's solver: an exact min-cost flow over volunteers and tasks with a
//! lexicographic objective folded into one integer cost (coverage weight dominates travel,
//! travel dominates load), solved by successive shortest paths (Bellman-Ford on the residual
//! graph, which stays free of negative cycles because the network starts as a DAG).
//!
//! Model: each volunteer takes at most one new task per run (the caller has removed pairs
//! that overlap their existing matches), each task at most its remaining need. Coverage and
//! travel are optimised exactly; the third objective, load spread, enters as a linear
//! preference for volunteers with fewer hours, which balances load but is not guaranteed to
//! minimise the spread exactly.

/// One allowed volunteer-task pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub volunteer: usize,
    pub task: usize,
    pub distance_km: f64,
    /// Hours the volunteer already holds in the incident.
    pub assigned_hours: f64,
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

#[derive(Clone, Copy)]
struct Edge {
    to: usize,
    cap: i64,
    cost: i128,
}

struct Graph {
    edges: Vec<Edge>,
    adjacent: Vec<Vec<usize>>,
}

impl Graph {
    fn new(nodes: usize) -> Self {
        Self {
            edges: Vec::new(),
            adjacent: vec![Vec::new(); nodes],
        }
    }

    fn add(&mut self, from: usize, to: usize, cap: i64, cost: i128) -> usize {
        let id = self.edges.len();
        self.edges.push(Edge { to, cap, cost });
        self.adjacent[from].push(id);
        self.edges.push(Edge {
            to: from,
            cap: 0,
            cost: -cost,
        });
        self.adjacent[to].push(id + 1);
        id
    }

    /// Cheapest path from `source` to `sink` in the residual graph: (cost, edges).
    fn shortest_path(&self, source: usize, sink: usize) -> Option<(i128, Vec<usize>)> {
        let n = self.adjacent.len();
        let mut dist = vec![i128::MAX; n];
        let mut via = vec![usize::MAX; n];
        let mut queued = vec![false; n];
        let mut queue = std::collections::VecDeque::new();
        dist[source] = 0;
        queue.push_back(source);
        queued[source] = true;
        while let Some(u) = queue.pop_front() {
            queued[u] = false;
            for &e in &self.adjacent[u] {
                let edge = self.edges[e];
                if edge.cap > 0 && dist[u] + edge.cost < dist[edge.to] {
                    dist[edge.to] = dist[u] + edge.cost;
                    via[edge.to] = e;
                    if !queued[edge.to] {
                        queued[edge.to] = true;
                        queue.push_back(edge.to);
                    }
                }
            }
        }
        if dist[sink] == i128::MAX {
            return None;
        }
        let mut path = Vec::new();
        let mut node = sink;
        while node != source {
            let e = via[node];
            path.push(e);
            node = self.edges[e ^ 1].to;
        }
        Some((dist[sink], path))
    }
}

/// The optimal set of new pairs (indices into `pairs`), given each task's remaining need and
/// priority. Exact for coverage, then travel.
pub fn solve(volunteers: usize, task_need: &[(u32, i32)], pairs: &[Pair]) -> Vec<usize> {
    let tasks = task_need.len();
    let source = volunteers + tasks;
    let sink = source + 1;
    let mut graph = Graph::new(sink + 1);
    // Travel in units of 10 m, hours in tenths: the travel scale must outweigh every hours
    // term of a whole solution, the coverage scale every travel and hours term.
    let hours_unit = |h: f64| (h * 10.0).round().clamp(0.0, 100_000.0) as i128;
    let max_hours = pairs
        .iter()
        .map(|p| hours_unit(p.assigned_hours))
        .max()
        .unwrap_or(0);
    let flows = volunteers.min(pairs.len()) as i128 + 1;
    let travel_scale = flows * (max_hours + 1);
    let max_travel = pairs
        .iter()
        .map(|p| (p.distance_km * 100.0).round() as i128)
        .max()
        .unwrap_or(0);
    let coverage_scale = flows * (max_travel * travel_scale + max_hours + 1);
    for v in 0..volunteers {
        graph.add(source, v, 1, 0);
    }
    for (t, (need, _)) in task_need.iter().enumerate() {
        graph.add(volunteers + t, sink, i64::from(*need), 0);
    }
    let mut pair_edges = Vec::with_capacity(pairs.len());
    for p in pairs {
        let travel = (p.distance_km * 100.0).round() as i128;
        let weight = i128::from(priority_weight(task_need[p.task].1));
        let cost = -weight * coverage_scale + travel * travel_scale + hours_unit(p.assigned_hours);
        pair_edges.push(graph.add(p.volunteer, volunteers + p.task, 1, cost));
    }
    // Augment one unit at a time while it lowers the total cost.
    while let Some((cost, path)) = graph.shortest_path(source, sink) {
        if cost >= 0 {
            break;
        }
        for e in path {
            graph.edges[e].cap -= 1;
            graph.edges[e ^ 1].cap += 1;
        }
    }
    pair_edges
        .iter()
        .enumerate()
        .filter(|(_, e)| graph.edges[**e].cap == 0)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(volunteer: usize, task: usize, distance_km: f64) -> Pair {
        Pair {
            volunteer,
            task,
            distance_km,
            assigned_hours: 0.0,
        }
    }

    #[test]
    fn coverage_of_urgent_tasks_comes_first() {
        // One volunteer, fit for a critical task far away and a low one next door.
        let pairs = [pair(0, 0, 50.0), pair(0, 1, 0.5)];
        let chosen = solve(1, &[(1, 1), (1, 4)], &pairs);
        assert_eq!(chosen, [0]);
    }

    #[test]
    fn a_greedy_choice_is_not_optimal_but_the_flow_is() {
        // Greedy gives volunteer 0 its nearest task 0 and leaves task 1 uncovered; the
        // optimum covers both.
        let pairs = [pair(0, 0, 1.0), pair(0, 1, 2.0), pair(1, 0, 3.0)];
        let mut chosen = solve(2, &[(1, 2), (1, 2)], &pairs);
        chosen.sort_unstable();
        assert_eq!(chosen, [1, 2]);
    }

    #[test]
    fn with_equal_coverage_total_travel_is_minimal() {
        let pairs = [
            pair(0, 0, 1.0),
            pair(0, 1, 2.0),
            pair(1, 0, 10.0),
            pair(1, 1, 3.0),
        ];
        let mut chosen = solve(2, &[(1, 2), (1, 2)], &pairs);
        chosen.sort_unstable();
        assert_eq!(chosen, [0, 3]);
    }

    #[test]
    fn with_equal_travel_the_less_loaded_volunteer_is_chosen() {
        let mut tired = pair(0, 0, 2.0);
        tired.assigned_hours = 6.0;
        let rested = pair(1, 0, 2.0);
        let chosen = solve(2, &[(1, 3)], &[tired, rested]);
        assert_eq!(chosen, [1]);
    }

    #[test]
    fn needs_and_single_assignments_are_respected() {
        let pairs = [
            pair(0, 0, 1.0),
            pair(1, 0, 1.0),
            pair(2, 0, 1.0),
            pair(0, 1, 1.0),
        ];
        let chosen = solve(3, &[(2, 2), (1, 2)], &pairs);
        assert_eq!(chosen.len(), 3);
        let volunteers: std::collections::HashSet<usize> =
            chosen.iter().map(|i| pairs[*i].volunteer).collect();
        assert_eq!(volunteers.len(), 3);
    }
}
