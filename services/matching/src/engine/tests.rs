use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::domain::{TaskStatus, Window};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0)
        .single()
        .expect("valid time")
}

const BERLIN: Point = Point {
    lat: 52.52,
    lon: 13.405,
};

fn task() -> Task {
    Task {
        id: Uuid::from_u128(1),
        incident_id: Uuid::from_u128(2),
        organisation_id: "org".into(),
        title: "sandbags".into(),
        address: "here".into(),
        required_skills: vec!["first_aid".into()],
        preferred_skills: vec!["driving".into(), "lifting".into()],
        required_languages: vec![],
        preferred_languages: vec![],
        min_age: 18,
        headcount: 2,
        window: Window::new(at(10), at(12)).expect("window"),
        priority: 1,
        location: BERLIN,
        max_distance_km: 20.0,
        status: TaskStatus::Open,
        version: 1,
    }
}

fn volunteer(n: u128, km_north: f64) -> Volunteer {
    Volunteer {
        id: Uuid::from_u128(n),
        skills: vec!["first_aid".into()],
        languages: vec!["de".into()],
        age_band: 2,
        min_age_reached: 18,
        location: Some(Point {
            lat: BERLIN.lat + km_north / 111.2,
            lon: BERLIN.lon,
        }),
        travel_radius_km: 30.0,
        availability: vec![Window::new(at(8), at(18)).expect("window")],
        status: VolunteerStatus::Active,
        version: 1,
    }
}

#[test]
fn haversine_is_about_right() {
    let hamburg = Point {
        lat: 53.551,
        lon: 9.994,
    };
    let d = haversine_km(BERLIN, hamburg);
    assert!((d - 255.0).abs() < 3.0, "{d}");
}

#[test]
fn each_rule_excludes_for_its_own_reason() {
    let t = task();
    assert!(check(&volunteer(1, 2.0), &t).is_ok());

    let mut paused = volunteer(2, 2.0);
    paused.status = VolunteerStatus::Paused;
    assert_eq!(check(&paused, &t), Err(Ineligible::NotActive));

    let mut unskilled = volunteer(3, 2.0);
    unskilled.skills.clear();
    assert_eq!(check(&unskilled, &t), Err(Ineligible::MissingSkill));

    let mut minor = volunteer(4, 2.0);
    minor.min_age_reached = 16;
    assert_eq!(check(&minor, &t), Err(Ineligible::TooYoung));

    let mut busy = volunteer(5, 2.0);
    busy.availability = vec![Window::new(at(11), at(18)).expect("window")];
    assert_eq!(check(&busy, &t), Err(Ineligible::NotAvailable));

    // Inside the volunteer's radius but beyond the task's maximum distance.
    let mut far = volunteer(6, 25.0);
    far.travel_radius_km = 100.0;
    assert_eq!(check(&far, &t), Err(Ineligible::TooFar));

    // Inside the task's maximum distance but beyond the volunteer's radius.
    let mut homebound = volunteer(7, 5.0);
    homebound.travel_radius_km = 3.0;
    assert_eq!(check(&homebound, &t), Err(Ineligible::TooFar));
}

#[test]
fn ranking_prefers_near_skilled_and_rested_volunteers() {
    let t = task();
    let near = volunteer(1, 1.0);
    let mut skilled = volunteer(2, 6.0);
    skilled.skills.push("driving".into());
    skilled.skills.push("lifting".into());
    let tired = volunteer(3, 1.0);
    let candidates = vec![
        Candidate::new(&tired, &t, 1.0, 16.0),
        Candidate::new(&near, &t, 1.0, 0.0),
        Candidate::new(&skilled, &t, 6.0, 0.0),
    ];
    let ranked = rank(&t, &candidates);
    let order: Vec<u128> = ranked.iter().map(|r| r.volunteer_id.as_u128()).collect();
    assert_eq!(order, [2, 1, 3]);
    assert_eq!(
        ranked[0].explanation.preferred_skills_matched, t.preferred_skills,
        "the skilled volunteer has both preferred skills, named in the task's order"
    );
    assert!(ranked[1].explanation.preferred_skills_matched.is_empty());
    assert!(
        ranked[0]
            .explanation
            .summary
            .contains("2 of 2 preferred skills")
    );
    assert!(
        ranked
            .iter()
            .all(|r| (0.0..=1.0).contains(&r.explanation.score))
    );
}

