//! The grid under [`super::VolunteerIndex`]: cells of packed records and the searches over them.
//!
//! Located volunteers live in a lat/lon grid of small cells. A cell holds one packed record per
//! availability run of each active volunteer (windows that touch joined, as
//! [`Volunteer::available_for`] joins them), and one record for a paused or unavailable
//! volunteer. A record carries skill bits, age, radius and the run in minutes for a fast
//! linear scan, and beside it the exact values [`check`](super::check) uses. Records are kept
//! ordered by the start of their run (new ones wait in a short unsorted tail until it is
//! merged), so a search for a task reads only the records whose run has begun by the task's
//! start: the volunteers not yet available are never touched. Before that order comes the
//! travel radius in a few classes ([`CLASS_KM`]): a search reads the volunteers who travel
//! little only in the cells near the task. The ordered part is summarised in blocks of
//! [`BLOCK`] records (skills any of them has, latest end, largest radius), so a search
//! skips blocks that ended before the task (old availability piles up there), lack a rare
//! skill, or cannot reach it. Removal marks records dead; the next merge drops them.

use crate::domain::{Point, Volunteer, VolunteerStatus, Window};

/// Grid cell size in degrees: about 11 km north-south, 7 km east-west in Germany, so that a
/// task's reach (tens of km) touches a few hundred small cells and skips most of a dense region.
const CELL_DEGREES: f64 = 0.1;
/// Mean kilometres per degree of latitude (and of longitude at the equator).
const KM_PER_DEGREE: f64 = 111.195;
/// Skills the index keeps as bits (the taxonomy has fewer); any further skill is still
/// checked exactly, only without the bitset shortcut.
pub(super) const SKILL_BITS: usize = 64;
/// Unsorted records a cell takes before it merges them into its ordered part (or an eighth
/// of the ordered part, if more): merging costs a pass over the cell, so it is paid rarely.
const TAIL_MIN: usize = 32;
/// Upper bounds (km) of the travel radius classes a cell groups its records by; the last
/// class holds the rest. A search reads class `c` only in cells within `CLASS_KM[c]`.
const CLASS_KM: [f32; 3] = [10.0, 20.0, 35.0];
const CLASSES: usize = CLASS_KM.len() + 1;

fn class_of(radius_km: f32) -> usize {
    CLASS_KM
        .iter()
        .position(|bound| radius_km <= *bound)
        .unwrap_or(CLASS_KM.len())
}

/// Records per block summary: small enough that a rare skill is missing from most blocks,
/// large enough that the summaries cost little (16 bytes per 64 records).
const BLOCK: usize = 64;

/// The volunteer is active.
pub(super) const ACTIVE: u8 = 1;
/// The volunteer's first record in its cell: searches by place count each volunteer once.
pub(super) const FIRST: u8 = 2;
/// The record of the volunteer's last availability run (the latest end).
pub(super) const LAST: u8 = 4;
/// No flag: the record was removed and waits for the next merge to be dropped.
const DEAD: u8 = 0;

pub(super) type CellKey = (i32, i32);

pub(super) fn cell_of(p: Point) -> CellKey {
    (
        (p.lat / CELL_DEGREES).floor() as i32,
        (p.lon / CELL_DEGREES).floor() as i32,
    )
}

