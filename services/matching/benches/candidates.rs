//! Candidate search for one task over 1,000,000 volunteers in memory (issue #8: p99 under
//! 1 ms). Run with
//!
//! ```sh
//! cargo bench -p spontan-matching --bench candidates
//! ```
//!
//! It builds a [`VolunteerIndex`] of generated volunteers (`SPONTAN_BENCH_VOLUNTEERS`,
//! default 1,000,000) spread like people over Germany: a tenth around Bad
//! Neuenahr-Ahrweiler (the flood area), three fifths around twenty cities by population, the
//! rest anywhere in the country; skills from the platform taxonomy with realistic rarity,
//! age bands, travel radii and availability windows. It first checks that the index finds
//! exactly what a scan of every volunteer with [`engine::check`] finds, then times
//! `eligible_for` for four task shapes two ways: each search on its own over 2,000 tasks of
//! the shape (p50/p99/max from the sorted times, printed as a table), and criterion's mean
//! with confidence interval. Deterministic: the same volunteers and tasks every run. It also
//! prints what the index added to the resident set size (bytes per volunteer).

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{BatchSize, Criterion};
use spontan_matching::domain::{
    Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window, age_band_floor,
};
use spontan_matching::engine::{self, Candidate, VolunteerIndex};
use spontan_platform::skills::TAXONOMY;
use uuid::Uuid;

/// A small deterministic generator (no dependency, same numbers every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (sum of four uniforms), mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        (self.next() + self.next() + self.next() + self.next() - 2.0) * 3.0_f64.sqrt()
    }
}

const AHRWEILER: Point = Point {
    lat: 50.5427,
    lon: 7.1125,
};

/// Cities and their population in thousands (weights for where volunteers live).
const CITIES: [(f64, f64, f64); 20] = [
    (52.520, 13.405, 3850.0), // Berlin
    (53.551, 9.994, 1900.0),  // Hamburg
    (48.137, 11.576, 1510.0), // München
    (50.938, 6.960, 1090.0),  // Köln
    (50.110, 8.682, 770.0),   // Frankfurt
    (48.776, 9.183, 630.0),   // Stuttgart
    (51.227, 6.774, 630.0),   // Düsseldorf
    (51.340, 12.375, 620.0),  // Leipzig
    (51.514, 7.466, 590.0),   // Dortmund
    (51.456, 7.012, 580.0),   // Essen
    (53.079, 8.802, 570.0),   // Bremen
    (51.050, 13.738, 560.0),  // Dresden
    (52.376, 9.732, 540.0),   // Hannover
    (49.452, 11.077, 520.0),  // Nürnberg
    (51.435, 6.762, 500.0),   // Duisburg
    (51.482, 7.216, 365.0),   // Bochum
    (51.256, 7.151, 355.0),   // Wuppertal
    (52.022, 8.532, 335.0),   // Bielefeld
    (50.735, 7.100, 335.0),   // Bonn
    (50.357, 7.588, 115.0),   // Koblenz
];

/// How common a skill is among volunteers; anything not listed is 3%.
fn skill_share(id: &str) -> f64 {
    match id {
        "heavy_lifting" => 0.55,
        "sandbag_filling" => 0.45,
        "driving_licence_b" => 0.60,
        "mud_clearing" | "cleaning" => 0.40,
        "debris_removal" => 0.30,
        "own_vehicle" => 0.35,
        "first_aid" => 0.25,
        "cooking" | "donations_sorting" => 0.20,
        "pumping" | "logistics" | "translation_en" => 0.15,
        "childcare" | "elderly_care" | "animal_care" | "driving_licence_be" => 0.08,
        "nursing_care" | "medical_professional" | "psychosocial_support" => 0.04,
        "translation_ar" | "translation_tr" | "translation_ru" | "translation_pl" => 0.02,
        "radio_operator" | "sign_language" | "translation_fa" | "drone_pilot" => 0.004,
        "structural_assessment" => 0.002,
        _ => 0.03,
    }
}

