//! The matching engine: eligibility, ranking with explanations, and the in-memory spatial
//! index of volunteers. Pure and synchronous: no database, no clock beyond its arguments.
//!
//! What the engine cannot know from memory (a volunteer's other active matches, hours already
//! assigned, earlier matches for the same task) the caller loads and passes in; whether an
//! offer may really be made is finally decided by PostgreSQL's exclusion constraint.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Point, Task, Volunteer, VolunteerStatus, Window};

/// Why a volunteer is not eligible for a task (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    NotActive,
    MissingSkill,
    TooYoung,
    NotAvailable,
    TooFar,
    NoLocation,
}

/// Why a volunteer was ranked where they were; stored on the match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Explanation {
    pub distance_km: f64,
    pub preferred_skills_matched: Vec<String>,
    pub assigned_hours: f64,
    pub score: f64,
    pub summary: String,
}

/// Great-circle distance in km.
pub fn haversine_km(a: Point, b: Point) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Checks everything DESIGN.md asks except "no overlapping active match", which needs the
/// database. Returns the distance to the meeting point when eligible.
pub fn check(volunteer: &Volunteer, task: &Task) -> Result<f64, Ineligible> {
    if volunteer.status != VolunteerStatus::Active {
        return Err(Ineligible::NotActive);
    }
    if !task
        .required_skills
        .iter()
        .all(|s| volunteer.skills.contains(s))
    {
        return Err(Ineligible::MissingSkill);
    }
    if task.min_age > 0 && volunteer.min_age_reached < task.min_age {
        return Err(Ineligible::TooYoung);
    }
    if !volunteer.available_for(&task.window) {
        return Err(Ineligible::NotAvailable);
    }
    let home = volunteer.location.ok_or(Ineligible::NoLocation)?;
    let distance = haversine_km(home, task.location);
    if distance > volunteer.travel_radius_km
        || (task.max_distance_km > 0.0 && distance > task.max_distance_km)
    {
        return Err(Ineligible::TooFar);
    }
    Ok(distance)
}

/// An eligible candidate before ranking.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub volunteer_id: Uuid,
    pub distance_km: f64,
    pub preferred_skills_matched: Vec<String>,
    pub assigned_hours: f64,
}

impl Candidate {
    pub fn new(volunteer: &Volunteer, task: &Task, distance_km: f64, assigned_hours: f64) -> Self {
        Self {
            volunteer_id: volunteer.id,
            distance_km,
            preferred_skills_matched: task
                .preferred_skills
                .iter()
                .filter(|s| volunteer.skills.contains(s))
                .cloned()
                .collect(),
            assigned_hours,
        }
    }
}

/// A candidate in rank order, with the explanation to store.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub volunteer_id: Uuid,
    pub explanation: Explanation,
}