/// Minutes since the epoch, rounded down (`up == false`) or up, clamped into `i32`.
pub(super) fn minutes(t: chrono::DateTime<chrono::Utc>, up: bool) -> i32 {
    let secs = t.timestamp();
    let m = if up {
        secs.div_euclid(60) + i64::from(secs.rem_euclid(60) != 0)
    } else {
        secs.div_euclid(60)
    };
    m.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Availability as [`Volunteer::available_for`] sees it: maximal runs of windows that touch
/// or overlap. A task window is covered exactly when one run starts by its start and ends by
/// its end. `None` when the windows are not ordered by start (the domain promises they are;
/// such a volunteer is then decided by [`check`](super::check) alone).
fn runs(availability: &[Window]) -> Option<Vec<Window>> {
    let mut runs: Vec<Window> = Vec::new();
    let mut previous_start = None;
    for w in availability {
        if previous_start.is_some_and(|s| w.start < s) {
            return None;
        }
        previous_start = Some(w.start);
        match runs.last_mut() {
            Some(run) if w.start <= run.end => run.end = run.end.max(w.end),
            _ => runs.push(*w),
        }
    }
    Some(runs)
}

/// What a search looks at first, packed small (32 bytes) for a fast linear scan. Every field
/// is a conservative summary: a record it rejects is surely ineligible; one it passes is
/// decided with its [`Exact`] record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hot {
    pub(super) lat: f32,
    pub(super) lon: f32,
    /// Bits of the volunteer's interned skills.
    pub(super) skills: u64,
    /// The run in minutes (start rounded down, end up); `i32::MAX` / `i32::MIN` for a record
    /// without availability, so that no search by time reads it.
    pub(super) from: i32,
    pub(super) until: i32,
    pub(super) radius_km: f32,
    /// `min_age_reached`, saturated at 255.
    pub(super) min_age: u8,
    pub(super) flags: u8,
}

/// The exact values [`check`](super::check) uses, beside the [`Hot`] record at the same
/// position, so that most volunteers are decided without touching their [`Volunteer`] (a
/// cache miss each among a million).
#[derive(Debug, Clone, Copy)]
pub(super) struct Exact {
    pub(super) home: Point,
    pub(super) radius_km: f64,
    pub(super) min_age: u32,
    pub(super) slot: u32,
    /// The run; `None` when the volunteer's windows are out of order or there are none.
    pub(super) run: Option<Window>,
}

/// What [`BLOCK`] consecutive ordered records have at most: a search skips the block when
/// this already rules every record out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    pub(super) skills: u64,
    pub(super) until: i32,
    pub(super) radius_km: f32,
    /// The first record's `from` (the smallest: blocks stay inside a class).
    pub(super) from: i32,
    /// The records summarised.
    pub(super) start: u32,
    pub(super) end: u32,
}

/// The records homed in one grid cell, with summaries that let a search skip the cell.
#[derive(Debug, Default)]
pub(super) struct Cell {
    pub(super) hot: Vec<Hot>,
    pub(super) exact: Vec<Exact>,
    /// `hot[..ordered]` is sorted by radius class, then `from`; the rest came since the last
    /// merge.
    pub(super) ordered: usize,
    /// Where each class starts in `hot[..ordered]`, and `ordered` last.
    pub(super) classes: [usize; CLASSES + 1],
    /// Summaries of `hot[..ordered]`, one per [`BLOCK`] records of a class (the last of a
    /// class may be short), so that a search finds where a class's runs begin in a small
    /// array instead of in the records.
    pub(super) blocks: Vec<Block>,
    /// Where each class starts in `blocks`, and `blocks.len()` last.
    pub(super) class_blocks: [usize; CLASSES + 1],
    /// Records marked [`DEAD`].
    pub(super) dead: usize,
    /// Union of the records' skill bits (a superset until the next merge).
    pub(super) skills: u64,
    /// Largest travel radius of the records (an upper bound until the next merge).
    pub(super) max_radius_km: f32,
}

impl Cell {
    pub(super) fn push(&mut self, hot: Hot, exact: Exact) {
        self.skills |= hot.skills;
        self.max_radius_km = self.max_radius_km.max(hot.radius_km);
        self.hot.push(hot);
        self.exact.push(exact);
        let tail = self.hot.len() - self.ordered;
        if tail > TAIL_MIN.max(self.ordered / 8) {
            self.merge();
        }
    }

    /// Marks the records of `slot` whose run starts at `from` dead (`radius_km` finds the
    /// class).
    pub(super) fn kill(&mut self, slot: u32, from: i32, radius_km: f32) {
        let class = class_of(radius_km);
        let (start, end) = (self.classes[class], self.classes[class + 1]);
        let lo = start + self.hot[start..end].partition_point(|h| h.from < from);
        let hi = start + self.hot[start..end].partition_point(|h| h.from <= from);
        let tail = self.ordered..self.hot.len();
        for i in (lo..hi).chain(tail) {
            if self.exact[i].slot == slot && self.hot[i].from == from && self.hot[i].flags != DEAD {
                self.hot[i].flags = DEAD;
                self.dead += 1;
            }
        }
        if self.dead > TAIL_MIN.max(self.hot.len() / 4) {
            self.merge();
        }
    }