fn volunteers(count: usize, now: DateTime<Utc>, rng: &mut Lcg) -> Vec<Volunteer> {
    let population: f64 = CITIES.iter().map(|c| c.2).sum();
    (0..count)
        .map(|i| {
            let place = rng.next();
            let (lat, lon) = if place < 0.1 {
                // The flood area: about 13 km either way.
                (
                    AHRWEILER.lat + rng.normal() * 0.12,
                    AHRWEILER.lon + rng.normal() * 0.18,
                )
            } else if place < 0.7 {
                let mut pick = rng.next() * population;
                let mut city = CITIES[0];
                for c in CITIES {
                    if pick < c.2 {
                        city = c;
                        break;
                    }
                    pick -= c.2;
                }
                (city.0 + rng.normal() * 0.15, city.1 + rng.normal() * 0.22)
            } else {
                (47.3 + rng.next() * 7.7, 5.9 + rng.next() * 9.1)
            };
            let skills = TAXONOMY
                .iter()
                .filter(|s| rng.next() < skill_share(s.id))
                .map(|s| s.id.to_owned())
                .collect();
            let band = 1 + (rng.next() * 6.0) as i32;
            let start = now + Duration::minutes((rng.next() * 36.0 * 60.0) as i64 - 12 * 60);
            let hours = 4 + (rng.next() * 9.0) as i64;
            let availability = match rng.next() {
                x if x < 0.1 => Vec::new(),
                x if x < 0.3 => vec![
                    window(start, start + Duration::hours(hours)),
                    window(
                        start + Duration::hours(24),
                        start + Duration::hours(24 + hours),
                    ),
                ],
                _ => vec![window(start, start + Duration::hours(hours))],
            };
            let radius = rng.next();
            Volunteer {
                id: Uuid::from_u128(i as u128 + 1),
                skills,
                languages: vec!["de".into()],
                age_band: band,
                min_age_reached: age_band_floor(band),
                location: Some(Point { lat, lon }),
                travel_radius_km: (5.0 + 45.0 * radius * radius).round(),
                availability,
                status: if rng.next() < 0.95 {
                    VolunteerStatus::Active
                } else {
                    VolunteerStatus::Paused
                },
                version: 1,
            }
        })
        .collect()
}

fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
    Window::new(start, end).expect("start before end")
}

/// The task shapes: a name, what it needs, where it is placed.
#[derive(Clone, Copy)]
enum Shape {
    /// Sandbags in the flood area: a common skill where volunteers are densest.
    Dense,
    /// First aid anywhere in the countryside (uniformly placed).
    Sparse,
    /// A structural engineer (0.2% of volunteers) in the flood area, no distance limit.
    RareSkill,
    /// Two skills and adults only, in Köln.
    City,
}

const SHAPES: [(Shape, &str); 4] = [
    (Shape::Dense, "dense"),
    (Shape::Sparse, "sparse"),
    (Shape::RareSkill, "rare_skill"),
    (Shape::City, "city"),
];

fn task(shape: Shape, n: u128, now: DateTime<Utc>, rng: &mut Lcg) -> Task {
    let (required, preferred, min_age, max_km, location): (&[&str], &[&str], u32, f64, Point) =
        match shape {
            Shape::Dense => (
                &["sandbag_filling"],
                &["heavy_lifting"],
                16,
                30.0,
                Point {
                    lat: AHRWEILER.lat + rng.normal() * 0.03,
                    lon: AHRWEILER.lon + rng.normal() * 0.05,
                },
            ),
            Shape::Sparse => (
                &["first_aid"],
                &[],
                18,
                50.0,
                Point {
                    lat: 47.5 + rng.next() * 7.3,
                    lon: 6.2 + rng.next() * 8.6,
                },
            ),
            Shape::RareSkill => (
                &["structural_assessment"],
                &["driving_licence_b"],
                18,
                0.0,
                Point {
                    lat: AHRWEILER.lat + rng.normal() * 0.03,
                    lon: AHRWEILER.lon + rng.normal() * 0.05,
                },
            ),
            Shape::City => (
                &["heavy_lifting", "driving_licence_b"],
                &["own_van"],
                18,
                20.0,
                Point {
                    lat: 50.938 + rng.normal() * 0.05,
                    lon: 6.960 + rng.normal() * 0.07,
                },
            ),
        };
    let start = now + Duration::minutes(60 + (rng.next() * 240.0) as i64);
    Task {
        id: Uuid::from_u128(1 << 64 | n),
        incident_id: Uuid::nil(),
        organisation_id: "bench".into(),
        title: "task".into(),
        address: "here".into(),
        required_skills: required.iter().map(|s| (*s).to_owned()).collect(),
        preferred_skills: preferred.iter().map(|s| (*s).to_owned()).collect(),
        required_languages: vec![],
        preferred_languages: vec![],
        min_age,
        headcount: 5,
        window: window(start, start + Duration::hours(3)),
        priority: 2,
        location,
        max_distance_km: max_km,
        status: TaskStatus::Open,
        version: 1,
    }
}

