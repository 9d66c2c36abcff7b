//! Instance generator and runner for the batch optimiser, so that other solvers (see
//! `docs/bench/compare-optimisers.sh`) solve the very same instances.
//!
//! ```sh
//! optimizer_bench generate DIR FAMILY VOLUNTEERS SLOTS SEED  # writes both period modes
//! optimizer_bench solve DIR/NAME [REPEATS]                   # prints one JSON line
//! ```
//!
//! Families: `uniform` (volunteers and slots spread evenly), `skewed` (volunteers in towns,
//! slots around one disaster site, many critical slots), `scarce` (short travel radii, rare
//! skills: many slots cannot all be covered). The area grows with the number of volunteers
//! (about one volunteer per km²). Every slot needs one person; priorities 1 (critical) to 4.
//!
//! Eligibility is decided here as matching decides it (required skill, within both the
//! volunteer's travel radius and the slot's maximum distance, available for the whole
//! window), with a uniform grid of cells as wide as the largest maximum distance, so each
//! slot looks at 3 x 3 cells. Distances are planar (km).
//!
//! Files of instance NAME (`{family}-{volunteers}x{slots}-{single|multi}`):
//! - `NAME.meta.json`: counts, the folded-objective scales, generation time;
//! - `NAME.slots.csv`: `weight,start,end` (minutes), one row per slot, in slot order;
//! - `NAME.edges.csv`: `slot,volunteer,travel,hours` — travel in units of 10 m, hours
//!   already held in tenths; the edge's index is its row number.
//!
//! `solve` writes `NAME.spontan.csv` (chosen edge indices) and prints the solve time (best of
//! REPEATS runs, default 3, reading and writing files excluded).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use spontan_matching::optimizer::{self, Pair, Slot};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn gauss(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

struct Family {
    skill_probability: f64,
    radius: (f64, f64),
    max_distance: f64,
    /// Share of slots that require no skill.
    open_slots: f64,
    /// Cumulative shares of priorities 1..=3 (the rest is 4).
    priorities: [f64; 3],
    clustered: bool,
}

fn family(name: &str) -> Result<Family> {
    Ok(match name {
        "uniform" => Family {
            skill_probability: 0.4,
            radius: (5.0, 30.0),
            max_distance: 15.0,
            open_slots: 0.3,
            priorities: [0.25, 0.5, 0.75],
            clustered: false,
        },
        "skewed" => Family {
            skill_probability: 0.4,
            radius: (5.0, 30.0),
            max_distance: 15.0,
            open_slots: 0.3,
            priorities: [0.4, 0.7, 0.9],
            clustered: true,
        },
        "scarce" => Family {
            skill_probability: 0.15,
            radius: (3.0, 12.0),
            max_distance: 10.0,
            open_slots: 0.0,
            priorities: [0.25, 0.5, 0.75],
            clustered: false,
        },
        other => return Err(format!("unknown family {other:?}").into()),
    })
}

const SKILLS: u64 = 5;
const HORIZON_MIN: i64 = 72 * 60;

struct Volunteer {
    x: f64,
    y: f64,
    radius: f64,
    skills: u8,
    hours: i64,
    available: (i64, i64),
}

struct GenSlot {
    x: f64,
    y: f64,
    skill: Option<u8>,
    weight: i64,
    multi: (i64, i64),
}