#[test]
fn the_top_k_are_the_first_k_of_the_full_ranking() {
    let t = task();
    // Ties on purpose: equal distances and hours, so the id decides.
    let candidates: Vec<Candidate> = (0..500u128)
        .map(|n| {
            let mut v = volunteer(n, (n % 37) as f64 * 0.4);
            if n % 3 == 0 {
                v.skills.push("driving".into());
            }
            Candidate::new(&v, &t, (n % 37) as f64 * 0.4, (n % 5) as f64 * 4.0)
        })
        .collect();
    let ids =
        |ranked: Vec<Ranked>| -> Vec<Uuid> { ranked.iter().map(|r| r.volunteer_id).collect() };
    let all = ids(rank(&t, &candidates));
    assert_eq!(all.len(), 500);
    for k in [0, 1, 7, 100, 499, 500, 501] {
        let top = ids(rank_top(&t, &candidates, k));
        assert_eq!(top, all[..k.min(500)], "k = {k}");
    }
}

#[test]
fn the_index_finds_only_eligible_volunteers_within_reach() {
    let t = task();
    let mut index = VolunteerIndex::default();
    index.upsert(volunteer(1, 2.0));
    index.upsert(volunteer(2, 15.0));
    let mut far = volunteer(3, 150.0);
    far.travel_radius_km = 200.0;
    index.upsert(far);
    let mut paused = volunteer(4, 1.0);
    paused.status = VolunteerStatus::Paused;
    index.upsert(paused);
    let mut found: Vec<u128> = index
        .eligible_for(&t)
        .iter()
        .map(|(v, _)| v.id.as_u128())
        .collect();
    found.sort_unstable();
    assert_eq!(found, [1, 2]);

    // An older version never replaces a newer one; erasure removes.
    let mut stale = volunteer(1, 2.0);
    stale.version = 0;
    stale.status = VolunteerStatus::Paused;
    index.upsert(stale);
    assert_eq!(
        index.get(&Uuid::from_u128(1)).map(|v| v.status),
        Some(VolunteerStatus::Active)
    );
    let mut erased = volunteer(1, 2.0);
    erased.version = 2;
    erased.status = VolunteerStatus::Erased;
    index.upsert(erased);
    assert!(index.get(&Uuid::from_u128(1)).is_none());
    assert_eq!(index.reachable_count(BERLIN, 10.0, at(9)), 2);
}

#[test]
fn a_required_language_excludes_those_who_do_not_speak_it() {
    let mut t = task();
    t.required_languages = vec!["uk".into()];
    let german = volunteer(1, 2.0);
    assert_eq!(check(&german, &t), Err(Ineligible::MissingLanguage));
    let mut ukrainian = volunteer(2, 3.0);
    // A region in the volunteer's tag does not matter: the primary subtag does.
    ukrainian.languages = vec!["de".into(), "uk-UA".into()];
    assert!(check(&ukrainian, &t).is_ok());

    // The index leaves languages to `check`: it finds the Ukrainian speaker only.
    let mut index = VolunteerIndex::default();
    index.upsert(german);
    index.upsert(ukrainian);
    let found: Vec<u128> = index
        .eligible_for(&t)
        .iter()
        .map(|(v, _)| v.id.as_u128())
        .collect();
    assert_eq!(found, [2]);

    let ranked = rank(
        &t,
        &[Candidate::new(
            index.get(&Uuid::from_u128(2)).expect("in"),
            &t,
            3.0,
            0.0,
        )],
    );
    assert_eq!(ranked[0].explanation.required_languages_matched, ["uk"]);
}