    /// Sorts the tail in, drops dead records and recomputes the summaries.
    pub(super) fn merge(&mut self) {
        let mut records: Vec<(Hot, Exact)> = self
            .hot
            .drain(..)
            .zip(self.exact.drain(..))
            .filter(|(h, _)| h.flags != DEAD)
            .collect();
        // Stable and run-aware: the ordered part is one run, so this is a merge.
        records.sort_by_key(|(h, _)| (class_of(h.radius_km), h.from));
        self.skills = 0;
        self.max_radius_km = 0.0;
        for (h, x) in records {
            self.skills |= h.skills;
            self.max_radius_km = self.max_radius_km.max(h.radius_km);
            self.hot.push(h);
            self.exact.push(x);
        }
        self.ordered = self.hot.len();
        self.dead = 0;
        for class in 0..=CLASSES {
            self.classes[class] = self.hot.partition_point(|h| class_of(h.radius_km) < class);
        }
        self.blocks.clear();
        for class in 0..CLASSES {
            self.class_blocks[class] = self.blocks.len();
            let (start, end) = (self.classes[class], self.classes[class + 1]);
            for lo in (start..end).step_by(BLOCK) {
                let chunk = &self.hot[lo..(lo + BLOCK).min(end)];
                self.blocks.push(Block {
                    skills: chunk.iter().fold(0, |s, h| s | h.skills),
                    until: chunk.iter().map(|h| h.until).max().unwrap_or(i32::MIN),
                    radius_km: chunk.iter().map(|h| h.radius_km).fold(0.0, f32::max),
                    from: chunk[0].from,
                    start: lo as u32,
                    end: (lo + chunk.len()) as u32,
                });
            }
        }
        self.class_blocks[CLASSES] = self.blocks.len();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.hot.len() == self.dead
    }

    /// Calls `visit` with the ranges of records that may include every record whose run has
    /// begun by minute `from` (some later ones too: the caller checks `from`), in the radius
    /// classes `reach` allows (given a class's largest radius) and the blocks `keep` allows;
    /// then with the unsorted tail.
    pub(super) fn begun_by(
        &self,
        from: i32,
        reach: impl Fn(f32) -> bool,
        keep: impl Fn(&Block) -> bool,
        mut visit: impl FnMut(std::ops::Range<usize>),
    ) {
        for c in 0..CLASSES {
            if CLASS_KM.get(c).is_some_and(|km| !reach(*km)) {
                continue;
            }
            let blocks = &self.blocks[self.class_blocks[c]..self.class_blocks[c + 1]];
            // Blocks whose first run begins by `from`; the records of the last one that
            // begin later are the caller's to reject.
            let begun = blocks.partition_point(|b| b.from <= from);
            for b in &blocks[..begun] {
                if keep(b) {
                    visit(b.start as usize..b.end as usize);
                }
            }
        }
        visit(self.ordered..self.hot.len());
    }
}

/// The rectangle of cells and the scale a search around a point needs.
pub(super) struct Area {
    pub(super) lat_lo: i32,
    pub(super) lat_hi: i32,
    pub(super) lon_lo: i32,
    pub(super) lon_hi: i32,
    /// Everywhere: the box is wider than the grid.
    pub(super) everywhere: bool,
    pub(super) centre: Point,
    /// Smallest cosine of latitude in the searched band: planar distances with it never
    /// exceed the great-circle distance (by more than the margin in [`within`]). Zero for
    /// searches too wide or too near a pole for the planar view: then only the latitude
    /// difference is compared, which never exceeds the great-circle distance.
    pub(super) cos_lat: f64,
}