fn generate(dir: &Path, name: &str, volunteers: usize, slots: usize, seed: u64) -> Result<()> {
    let fam = family(name)?;
    let mut rng = Rng(seed);
    let side = 100.0 * (volunteers as f64 / 10_000.0).sqrt();
    let clamp = |v: f64| v.clamp(0.0, side);
    let towns: Vec<(f64, f64)> = (0..8)
        .map(|_| (rng.range(0.0, side), rng.range(0.0, side)))
        .collect();
    let site = (rng.range(0.3, 0.7) * side, rng.range(0.3, 0.7) * side);
    let vols: Vec<Volunteer> = (0..volunteers)
        .map(|_| {
            let (x, y) = if fam.clustered && rng.unit() < 0.7 {
                let town = towns[rng.below(towns.len() as u64) as usize];
                (
                    clamp(town.0 + rng.gauss() * 0.04 * side),
                    clamp(town.1 + rng.gauss() * 0.04 * side),
                )
            } else {
                (rng.range(0.0, side), rng.range(0.0, side))
            };
            let mut skills = 0u8;
            for s in 0..SKILLS {
                if rng.unit() < fam.skill_probability {
                    skills |= 1 << s;
                }
            }
            let start = rng.below(121) as i64 * 30;
            let length = (8 + rng.below(29) as i64) * 60;
            Volunteer {
                x,
                y,
                radius: rng.range(fam.radius.0, fam.radius.1),
                skills,
                hours: if rng.unit() < 0.5 {
                    0
                } else {
                    rng.below(81) as i64
                },
                available: (start, (start + length).min(HORIZON_MIN)),
            }
        })
        .collect();
    let gen_slots: Vec<GenSlot> = (0..slots)
        .map(|_| {
            let (x, y) = if fam.clustered && rng.unit() < 0.8 {
                (
                    clamp(site.0 + rng.gauss() * 0.08 * side),
                    clamp(site.1 + rng.gauss() * 0.08 * side),
                )
            } else {
                (rng.range(0.0, side), rng.range(0.0, side))
            };
            let skill = (rng.unit() >= fam.open_slots).then(|| rng.below(SKILLS) as u8);
            let p = rng.unit();
            let priority = 1 + fam.priorities.iter().filter(|&&c| p >= c).count() as i32;
            let length = [2, 3, 4, 6, 8][rng.below(5) as usize] * 60;
            let start = rng.below(((HORIZON_MIN - length) / 30 + 1) as u64) as i64 * 30;
            GenSlot {
                x,
                y,
                skill,
                weight: optimizer::priority_weight(priority),
                multi: (start, start + length),
            }
        })
        .collect();

    // The grid: cells as wide as the largest maximum distance.
    let cell = fam.max_distance;
    let cells = (side / cell).ceil().max(1.0) as usize;
    let cell_of = |x: f64, y: f64| {
        let cx = ((x / cell) as usize).min(cells - 1);
        let cy = ((y / cell) as usize).min(cells - 1);
        (cx, cy)
    };
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); cells * cells];
    for (i, v) in vols.iter().enumerate() {
        let (cx, cy) = cell_of(v.x, v.y);
        grid[cy * cells + cx].push(i as u32);
    }

    for multi in [false, true] {
        let started = Instant::now();
        let mut edges: Vec<(u32, u32, i64, i64)> = Vec::new();
        for (s, slot) in gen_slots.iter().enumerate() {
            let window = if multi { slot.multi } else { (0, 240) };
            let (cx, cy) = cell_of(slot.x, slot.y);
            let first = edges.len();
            for gy in cy.saturating_sub(1)..=(cy + 1).min(cells - 1) {
                for gx in cx.saturating_sub(1)..=(cx + 1).min(cells - 1) {
                    for &i in &grid[gy * cells + gx] {
                        let v = &vols[i as usize];
                        if slot.skill.is_some_and(|k| v.skills & (1 << k) == 0) {
                            continue;
                        }
                        if multi && (v.available.0 > window.0 || v.available.1 < window.1) {
                            continue;
                        }
                        let d = ((v.x - slot.x).powi(2) + (v.y - slot.y).powi(2)).sqrt();
                        if d > v.radius || d > fam.max_distance {
                            continue;
                        }
                        edges.push((s as u32, i, optimizer::travel_units(d), v.hours));
                    }
                }
            }
            edges[first..].sort_unstable_by_key(|e| e.1);
        }
        let generation = started.elapsed();
        let label = format!(
            "{name}-{volunteers}x{slots}-{}",
            if multi { "multi" } else { "single" }
        );
        let pairs = to_pairs(&edges);
        let (scales, extra) = if multi {
            (
                optimizer::scales_for(
                    volunteers,
                    slots as u64,
                    &pairs,
                    optimizer::PERIOD_LOAD_ROOM,
                ),
                optimizer::PERIOD_LOAD_ROOM,
            )
        } else {
            (
                optimizer::scales_for(volunteers, slots as u64, &pairs, 0),
                0,
            )
        };
        let mut out = BufWriter::new(std::fs::File::create(
            dir.join(format!("{label}.slots.csv")),
        )?);
        writeln!(out, "weight,start,end")?;
        for slot in &gen_slots {
            let window = if multi { slot.multi } else { (0, 240) };
            writeln!(out, "{},{},{}", slot.weight, window.0, window.1)?;
        }
        out.flush()?;
        let mut out = BufWriter::new(std::fs::File::create(
            dir.join(format!("{label}.edges.csv")),
        )?);
        writeln!(out, "slot,volunteer,travel,hours")?;
        let mut line = String::new();
        for e in &edges {
            line.clear();
            writeln!(line, "{},{},{},{}", e.0, e.1, e.2, e.3)?;
            out.write_all(line.as_bytes())?;
        }
        out.flush()?;
        let meta = serde_json::json!({
            "name": label,
            "family": name,
            "periods": if multi { "multi" } else { "single" },
            "volunteers": volunteers,
            "slots": slots,
            "edges": edges.len(),
            "seed": seed,
            "coverage_scale": scales.coverage,
            "travel_scale": scales.travel,
            "max_hours": scales.max_hours,
            "load_room": extra,
            "candidate_search_seconds": generation.as_secs_f64(),
        });
        std::fs::write(dir.join(format!("{label}.meta.json")), meta.to_string())?;
        println!("{meta}");
    }
    Ok(())
}

