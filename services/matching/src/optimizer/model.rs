//! What the solver is given (pairs of volunteer and task, slots of need) and the three
//! objectives folded into one integer profit per pair (see the [module](super) documentation).

/// One allowed volunteer-task pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub volunteer: usize,
    pub task: usize,
    pub distance_km: f64,
    /// Hours the volunteer already holds in the incident.
    pub assigned_hours: f64,
    /// What keeping this pair is worth, in km of travel: the move cost when it is an open
    /// offer a plan may move, 0 for a new pair. A plan leaves the offer where it is unless
    /// moving it saves more travel than this (or raises coverage).
    pub stay_km: f64,
}

impl Pair {
    /// The pair's travel term in units of 10 m: its distance less its stay credit (negative
    /// for an open offer closer than the move cost).
    pub fn travel(&self) -> i64 {
        travel_units(self.distance_km) - travel_units(self.stay_km)
    }
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
    pub(super) fn overlaps(&self, other: &Slot) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Hours in tenths, for the load term.
    pub(super) fn tenths(&self) -> i64 {
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

/// Room (tenths of hours) the multi-period load term leaves for hours given in the same run.
pub const PERIOD_LOAD_ROOM: i64 = 1_000;

/// The scales [`solve`](super::solve) (`extra_hours` 0) and
/// [`solve_periods`](super::solve_periods) ([`PERIOD_LOAD_ROOM`]) use for these pairs, exported
/// so that other solvers can be given the very same folded profits.
pub fn scales_for(volunteers: usize, units: u64, pairs: &[Pair], extra_hours: i64) -> Scales {
    // Travel terms range over [-max stay credit, max distance]: the fold must exceed that span.
    let max_distance = pairs
        .iter()
        .map(|p| travel_units(p.distance_km))
        .max()
        .unwrap_or(0);
    let max_stay = pairs
        .iter()
        .map(|p| travel_units(p.stay_km))
        .max()
        .unwrap_or(0);
    let max_travel = max_distance + max_stay;
    let max_hours = pairs
        .iter()
        .map(|p| hours_units(p.assigned_hours))
        .max()
        .unwrap_or(0);
    let flows = (volunteers as u64).min(units).min(pairs.len() as u64) as usize;
    Scales::new(flows, max_travel, (max_hours + extra_hours).min(HOURS_CAP))
}
