//! Micro-benchmark of the in-memory parts of matching: building the volunteer index,
//! finding and ranking candidates for a task, and the optimiser's min-cost flow.
//! Run with `cargo bench -p spontan-matching --bench engine`; plain timing, no framework.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, Utc};
use spontan_matching::domain::{Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window};
use spontan_matching::engine::{self, Candidate, VolunteerIndex};
use spontan_matching::optimizer::{self, Pair};
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
}

fn main() {
    let mut rng = Lcg(42);
    let now = Utc::now();
    let window = Window::new(now + Duration::hours(1), now + Duration::hours(3)).expect("window");
    let skills = ["first_aid", "driving", "lifting", "cooking", "boat"];
    let volunteers: Vec<Volunteer> = (0..100_000u128)
        .map(|i| Volunteer {
            id: Uuid::from_u128(i + 1),
            skills: skills
                .iter()
                .filter(|_| rng.next() < 0.4)
                .map(|s| (*s).to_owned())
                .collect(),
            languages: vec!["de".into()],
            age_band: 3,
            min_age_reached: 26,
            // Spread over a 300 km x 300 km area around Berlin.
            location: Some(Point {
                lat: 52.5 + (rng.next() - 0.5) * 2.7,
                lon: 13.4 + (rng.next() - 0.5) * 4.4,
            }),
            travel_radius_km: 5.0 + rng.next() * 45.0,
            availability: vec![Window::new(now, now + Duration::days(2)).expect("window")],
            status: VolunteerStatus::Active,
            version: 1,
        })
        .collect();

    let started = Instant::now();
    let mut index = VolunteerIndex::default();
    for v in volunteers {
        index.upsert(v);
    }
    println!("index build: 100000 volunteers in {:?}", started.elapsed());

    let tasks: Vec<Task> = (0..1000u128)
        .map(|i| Task {
            id: Uuid::from_u128(1_000_000 + i),
            incident_id: Uuid::nil(),
            organisation_id: "org".into(),
            title: "task".into(),
            address: "here".into(),
            required_skills: vec![skills[(i % 5) as usize].to_owned()],
            preferred_skills: vec![skills[((i + 1) % 5) as usize].to_owned()],
            required_languages: vec![],
            preferred_languages: vec![],
            min_age: 18,
            headcount: 5,
            window,
            priority: 1 + (i % 4) as i32,
            location: Point {
                lat: 52.5 + (rng.next() - 0.5) * 2.0,
                lon: 13.4 + (rng.next() - 0.5) * 3.0,
            },
            max_distance_km: 30.0,
            status: TaskStatus::Open,
            version: 1,
        })
        .collect();

    let started = Instant::now();
    let mut found = 0;
    for task in &tasks {
        let candidates: Vec<Candidate> = index
            .eligible_for(task)
            .into_iter()
            .map(|(v, d)| Candidate::new(v, task, d, 0.0))
            .collect();
        found += candidates.len();
        black_box(engine::rank(task, &candidates));
    }
    let elapsed = started.elapsed();
    println!(
        "match: 1000 tasks, {found} candidates ranked in {elapsed:?} ({:?} per task)",
        elapsed / 1000
    );

    for (volunteers, tasks) in [(200usize, 40usize), (1000, 200)] {
        let mut pairs = Vec::new();
        for volunteer in 0..volunteers {
            for task in 0..tasks {
                if rng.next() < 0.1 {
                    pairs.push(Pair {
                        volunteer,
                        task,
                        distance_km: rng.next() * 30.0,
                        assigned_hours: (rng.next() * 8.0).floor(),
                        stay_km: 0.0,
                    });
                }
            }
        }
        let need: Vec<(u32, i32)> = (0..tasks).map(|t| (3, 1 + (t % 4) as i32)).collect();
        let started = Instant::now();
        let chosen = optimizer::solve(volunteers, &need, &pairs);
        println!(
            "optimise: {volunteers} volunteers, {tasks} tasks, {} pairs: {} assigned in {:?}",
            pairs.len(),
            chosen.len(),
            started.elapsed()
        );
    }
}