#[test]
fn a_preferred_language_ranks_a_speaker_higher_and_is_explained() {
    let mut t = task();
    t.preferred_skills.clear();
    t.preferred_languages = vec!["ar".into(), "en".into()];
    let nearer = volunteer(1, 2.0);
    let mut arabic = volunteer(2, 4.0);
    arabic.languages = vec!["ar".into(), "de".into()];
    let ranked = rank(
        &t,
        &[
            Candidate::new(&nearer, &t, 2.0, 0.0),
            Candidate::new(&arabic, &t, 4.0, 0.0),
        ],
    );
    let order: Vec<u128> = ranked.iter().map(|r| r.volunteer_id.as_u128()).collect();
    assert_eq!(
        order,
        [2, 1],
        "one of two preferred languages outweighs 2 km"
    );
    assert_eq!(ranked[0].explanation.preferred_languages_matched, ["ar"]);
    assert!(ranked[1].explanation.preferred_languages_matched.is_empty());
    assert!(
        ranked[0]
            .explanation
            .summary
            .contains("1 of 2 preferred languages"),
        "{}",
        ranked[0].explanation.summary
    );
}

/// A small deterministic generator for the randomised comparison below.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The grid, skill bits and availability spans are only shortcuts: for random volunteers,
/// tasks and updates (moves, pauses, removals), the index answers exactly what checking every
/// volunteer answers.
#[test]
fn the_index_agrees_with_checking_everyone() {
    let skills = ["first_aid", "driving", "lifting", "boat", "cooking"];
    let mut rng = Lcg(7);
    let mut all: HashMap<Uuid, Volunteer> = HashMap::new();
    let mut index = VolunteerIndex::default();
    let random_volunteer = |rng: &mut Lcg, n: u128, version: i64| {
        let start = 6 + (rng.next() * 6.0) as u32;
        let end = (start + 1 + (rng.next() * 10.0) as u32).min(23);
        Volunteer {
            id: Uuid::from_u128(n),
            skills: skills
                .iter()
                .filter(|_| rng.next() < 0.4)
                .map(|s| (*s).to_owned())
                .collect(),
            // From the number, not the generator, so that the draws above stay as they were.
            languages: match n % 3 {
                0 => vec!["de".into(), "uk-UA".into()],
                1 => vec!["ar".into()],
                _ => vec!["de".into()],
            },
            age_band: 2,
            min_age_reached: [0, 16, 18, 26][(rng.next() * 4.0) as usize],
            location: (rng.next() < 0.95).then(|| Point {
                lat: BERLIN.lat + (rng.next() - 0.5) * 1.6,
                lon: BERLIN.lon + (rng.next() - 0.5) * 2.4,
            }),
            travel_radius_km: 1.0 + rng.next() * 40.0,
            availability: match rng.next() {
                r if r < 0.1 => vec![],
                // Two windows, adjacent or with a gap: the slow path of the index.
                r if r < 0.35 => {
                    let gap = u32::from(r < 0.2);
                    let middle = (start + 1).min(end - 1).max(start + 1);
                    vec![
                        Window::new(at(start), at(middle)).expect("window"),
                        Window::new(at(middle + gap), at(end.max(middle + gap + 1)))
                            .expect("window"),
                    ]
                }
                _ => vec![Window::new(at(start), at(end)).expect("window")],
            },
            status: if rng.next() < 0.9 {
                VolunteerStatus::Active
            } else {
                VolunteerStatus::Paused
            },
            version,
        }
    };
    for n in 1..=3000u128 {
        let v = random_volunteer(&mut rng, n, 1);
        all.insert(v.id, v.clone());
        index.upsert(v);
    }
    // Updates and removals move entries around inside cells.
    for round in 0..1500u128 {
        let n = 1 + (rng.next() * 3000.0) as u128;
        if round % 3 == 0 {
            all.remove(&Uuid::from_u128(n));
            index.remove(&Uuid::from_u128(n));
        } else {
            let v = random_volunteer(&mut rng, n, 2 + round as i64);
            all.insert(v.id, v.clone());
            index.upsert(v);
        }
    }
    assert_eq!(index.len(), all.len());
    let mut eligible_seen = 0;
    // The last 50 rounds require Ukrainian, which the index leaves to `check`.
    for round in 0..250 {
        let mut t = task();
        t.location = Point {
            lat: BERLIN.lat + (rng.next() - 0.5) * 1.4,
            lon: BERLIN.lon + (rng.next() - 0.5) * 2.0,
        };
        t.required_skills = skills
            .iter()
            .filter(|_| rng.next() < 0.3)
            .map(|s| (*s).to_owned())
            .collect();
        if round % 10 == 0 {
            t.required_skills.push("unheard_of".into());
        }
        t.min_age = [0, 16, 18, 21][round % 4];
        t.max_distance_km = [0.0, 5.0, 20.0][round % 3];
        if round >= 200 {
            t.required_languages = vec!["uk".into()];
        }
        let start = 7 + (rng.next() * 8.0) as u32;
        t.window = Window::new(at(start), at(start + 2)).expect("window");

        let radius = rng.next() * 30.0;
        eligible_seen += assert_index_agrees(&index, &all, &t, radius, at(start), round);
    }
    // The comparison means something only if many volunteers were eligible.
    assert!(eligible_seen > 1000, "{eligible_seen}");
}