fn to_pairs(edges: &[(u32, u32, i64, i64)]) -> Vec<Pair> {
    edges
        .iter()
        .map(|&(s, v, travel, hours)| Pair {
            volunteer: v as usize,
            task: s as usize,
            distance_km: travel as f64 / 100.0,
            assigned_hours: hours as f64 / 10.0,
            stay_km: 0.0,
        })
        .collect()
}

fn read_csv(path: &Path, columns: usize) -> Result<Vec<Vec<i64>>> {
    let reader = BufReader::new(std::fs::File::open(path)?);
    let mut rows = Vec::new();
    for line in reader.lines().skip(1) {
        let line = line?;
        let row = line
            .split(',')
            .map(str::parse::<i64>)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if row.len() != columns {
            return Err(format!("{}: expected {columns} columns", path.display()).into());
        }
        rows.push(row);
    }
    Ok(rows)
}

fn solve(base: &str, repeats: usize) -> Result<()> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{base}.meta.json"))?)?;
    let volunteers = meta["volunteers"].as_u64().ok_or("meta: volunteers")? as usize;
    let multi = meta["periods"] == "multi";
    let weight_to_priority = |w: i64| match w {
        8 => 1,
        4 => 2,
        2 => 3,
        _ => 4,
    };
    let slots: Vec<Slot> = read_csv(Path::new(&format!("{base}.slots.csv")), 3)?
        .into_iter()
        .map(|r| Slot {
            need: 1,
            priority: weight_to_priority(r[0]),
            start: r[1],
            end: r[2],
        })
        .collect();
    let edges: Vec<(u32, u32, i64, i64)> = read_csv(Path::new(&format!("{base}.edges.csv")), 4)?
        .into_iter()
        .map(|r| (r[0] as u32, r[1] as u32, r[2], r[3]))
        .collect();
    let pairs = to_pairs(&edges);
    let need: Vec<(u32, i32)> = slots.iter().map(|s| (s.need, s.priority)).collect();
    let mut best = f64::INFINITY;
    let mut chosen = Vec::new();
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        chosen = if multi {
            optimizer::solve_periods(volunteers, &slots, &pairs)
        } else {
            optimizer::solve(volunteers, &need, &pairs)
        };
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mut out = BufWriter::new(std::fs::File::create(format!("{base}.spontan.csv"))?);
    writeln!(out, "edge")?;
    for e in &chosen {
        writeln!(out, "{e}")?;
    }
    out.flush()?;
    let coverage: i64 = chosen
        .iter()
        .map(|&e| optimizer::priority_weight(slots[pairs[e].task].priority))
        .sum();
    let travel: i64 = chosen.iter().map(|&e| edges[e].2).sum();
    println!(
        "{}",
        serde_json::json!({
            "instance": meta["name"],
            "solver": "spontan",
            "seconds": best,
            "assigned": chosen.len(),
            "covered_weight": coverage,
            "travel_km": travel as f64 / 100.0,
            "periods": if multi { optimizer::periods(&slots).len() } else { 1 },
        })
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() == 6 => generate(
            Path::new(&args[1]),
            &args[2],
            args[3].parse()?,
            args[4].parse()?,
            args[5].parse()?,
        ),
        Some("solve") if args.len() >= 2 => solve(
            &args[1],
            args.get(2).map(|r| r.parse()).transpose()?.unwrap_or(3),
        ),
        _ => Err("usage: optimizer_bench generate DIR FAMILY VOLUNTEERS SLOTS SEED | solve DIR/NAME [REPEATS]".into()),
    }
}