impl Area {
    pub(super) fn around(centre: Point, radius_km: f64, grid_cells: usize) -> Self {
        let lat_span = radius_km / 111.0 + CELL_DEGREES;
        let min_lat = centre.lat - lat_span;
        let max_lat = centre.lat + lat_span;
        let poleward = min_lat.abs().max(max_lat.abs());
        let cos_band = poleward.min(89.0).to_radians().cos();
        let lon_span = radius_km / (111.0 * cos_band);
        let (lat_lo, lon_lo) = cell_of(Point {
            lat: min_lat,
            lon: centre.lon - lon_span,
        });
        let (lat_hi, lon_hi) = cell_of(Point {
            lat: max_lat,
            lon: centre.lon + lon_span,
        });
        let cells = (i64::from(lat_hi) - i64::from(lat_lo) + 1)
            * (i64::from(lon_hi) - i64::from(lon_lo) + 1);
        Self {
            lat_lo,
            lat_hi,
            lon_lo,
            lon_hi,
            everywhere: lon_span >= 180.0 || cells > grid_cells as i64,
            centre,
            cos_lat: if radius_km <= 500.0 && poleward <= 80.0 {
                cos_band
            } else {
                0.0
            },
        }
    }

    /// Squared planar distance in km² from the centre to a record's home, never more than
    /// the great-circle distance squared (up to the margin of [`within`]).
    pub(super) fn planar_sq(&self, h: &Hot) -> f64 {
        let dlat = (f64::from(h.lat) - self.centre.lat) * KM_PER_DEGREE;
        let dlon = (f64::from(h.lon) - self.centre.lon) * KM_PER_DEGREE * self.cos_lat;
        dlat * dlat + dlon * dlon
    }

    /// Squared planar distance in km² from the centre to the nearest point of a cell.
    pub(super) fn cell_sq(&self, (lat, lon): CellKey) -> f64 {
        let gap = |c: f64, cell: i32| {
            let lo = f64::from(cell) * CELL_DEGREES;
            let hi = lo + CELL_DEGREES;
            (lo - c).max(c - hi).max(0.0)
        };
        let dlat = gap(self.centre.lat, lat) * KM_PER_DEGREE;
        let dlon = gap(self.centre.lon, lon) * KM_PER_DEGREE * self.cos_lat;
        dlat * dlat + dlon * dlon
    }
}

/// Whether a squared planar distance may be within `limit_km`: generous by 1% and 50 m,
/// so that neither the planar approximation nor `f32` coordinates lose an eligible volunteer
/// (the exact great-circle check follows).
pub(super) fn within(planar_sq: f64, limit_km: f64) -> bool {
    let limit = limit_km * 1.01 + 0.05;
    planar_sq <= limit * limit
}

/// The records of a located volunteer: one per availability run when active and in
/// order, else one. `skills` is the volunteer's mask.
pub(super) fn records(
    volunteer: &Volunteer,
    home: Point,
    slot: u32,
    skills: u64,
) -> Vec<(Hot, Exact)> {
    let active = volunteer.status == VolunteerStatus::Active;
    let hot = Hot {
        lat: home.lat as f32,
        lon: home.lon as f32,
        skills,
        from: i32::MAX,
        until: i32::MIN,
        radius_km: volunteer.travel_radius_km as f32,
        min_age: volunteer.min_age_reached.min(255) as u8,
        flags: FIRST | LAST | if active { ACTIVE } else { 0 },
    };
    let exact = Exact {
        home,
        radius_km: volunteer.travel_radius_km,
        min_age: volunteer.min_age_reached,
        slot,
        run: None,
    };
    if !active || volunteer.availability.is_empty() {
        return vec![(hot, exact)];
    }
    let Some(runs) = runs(&volunteer.availability) else {
        // Out of order: one record spanning every window, decided by `check`.
        let from = volunteer.availability.iter().map(|w| w.start).min();
        let until = volunteer.availability.iter().map(|w| w.end).max();
        return vec![(
            Hot {
                from: from.map_or(i32::MAX, |t| minutes(t, false)),
                until: until.map_or(i32::MIN, |t| minutes(t, true)),
                ..hot
            },
            exact,
        )];
    };
    let last = runs.len() - 1;
    runs.into_iter()
        .enumerate()
        .map(|(i, run)| {
            let mut flags = ACTIVE;
            if i == 0 {
                flags |= FIRST;
            }
            if i == last {
                flags |= LAST;
            }
            (
                Hot {
                    from: minutes(run.start, false),
                    until: minutes(run.end, true),
                    flags,
                    ..hot
                },
                Exact {
                    run: Some(run),
                    ..exact
                },
            )
        })
        .collect()
}
