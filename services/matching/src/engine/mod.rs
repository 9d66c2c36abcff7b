//! The matching engine: eligibility, ranking with explanations, and the in-memory spatial
//! index of volunteers. Pure and synchronous: no database, no clock beyond its arguments.
//!
//! What the engine cannot know from memory (a volunteer's other active matches, hours already
//! assigned, earlier matches for the same task) the caller loads and passes in; whether an
//! offer may really be made is finally decided by PostgreSQL's exclusion constraint.
//!
//! Layout: `mod.rs` (eligibility and ranking), `index.rs` ([`VolunteerIndex`], the spatial
//! index of volunteers) over `grid.rs` (its cells of packed records), `tests.rs`.

use serde::{Deserialize, Serialize};
use spontan_platform::languages;
use uuid::Uuid;

use crate::domain::{Point, Task, Volunteer, VolunteerStatus};

mod grid;
mod index;
pub use index::VolunteerIndex;

/// Why a volunteer is not eligible for a task (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    NotActive,
    MissingSkill,
    MissingLanguage,
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
    /// The task's preferred languages the volunteer speaks, as the task names them.
    #[serde(default)]
    pub preferred_languages_matched: Vec<String>,
    /// The task's required languages (the volunteer speaks every one).
    #[serde(default)]
    pub required_languages_matched: Vec<String>,
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
    if !task
        .required_languages
        .iter()
        .all(|l| languages::speaks(&volunteer.languages, l))
    {
        return Err(Ineligible::MissingLanguage);
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

/// An eligible candidate before ranking. Plain data without allocations: a task in a flood
/// area has hundreds of thousands of them.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub volunteer_id: Uuid,
    pub distance_km: f64,
    /// Which of the task's preferred skills the volunteer has: bit `i` for
    /// `task.preferred_skills[i]` (the first 64; the task service allows 20).
    pub preferred_skills: u64,
    /// Which of the task's preferred languages the volunteer speaks: bit `i` for
    /// `task.preferred_languages[i]` (the first 16; the task service allows 10).
    pub preferred_languages: u16,
    pub assigned_hours: f64,
}

impl Candidate {
    pub fn new(volunteer: &Volunteer, task: &Task, distance_km: f64, assigned_hours: f64) -> Self {
        Self {
            volunteer_id: volunteer.id,
            distance_km,
            preferred_skills: task
                .preferred_skills
                .iter()
                .take(64)
                .enumerate()
                .filter(|(_, s)| volunteer.skills.contains(s))
                .fold(0, |bits, (i, _)| bits | 1 << i),
            preferred_languages: task
                .preferred_languages
                .iter()
                .take(16)
                .enumerate()
                .filter(|(_, l)| languages::speaks(&volunteer.languages, l))
                .fold(0, |bits, (i, _)| bits | 1 << i),
            assigned_hours,
        }
    }

    /// How many of the task's preferred skills the volunteer has.
    pub fn preferred_count(&self) -> usize {
        self.preferred_skills.count_ones() as usize
    }

    /// How many of the task's preferred languages the volunteer speaks.
    pub fn preferred_language_count(&self) -> usize {
        self.preferred_languages.count_ones() as usize
    }

    /// The names of the task's preferred skills the volunteer has, in the task's order.
    fn preferred_names(&self, task: &Task) -> Vec<String> {
        named(&task.preferred_skills, self.preferred_skills)
    }

    /// The task's preferred languages the volunteer speaks, in the task's order.
    fn preferred_language_names(&self, task: &Task) -> Vec<String> {
        named(
            &task.preferred_languages,
            u64::from(self.preferred_languages),
        )
    }
}

/// The entries of `list` whose bit is set in `bits`.
fn named(list: &[String], bits: u64) -> Vec<String> {
    list.iter()
        .take(64)
        .enumerate()
        .filter(|(i, _)| bits & 1 << i != 0)
        .map(|(_, s)| s.clone())
        .collect()
}

/// A candidate in rank order, with the explanation to store.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub volunteer_id: Uuid,
    pub explanation: Explanation,
}

/// Ranks candidates best first: a score in [0, 1] from distance (half), preferred skills and
/// languages matched (three tenths, each preferred skill or language counting alike) and hours already assigned (one fifth, fewer is better); ties go to
/// the nearer volunteer, then the lower id, so the order is deterministic.
pub fn rank(task: &Task, candidates: &[Candidate]) -> Vec<Ranked> {
    rank_top(task, candidates, usize::MAX)
}

/// The first `k` of [`rank`]'s order, without explaining the rest: a task in a flood area has
/// tens of thousands of candidates and needs a handful of offers.
pub fn rank_top(task: &Task, candidates: &[Candidate], k: usize) -> Vec<Ranked> {
    let reach = if task.max_distance_km > 0.0 {
        task.max_distance_km
    } else {
        candidates.iter().map(|c| c.distance_km).fold(1.0, f64::max)
    };
    let preferred_total = task.preferred_skills.len();
    let languages_total = task.preferred_languages.len();
    let mut scored: Vec<(f64, f64, Candidate)> = candidates
        .iter()
        .map(|&c| {
            let near = (1.0 - c.distance_km / reach).clamp(0.0, 1.0);
            let skills = if preferred_total + languages_total == 0 {
                1.0
            } else {
                (c.preferred_count() + c.preferred_language_count()) as f64
                    / (preferred_total + languages_total) as f64
            };
            let rested = 1.0 / (1.0 + c.assigned_hours / 8.0);
            let score = 0.5 * near + 0.3 * skills + 0.2 * rested;
            ((c.distance_km * 10.0).round() / 10.0, score, c)
        })
        .collect();
    let order = |a: &(f64, f64, Candidate), b: &(f64, f64, Candidate)| {
        b.1.total_cmp(&a.1)
            .then(a.0.total_cmp(&b.0))
            .then(a.2.volunteer_id.cmp(&b.2.volunteer_id))
    };
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored
        .into_iter()
        .map(|(distance_km, score, c)| {
            let languages = if languages_total == 0 {
                String::new()
            } else {
                format!(
                    ", {} of {} preferred languages",
                    c.preferred_language_count(),
                    languages_total
                )
            };
            let summary = format!(
                "{:.1} km, {} of {} preferred skills{languages}, {:.0} h already assigned",
                c.distance_km,
                c.preferred_count(),
                preferred_total,
                c.assigned_hours
            );
            Ranked {
                volunteer_id: c.volunteer_id,
                explanation: Explanation {
                    distance_km,
                    preferred_skills_matched: c.preferred_names(task),
                    preferred_languages_matched: c.preferred_language_names(task),
                    required_languages_matched: task.required_languages.clone(),
                    assigned_hours: c.assigned_hours,
                    score,
                    summary,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