/// Ranks candidates best first: a score in [0, 1] from distance (half), preferred skills
/// matched (three tenths) and hours already assigned (one fifth, fewer is better); ties go to
/// the nearer volunteer, then the lower id, so the order is deterministic.
pub fn rank(task: &Task, candidates: Vec<Candidate>) -> Vec<Ranked> {
    let reach = if task.max_distance_km > 0.0 {
        task.max_distance_km
    } else {
        candidates.iter().map(|c| c.distance_km).fold(1.0, f64::max)
    };
    let preferred_total = task.preferred_skills.len();
    let mut ranked: Vec<Ranked> = candidates
        .into_iter()
        .map(|c| {
            let near = (1.0 - c.distance_km / reach).clamp(0.0, 1.0);
            let skills = if preferred_total == 0 {
                1.0
            } else {
                c.preferred_skills_matched.len() as f64 / preferred_total as f64
            };
            let rested = 1.0 / (1.0 + c.assigned_hours / 8.0);
            let score = 0.5 * near + 0.3 * skills + 0.2 * rested;
            let summary = format!(
                "{:.1} km, {} of {} preferred skills, {:.0} h already assigned",
                c.distance_km,
                c.preferred_skills_matched.len(),
                preferred_total,
                c.assigned_hours
            );
            Ranked {
                volunteer_id: c.volunteer_id,
                explanation: Explanation {
                    distance_km: (c.distance_km * 10.0).round() / 10.0,
                    preferred_skills_matched: c.preferred_skills_matched,
                    assigned_hours: c.assigned_hours,
                    score,
                    summary,
                },
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.explanation
            .score
            .total_cmp(&a.explanation.score)
            .then(
                a.explanation
                    .distance_km
                    .total_cmp(&b.explanation.distance_km),
            )
            .then(a.volunteer_id.cmp(&b.volunteer_id))
    });
    ranked
}

/// Grid cell size in degrees: about 11 km north-south, 7 km east-west in Germany, so that a
/// task's reach (tens of km) touches a few hundred small cells and skips most of a dense region.
const CELL_DEGREES: f64 = 0.1;
/// Mean kilometres per degree of latitude (and of longitude at the equator).
const KM_PER_DEGREE: f64 = 111.195;
/// Skills the index keeps as bits (the taxonomy has fewer); any further skill is still
/// checked exactly, only without the bitset shortcut.
const SKILL_BITS: usize = 64;

type CellKey = (i32, i32);

fn cell_of(p: Point) -> CellKey {
    (
        (p.lat / CELL_DEGREES).floor() as i32,
        (p.lon / CELL_DEGREES).floor() as i32,
    )
}

/// Minutes since the epoch, rounded down (`up == false`) or up, clamped into `i32`.
fn minutes(t: chrono::DateTime<chrono::Utc>, up: bool) -> i32 {
    let secs = t.timestamp();
    let m = if up {
        secs.div_euclid(60) + i64::from(secs.rem_euclid(60) != 0)
    } else {
        secs.div_euclid(60)
    };
    m.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The first thing a search looks at for one located volunteer, packed small (32 bytes) for
/// a fast linear scan of a cell. Every field is a conservative summary: a volunteer it rejects
/// is surely ineligible; one it passes is decided with its [`Exact`] record.
#[derive(Debug, Clone, Copy)]
struct Hot {
    lat: f32,
    lon: f32,
    /// Bits of the volunteer's interned skills.
    skills: u64,
    /// Earliest start and latest end of all availability windows, in minutes.
    available_from: i32,
    available_until: i32,
    radius_km: f32,
    /// `min_age_reached`, saturated at 255.
    min_age: u8,
    active: bool,
}

/// The exact values [`check`] uses, beside the [`Hot`] entry at the same position, so that
/// most volunteers are decided without touching their [`Volunteer`] (a cache miss each among
/// a million).
#[derive(Debug, Clone, Copy)]
struct Exact {
    home: Point,
    radius_km: f64,
    min_age: u32,
    /// The only availability window, when there is exactly one.
    window: Option<Window>,
    slot: u32,
}

/// The volunteers homed in one grid cell, with summaries that let a search skip the cell.
#[derive(Debug, Default)]
struct Cell {
    hot: Vec<Hot>,
    exact: Vec<Exact>,
    /// Union of the entries' skill bits (never shrinks on removal: a superset is safe).
    skills: u64,
    /// Largest travel radius of the entries (never shrinks on removal).
    max_radius_km: f32,
}

#[derive(Debug, Default)]
struct Slot {
    volunteer: Option<Volunteer>,
    /// The cell and the position in it, for located volunteers.
    cell: Option<(CellKey, u32)>,
}

/// The rectangle of cells and the scale a search around a point needs.
struct Area {
    lat_lo: i32,
    lat_hi: i32,
    lon_lo: i32,
    lon_hi: i32,
    /// Everywhere: the box is wider than the grid.
    everywhere: bool,
    centre: Point,
    /// Smallest cosine of latitude in the searched band: planar distances with it never
    /// exceed the great-circle distance (by more than the margin in [`within`]). Zero for
    /// searches too wide or too near a pole for the planar view: then only the latitude
    /// difference is compared, which never exceeds the great-circle distance.
    cos_lat: f64,
}

impl Area {
    fn around(centre: Point, radius_km: f64, grid_cells: usize) -> Self {
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

    /// Squared planar distance in km² from the centre to a point, never more than the
    /// great-circle distance squared (up to the margin of [`within`]).
    fn planar_sq(&self, lat: f64, lon: f64) -> f64 {
        let dlat = (lat - self.centre.lat) * KM_PER_DEGREE;
        let dlon = (lon - self.centre.lon) * KM_PER_DEGREE * self.cos_lat;
        dlat * dlat + dlon * dlon
    }

    /// Squared planar distance in km² from the centre to the nearest point of a cell.
    fn cell_sq(&self, (lat, lon): CellKey) -> f64 {
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
fn within(planar_sq: f64, limit_km: f64) -> bool {
    let limit = limit_km * 1.01 + 0.05;
    planar_sq <= limit * limit
}

/// Every volunteer matching knows, the located ones in a lat/lon grid of small cells whose
/// entries carry skill bits, age, availability span and radius, so that a task scans only the
/// cells within reach, skips cells without its skills, and decides the volunteers that pass
/// the cheap filters from their exact records (falling back to [`check`] on the volunteer
/// for several availability windows or skills without a bit).
#[derive(Debug, Default)]
pub struct VolunteerIndex {
    ids: HashMap<Uuid, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    grid: HashMap<CellKey, Cell>,
    skill_bits: HashMap<String, u32>,
    /// A volunteer had a skill beyond [`SKILL_BITS`]: unknown skills may exist.
    skills_overflowed: bool,
    max_radius_km: f64,
}

impl VolunteerIndex {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn get(&self, id: &Uuid) -> Option<&Volunteer> {
        let slot = *self.ids.get(id)?;
        self.slots.get(slot as usize)?.volunteer.as_ref()
    }

    fn volunteer(&self, slot: u32) -> Option<&Volunteer> {
        self.slots.get(slot as usize)?.volunteer.as_ref()
    }

    fn skill_mask(&mut self, skills: &[String]) -> u64 {
        let mut mask = 0;
        for skill in skills {
            let bit = match self.skill_bits.get(skill) {
                Some(bit) => *bit,
                None if self.skill_bits.len() < SKILL_BITS => {
                    let bit = self.skill_bits.len() as u32;
                    self.skill_bits.insert(skill.clone(), bit);
                    bit
                }
                None => {
                    self.skills_overflowed = true;
                    continue;
                }
            };
            mask |= 1 << bit;
        }
        mask
    }

    /// The bits a task requires, or `None` when no volunteer can have one of its skills.
    fn required_mask(&self, task: &Task) -> Option<u64> {
        let mut mask = 0;
        for skill in &task.required_skills {
            match self.skill_bits.get(skill) {
                Some(bit) => mask |= 1 << bit,
                None if self.skills_overflowed => {}
                None => return None,
            }
        }
        Some(mask)
    }

    /// Inserts or replaces a volunteer unless the index already holds a newer version.
    pub fn upsert(&mut self, volunteer: Volunteer) {
        if self
            .get(&volunteer.id)
            .is_some_and(|old| old.version > volunteer.version)
        {
            return;
        }
        self.remove(&volunteer.id);
        if volunteer.status == VolunteerStatus::Erased {
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let mut cell_pos = None;
        if let Some(location) = volunteer.location {
            let hot = Hot {
                lat: location.lat as f32,
                lon: location.lon as f32,
                skills: self.skill_mask(&volunteer.skills),
                available_from: volunteer
                    .availability
                    .iter()
                    .map(|w| minutes(w.start, false))
                    .min()
                    .unwrap_or(i32::MAX),
                available_until: volunteer
                    .availability
                    .iter()
                    .map(|w| minutes(w.end, true))
                    .max()
                    .unwrap_or(i32::MIN),
                radius_km: volunteer.travel_radius_km as f32,
                min_age: volunteer.min_age_reached.min(255) as u8,
                active: volunteer.status == VolunteerStatus::Active,
            };
            let exact = Exact {
                home: location,
                radius_km: volunteer.travel_radius_km,
                min_age: volunteer.min_age_reached,
                window: match volunteer.availability.as_slice() {
                    [only] => Some(*only),
                    _ => None,
                },
                slot,
            };
            let key = cell_of(location);
            let cell = self.grid.entry(key).or_default();
            cell.skills |= hot.skills;
            cell.max_radius_km = cell.max_radius_km.max(hot.radius_km);
            cell_pos = Some((key, cell.hot.len() as u32));
            cell.hot.push(hot);
            cell.exact.push(exact);
            self.max_radius_km = self.max_radius_km.max(volunteer.travel_radius_km);
        }
        self.ids.insert(volunteer.id, slot);
        self.slots[slot as usize] = Slot {
            volunteer: Some(volunteer),
            cell: cell_pos,
        };
    }

    pub fn remove(&mut self, id: &Uuid) {
        let Some(slot) = self.ids.remove(id) else {
            return;
        };
        let old = std::mem::take(&mut self.slots[slot as usize]);
        self.free.push(slot);
        let Some((key, pos)) = old.cell else {
            return;
        };
        let Some(cell) = self.grid.get_mut(&key) else {
            return;
        };
        let pos = pos as usize;
        if pos < cell.hot.len() {
            cell.hot.swap_remove(pos);
            cell.exact.swap_remove(pos);
            if let Some(moved) = cell.exact.get(pos)
                && let Some(s) = self.slots.get_mut(moved.slot as usize)
            {
                s.cell = Some((key, pos as u32));
            }
        }
        if cell.hot.is_empty() {
            self.grid.remove(&key);
        }
    }

    /// Calls `visit` with every cell of `area` that `keep` does not rule out.
    fn cells<'a>(
        &'a self,
        area: &Area,
        mut keep: impl FnMut(&Cell, f64) -> bool,
        mut visit: impl FnMut(&'a Cell),
    ) {
        let mut consider = |key: CellKey, cell: &'a Cell| {
            if keep(cell, area.cell_sq(key)) {
                visit(cell);
            }
        };
        if area.everywhere {
            for (key, cell) in &self.grid {
                consider(*key, cell);
            }
        } else {
            for lat in area.lat_lo..=area.lat_hi {
                for lon in area.lon_lo..=area.lon_hi {
                    if let Some(cell) = self.grid.get(&(lat, lon)) {
                        consider((lat, lon), cell);
                    }
                }
            }
        }
    }

    /// Volunteers located within `radius_km` of `centre` (cells first, then exact distance),
    /// with their distance.
    pub fn near(&self, centre: Point, radius_km: f64) -> Vec<(&Volunteer, f64)> {
        let area = Area::around(centre, radius_km, self.grid.len());
        let mut found = Vec::new();
        self.cells(
            &area,
            |_, gap_sq| within(gap_sq, radius_km),
            |cell| {
                for (h, x) in cell.hot.iter().zip(&cell.exact) {
                    if !within(
                        area.planar_sq(f64::from(h.lat), f64::from(h.lon)),
                        radius_km,
                    ) {
                        continue;
                    }
                    let d = haversine_km(x.home, centre);
                    if d <= radius_km
                        && let Some(v) = self.volunteer(x.slot)
                    {
                        found.push((v, d));
                    }
                }
            },
        );
        found
    }

    /// Volunteers eligible for `task` on everything memory can tell, with their distance.
    pub fn eligible_for(&self, task: &Task) -> Vec<(&Volunteer, f64)> {
        let mut reach = self.max_radius_km;
        if task.max_distance_km > 0.0 {
            reach = reach.min(task.max_distance_km);
        }
        let Some(required) = self.required_mask(task) else {
            return Vec::new();
        };
        // The bits decide the skills alone when every required skill has a bit.
        let skills_exact = task
            .required_skills
            .iter()
            .all(|s| self.skill_bits.contains_key(s));
        let task_max = if task.max_distance_km > 0.0 {
            task.max_distance_km
        } else {
            f64::INFINITY
        };
        let min_age = task.min_age.min(255) as u8;
        let (from, until) = (
            minutes(task.window.start, false),
            minutes(task.window.end, true),
        );
        let area = Area::around(task.location, reach, self.grid.len());
        let mut found = Vec::new();
        self.cells(
            &area,
            |cell, gap_sq| {
                cell.skills & required == required
                    && within(gap_sq, reach.min(f64::from(cell.max_radius_km)))
            },
            |cell| {
                for (h, x) in cell.hot.iter().zip(&cell.exact) {
                    if !h.active
                        || h.skills & required != required
                        || h.min_age < min_age
                        || h.available_from > from
                        || h.available_until < until
                        || !within(
                            area.planar_sq(f64::from(h.lat), f64::from(h.lon)),
                            f64::from(h.radius_km).min(task_max),
                        )
                    {
                        continue;
                    }
                    // What `check` decides, from the exact record where it suffices.
                    let decided = match x.window {
                        Some(w) if skills_exact => {
                            let d = haversine_km(x.home, task.location);
                            (!(task.min_age > 0 && x.min_age < task.min_age)
                                && w.start <= task.window.start
                                && w.end >= task.window.end
                                && d <= x.radius_km
                                && d <= task_max)
                                .then_some(d)
                        }
                        _ => self.volunteer(x.slot).and_then(|v| check(v, task).ok()),
                    };
                    if let Some(d) = decided
                        && let Some(v) = self.volunteer(x.slot)
                    {
                        found.push((v, d));
                    }
                }
            },
        );
        found
    }

    /// Active volunteers who could reach a region (home within region radius plus their own
    /// travel radius) and whose availability has not ended.
    pub fn reachable_count(
        &self,
        centre: Point,
        radius_km: f64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> usize {
        let reach = radius_km + self.max_radius_km;
        let area = Area::around(centre, reach, self.grid.len());
        let now_minute = minutes(now, false);
        let mut count = 0;
        self.cells(
            &area,
            |cell, gap_sq| within(gap_sq, radius_km + f64::from(cell.max_radius_km)),
            |cell| {
                for (h, x) in cell.hot.iter().zip(&cell.exact) {
                    if !h.active
                        || h.available_until < now_minute
                        || !within(
                            area.planar_sq(f64::from(h.lat), f64::from(h.lon)),
                            radius_km + f64::from(h.radius_km),
                        )
                        || haversine_km(x.home, centre) > radius_km + x.radius_km
                    {
                        continue;
                    }
                    let available = match x.window {
                        Some(w) => w.end > now,
                        None => self
                            .volunteer(x.slot)
                            .is_some_and(|v| v.availability.iter().any(|w| w.end > now)),
                    };
                    if available {
                        count += 1;
                    }
                }
            },
        );
        count
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
