//! The batch optimiser: the `OptimizeIncident` RPC and its solver.
//!
//! Layout: [`optimize_incident`] and [`apply_optimization_plan`] in `incident.rs` (access, the
//! per-incident lock) over `plan.rs` (solve, turn the solution into moves, report, store the
//! plan), `apply.rs` (one transaction that applies a stored plan or nothing) and `instance.rs`
//! (the incident's tasks, fixed matches, open offers and candidates as the solver's input);
//! the solver in `model.rs` (pairs, slots, the folded objective), `assign.rs` (one period,
//! exact) and `periods.rs` (several periods); `tests.rs`.
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
//!
//! # Plans over open offers
//!
//! Accepted and checked-in matches are fixed (their tasks need that many fewer). Open offers
//! are pairs like any other, with a stay credit ([`Pair::stay_km`], the move cost) taken off
//! their travel term: keeping one is worth that much travel, so the solver moves it only to
//! save more (or to cover more, the first tier). The folding scales include the credit's span,
//! so the fold stays lexicographic. The solution becomes moves (new offers, open offers to
//! withdraw: only those whose volunteer gets an overlapping new offer, or that would leave a
//! task above its offer target) in `instance.rs`; `plan.rs` stores them; `apply.rs` applies a
//! stored plan in one transaction or not at all.

mod apply;
mod assign;
mod incident;
mod instance;
mod model;
mod periods;
mod plan;

pub use assign::solve;
pub use incident::{apply_optimization_plan, optimize_incident};
pub use model::{
    PERIOD_LOAD_ROOM, Pair, Scales, Slot, hours_units, priority_weight, scales_for, travel_units,
};
pub use periods::{PeriodOptions, periods, solve_periods, solve_periods_with};

#[cfg(test)]
mod tests;