/// The index answers as a scan of everyone does: `eligible_for` the same volunteers at the
/// same distances as `check`, `near` those within `radius`, `reachable_count` the active ones
/// still available at `now` who reach `radius` from the task. Returns how many were eligible.
fn assert_index_agrees(
    index: &VolunteerIndex,
    all: &HashMap<Uuid, Volunteer>,
    t: &Task,
    radius: f64,
    now: DateTime<Utc>,
    round: impl std::fmt::Display,
) -> usize {
    let mut fast: Vec<(u128, f64)> = index
        .eligible_for(t)
        .iter()
        .map(|(v, d)| (v.id.as_u128(), *d))
        .collect();
    let mut slow: Vec<(u128, f64)> = all
        .values()
        .filter_map(|v| check(v, t).ok().map(|d| (v.id.as_u128(), d)))
        .collect();
    fast.sort_by_key(|c| c.0);
    slow.sort_by_key(|c| c.0);
    assert_eq!(fast, slow, "eligible_for in round {round}");

    let mut near: Vec<u128> = index
        .near(t.location, radius)
        .iter()
        .map(|(v, _)| v.id.as_u128())
        .collect();
    let mut in_reach: Vec<u128> = all
        .values()
        .filter(|v| {
            v.location
                .is_some_and(|p| haversine_km(p, t.location) <= radius)
        })
        .map(|v| v.id.as_u128())
        .collect();
    near.sort_unstable();
    in_reach.sort_unstable();
    assert_eq!(near, in_reach, "near in round {round}");

    let reachable = all
        .values()
        .filter(|v| {
            v.status == VolunteerStatus::Active
                && v.location
                    .is_some_and(|p| haversine_km(p, t.location) <= radius + v.travel_radius_km)
                && v.availability.iter().any(|w| w.end > now)
        })
        .count();
    assert_eq!(
        index.reachable_count(t.location, radius, now),
        reachable,
        "reachable_count in round {round}"
    );
    slow.len()
}

/// Availability windows in any shape: none, several with gaps, touching, overlapping, and
/// (against the domain's promise, to exercise the fallback) out of order.
fn random_windows(rng: &mut Lcg) -> Vec<Window> {
    let count = (rng.next() * 5.0) as usize;
    let mut windows: Vec<Window> = Vec::new();
    let mut hour = (rng.next() * 8.0) as u32;
    for _ in 0..count {
        let start = hour.min(22);
        let end = (start + 1 + (rng.next() * 4.0) as u32).min(23);
        windows.push(Window::new(at(start), at(end)).expect("window"));
        // Next start: overlapping, touching or after a gap.
        hour = match rng.next() {
            r if r < 0.2 => start + 1,
            r if r < 0.5 => end,
            _ => end + 1 + (rng.next() * 3.0) as u32,
        };
    }
    if rng.next() < 0.05 {
        windows.reverse();
    }
    windows
}

