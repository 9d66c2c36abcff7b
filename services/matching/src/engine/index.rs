//! The in-memory spatial index of volunteers (a part of [`crate::engine`]): who is where,
//! by slot, over the grid of cells in `grid.rs`, which says how records are laid out and
//! searched.

use std::collections::HashMap;

use uuid::Uuid;

use super::grid::{
    ACTIVE, Area, Block, Cell, CellKey, FIRST, LAST, SKILL_BITS, cell_of, minutes, records, within,
};
use super::{check, haversine_km};
use crate::domain::{Point, Task, Volunteer, VolunteerStatus};

/// What a free slot holds: no allocation, never in the grid, never handed out.
fn placeholder() -> Volunteer {
    Volunteer {
        id: Uuid::nil(),
        skills: Vec::new(),
        languages: Vec::new(),
        age_band: 0,
        min_age_reached: 0,
        location: None,
        travel_radius_km: 0.0,
        availability: Vec::new(),
        status: VolunteerStatus::Erased,
        version: 0,
    }
}

/// Every volunteer matching knows, the located ones in the grid described in the module
/// documentation, so that a task scans only the cells within reach, skips cells without its
/// skills, reads only the records already available at its start, and decides the records
/// that pass the cheap filters from their exact values (falling back to [`check`] on the
/// volunteer for windows out of order or skills without a bit).
#[derive(Debug, Default)]
pub struct VolunteerIndex {
    ids: HashMap<Uuid, u32>,
    /// Volunteers by slot; a free slot holds [`placeholder`], so that a search hands out a
    /// reference without reading the volunteer (a cache miss each).
    slots: Vec<Volunteer>,
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
        self.volunteer(slot)
    }

    fn volunteer(&self, slot: u32) -> Option<&Volunteer> {
        self.slots.get(slot as usize)
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
                self.slots.push(placeholder());
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(home) = volunteer.location {
            let skills = self.skill_mask(&volunteer.skills);
            let cell = self.grid.entry(cell_of(home)).or_default();
            for (h, x) in records(&volunteer, home, slot, skills) {
                cell.push(h, x);
            }
            self.max_radius_km = self.max_radius_km.max(volunteer.travel_radius_km);
        }
        self.ids.insert(volunteer.id, slot);
        self.slots[slot as usize] = volunteer;
    }

    pub fn remove(&mut self, id: &Uuid) {
        let Some(slot) = self.ids.remove(id) else {
            return;
        };
        let Some(old) = self
            .slots
            .get_mut(slot as usize)
            .map(|v| std::mem::replace(v, placeholder()))
        else {
            return;
        };
        self.free.push(slot);
        let Some(home) = old.location else {
            return;
        };
        let key = cell_of(home);
        let Some(cell) = self.grid.get_mut(&key) else {
            return;
        };
        for (h, _) in records(&old, home, slot, 0) {
            cell.kill(slot, h.from, h.radius_km);
        }
        if cell.is_empty() {
            self.grid.remove(&key);
        }
    }

    /// Calls `visit` with every cell of `area` that `keep` does not rule out.
    /// `visit` gets the squared planar distance to the cell too.
    fn cells<'a>(
        &'a self,
        area: &Area,
        mut keep: impl FnMut(&Cell, f64) -> bool,
        mut visit: impl FnMut(&'a Cell, f64),
    ) {
        let mut consider = |key: CellKey, cell: &'a Cell| {
            let gap_sq = area.cell_sq(key);
            if keep(cell, gap_sq) {
                visit(cell, gap_sq);
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
            |cell, _| {
                for (h, x) in cell.hot.iter().zip(&cell.exact) {
                    if h.flags & FIRST == 0 || !within(area.planar_sq(h), radius_km) {
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
        // The bits decide the skills alone when every required skill has a bit; required
        // languages have no bits and are left to `check`.
        let skills_exact = task.required_languages.is_empty()
            && task
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
            |cell, gap_sq| {
                let may_reach = |radius_km: f32| within(gap_sq, reach.min(f64::from(radius_km)));
                let keep = |b: &Block| {
                    b.skills & required == required && b.until >= until && may_reach(b.radius_km)
                };
                cell.begun_by(from, may_reach, keep, |range| {
                    for i in range {
                        let h = &cell.hot[i];
                        // One branch for the cheap filters: their outcomes are unpredictable.
                        let pass = (h.flags & ACTIVE != 0)
                            & (h.skills & required == required)
                            & (h.min_age >= min_age)
                            & (h.from <= from)
                            & (h.until >= until)
                            & within(area.planar_sq(h), f64::from(h.radius_km).min(task_max));
                        if !pass {
                            continue;
                        }
                        let x = &cell.exact[i];
                        // What `check` decides, from the exact record where it suffices.
                        let decided = match x.run {
                            Some(run) if skills_exact => {
                                let d = haversine_km(x.home, task.location);
                                (!(task.min_age > 0 && x.min_age < task.min_age)
                                    && run.start <= task.window.start
                                    && run.end >= task.window.end
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
                });
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
            |cell, gap_sq| {
                let may_reach = |r: f32| within(gap_sq, radius_km + f64::from(r));
                let keep = |b: &Block| b.until >= now_minute && may_reach(b.radius_km);
                cell.begun_by(i32::MAX, may_reach, keep, |range| {
                    for i in range {
                        let (h, x) = (&cell.hot[i], &cell.exact[i]);
                        // The last run ends last: it alone says whether availability is over.
                        if h.flags & (ACTIVE | LAST) != ACTIVE | LAST
                            || h.until < now_minute
                            || !within(area.planar_sq(h), radius_km + f64::from(h.radius_km))
                            || haversine_km(x.home, centre) > radius_km + x.radius_km
                        {
                            continue;
                        }
                        let available = match x.run {
                            Some(run) => run.end > now,
                            None => self
                                .volunteer(x.slot)
                                .is_some_and(|v| v.availability.iter().any(|w| w.end > now)),
                        };
                        if available {
                            count += 1;
                        }
                    }
                });
            },
        );
        count
    }
}