fn percentile(sorted: &[StdDuration], q: f64) -> StdDuration {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Resident set size of this process (Linux), 0 where unknown: what building the index
/// added is the difference around it (the volunteers it copies from stay alive meanwhile).
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn us(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let count: usize = std::env::var("SPONTAN_BENCH_VOLUNTEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // A fixed "now" keeps windows, and so the numbers, the same every run.
    let now = Utc
        .with_ymd_and_hms(2026, 7, 14, 18, 0, 0)
        .single()
        .expect("valid time");
    let mut rng = Lcg(8);
    let started = Instant::now();
    let all = volunteers(count, now, &mut rng);
    let generated = started.elapsed();
    let rss_before = resident_bytes();
    let started = Instant::now();
    let mut index = VolunteerIndex::default();
    for v in &all {
        index.upsert(v.clone());
    }
    let indexed = started.elapsed();
    let index_bytes = resident_bytes().saturating_sub(rss_before);
    println!(
        "{count} volunteers generated in {generated:.1?}, indexed in {indexed:.1?}; \
         the index added {:.0} MB resident ({:.0} bytes per volunteer)",
        index_bytes as f64 / 1e6,
        index_bytes as f64 / count as f64
    );

    // The index must find exactly what checking everyone finds.
    for (shape, name) in SHAPES {
        for n in 0..5 {
            let t = task(shape, n, now, &mut rng);
            let mut fast: Vec<Uuid> = index.eligible_for(&t).iter().map(|(v, _)| v.id).collect();
            let mut slow: Vec<Uuid> = all
                .iter()
                .filter(|v| engine::check(v, &t).is_ok())
                .map(|v| v.id)
                .collect();
            fast.sort_unstable();
            slow.sort_unstable();
            assert_eq!(fast, slow, "index and full scan disagree for a {name} task");
        }
    }
    drop(all);

    let per_shape = if count >= 100_000 { 2000 } else { 200 };
    println!(
        "\n{:<11} {:>6} {:>11} {:>9} {:>9} {:>9} {:>9} {:>15}",
        "shape", "tasks", "candidates", "p50 µs", "p90 µs", "p99 µs", "max µs", "+rank p99 µs"
    );
    for (shape, name) in SHAPES {
        let tasks: Vec<Task> = (0..per_shape)
            .map(|n| task(shape, n, now, &mut rng))
            .collect();
        let mut search = Vec::with_capacity(tasks.len());
        let mut with_rank = Vec::with_capacity(tasks.len());
        let mut candidates = 0usize;
        for t in &tasks {
            let started = Instant::now();
            let found = index.eligible_for(t);
            search.push(started.elapsed());
            candidates += found.len();
            let candidates: Vec<Candidate> = found
                .into_iter()
                .map(|(v, d)| Candidate::new(v, t, d, 0.0))
                .collect();
            let ranked = engine::rank(t, &candidates);
            with_rank.push(started.elapsed());
            black_box(ranked);
        }
        search.sort_unstable();
        with_rank.sort_unstable();
        println!(
            "{:<11} {:>6} {:>11.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>15.1}",
            name,
            tasks.len(),
            candidates as f64 / tasks.len() as f64,
            us(percentile(&search, 0.5)),
            us(percentile(&search, 0.9)),
            us(percentile(&search, 0.99)),
            us(percentile(&search, 1.0)),
            us(percentile(&with_rank, 0.99)),
        );
    }
    println!();

    let mut criterion = Criterion::default()
        .sample_size(100)
        .measurement_time(StdDuration::from_secs(5))
        .configure_from_args();
    let mut group = criterion.benchmark_group(format!("eligible_for/{count}"));
    for (shape, name) in SHAPES {
        let tasks: Vec<Task> = (0..256).map(|n| task(shape, n, now, &mut rng)).collect();
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    next = (next + 1) % tasks.len();
                    &tasks[next]
                },
                |t| black_box(index.eligible_for(t)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    criterion.final_summary();
}