/// Many volunteers in a few cells, so that cells merge their unsorted tails and drop dead
/// records while searches run between the updates: the index still answers exactly what
/// checking every volunteer answers, for eligibility and for the reachable count.
#[test]
fn crowded_cells_agree_with_checking_everyone() {
    let skills = ["first_aid", "driving", "lifting"];
    let mut rng = Lcg(11);
    let mut all: HashMap<Uuid, Volunteer> = HashMap::new();
    let mut index = VolunteerIndex::default();
    let mut eligible_seen = 0;
    for round in 0..6000u32 {
        let n = 1 + (rng.next() * 2500.0) as u128;
        if round % 5 == 0 {
            all.remove(&Uuid::from_u128(n));
            index.remove(&Uuid::from_u128(n));
        } else {
            let v = Volunteer {
                id: Uuid::from_u128(n),
                skills: skills
                    .iter()
                    .filter(|_| rng.next() < 0.5)
                    .map(|s| (*s).to_owned())
                    .collect(),
                languages: vec![],
                age_band: 2,
                min_age_reached: [0, 16, 18][(rng.next() * 3.0) as usize],
                // About 0.2° square: a handful of cells.
                location: Some(Point {
                    lat: BERLIN.lat + (rng.next() - 0.5) * 0.2,
                    lon: BERLIN.lon + (rng.next() - 0.5) * 0.3,
                }),
                // Every travel radius class of the index.
                travel_radius_km: 1.0 + rng.next() * 44.0,
                availability: random_windows(&mut rng),
                status: if rng.next() < 0.9 {
                    VolunteerStatus::Active
                } else {
                    VolunteerStatus::Paused
                },
                version: i64::from(round),
            };
            all.insert(v.id, v.clone());
            index.upsert(v);
        }
        if round % 50 != 0 {
            continue;
        }
        assert_eq!(index.len(), all.len());
        // Some tasks among the volunteers, some up to 40 km away.
        let mut t = task();
        t.location = Point {
            lat: BERLIN.lat + (rng.next() - 0.5) * 0.7,
            lon: BERLIN.lon + (rng.next() - 0.5) * 1.0,
        };
        t.required_skills = skills
            .iter()
            .filter(|_| rng.next() < 0.4)
            .map(|s| (*s).to_owned())
            .collect();
        t.min_age = [0, 16, 18][(round / 50) as usize % 3];
        t.max_distance_km = [0.0, 3.0, 15.0][(round / 50) as usize % 3];
        let start = (rng.next() * 12.0) as u32;
        let hours = 1 + (rng.next() * 4.0) as u32;
        t.window = Window::new(at(start), at(start + hours)).expect("window");
        let radius = rng.next() * 20.0;
        eligible_seen += assert_index_agrees(&index, &all, &t, radius, at(start), round);
    }
    assert!(eligible_seen > 1000, "{eligible_seen}");
}

/// Windows that touch are one run, as `available_for` joins them; a gap is not bridged.
#[test]
fn touching_windows_cover_a_task_and_gaps_do_not() {
    let mut t = task();
    t.window = Window::new(at(10), at(14)).expect("window");
    let mut joined = volunteer(1, 1.0);
    joined.availability = vec![
        Window::new(at(9), at(11)).expect("window"),
        Window::new(at(11), at(12)).expect("window"),
        Window::new(at(11), at(15)).expect("window"),
    ];
    let mut gap = volunteer(2, 1.0);
    gap.availability = vec![
        Window::new(at(9), at(11)).expect("window"),
        Window::new(at(12), at(16)).expect("window"),
    ];
    let mut later = volunteer(3, 1.0);
    later.availability = vec![
        Window::new(at(6), at(8)).expect("window"),
        Window::new(at(10), at(14)).expect("window"),
    ];
    let mut index = VolunteerIndex::default();
    for v in [joined, gap, later] {
        index.upsert(v);
    }
    let mut found: Vec<u128> = index
        .eligible_for(&t)
        .iter()
        .map(|(v, _)| v.id.as_u128())
        .collect();
    found.sort_unstable();
    assert_eq!(found, [1, 3]);
    // Each volunteer once, however many runs they have.
    assert_eq!(index.near(BERLIN, 5.0).len(), 3);
    assert_eq!(index.reachable_count(BERLIN, 5.0, at(13)), 3);
    assert_eq!(index.reachable_count(BERLIN, 5.0, at(14)), 2);
}
