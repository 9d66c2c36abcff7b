//! Time of an optimisation plan and of applying it (`OptimizeIncident` dry run,
//! `ApplyOptimizationPlan`) over gRPC, for one incident the size of the optimiser's benchmark
//! instances (10,000 volunteers x 4,000 one-person tasks by default).
//!
//! ```sh
//! cargo run --release -p spontan-matching --example plan_bench -- \
//!     [--family skewed|uniform|scarce] [--periods multi|single] [--volunteers 10000] \
//!     [--tasks 4000] [--seed 1] [--repeats 3] [--accept 0.3] [--costs 0,5] \
//!     [--request-timeout-ms 600000] [--max-load 1.0] [--load-wait-minutes 20] \
//!     [--timeout-probe]
//! ```
//!
//! What it does:
//! 1. **Instance.** Volunteers and tasks are drawn exactly as `optimizer_bench generate` draws
//!    them (same families, same generator, same seed gives the same people and slots), then
//!    laid on the map around 50.5° N 7.0° E (1 km of the generator's plane is 1 km on the
//!    ground). Skills are five ids, one required by 70 % of the tasks; every task needs one
//!    person, min age 18, at most 15 km (10 km for `scarce`); priorities 1-4. `multi`: task
//!    windows of 2-8 h over 72 h from tomorrow, one availability window per volunteer, as
//!    generated; `single`: every task in the same 4 h window, everyone available.
//! 2. **State, through the library** (no broker): a fresh database
//!    `spontan_plan_bench_<pid>` (`SPONTAN_TEST_DATABASE_URL` or the local server) with
//!    matching's migrations; the volunteers are written to the read model, the incident is
//!    opened, and the tasks arrive one by one as the task consumer applies them: each is stored
//!    and matched at once by `Matcher::match_task`, the service's own incremental matching (so
//!    the open offers are its greedy ones). Then `--accept` of the offers (a seeded random
//!    share) are accepted through `lifecycle::respond`, the way a volunteer accepts: those
//!    matches are fixed for the optimiser. The outbox is marked published (long delivered in
//!    a real incident) and the database analysed.
//! 3. **Measurements, over gRPC.** For every repetition and move cost: a copy of that
//!    database (`CREATE DATABASE ... TEMPLATE`), a matching instance started on it as the
//!    tests start one (`Application::build_with`, a private `tansu` broker), which restores
//!    its index from the read model; once it has all volunteers and its start-up sweep is
//!    done, one `OptimizeIncident` dry run (timed at the client; `solve_duration` as reported)
//!    and one `ApplyOptimizationPlan` of that plan (timed), then checks of the database
//!    against the plan. Every measurement runs on fresh state.
//!
//! `--timeout-probe` measures nothing: on one instance it makes a dry run with each move cost
//! of `--costs` in turn and prints each answer; after the first, it lists the advisory locks
//! still held in the database. With `--request-timeout-ms` between the first dry run's time
//! and the others', it shows what an `OptimizeIncident` cut off by the server's request
//! timeout leaves behind.
//!
//! A private `tansu` broker is started for the instances once the set-up is done; starting it
//! arms the testkit's time limit for the process (`SPONTAN_TEST_TIME_LIMIT_SECS`, 900 s by
//! default), so set that higher for more repetitions or larger instances.
//!
//! The machine is shared: after the set-up, measuring starts once the 1-minute load average
//! is below `--max-load` (checked every minute, for up to `--load-wait-minutes`, then it
//! measures anyway); the load average at each measurement is printed beside the figures.
//!
//! Where the time goes is read off sqlx's own statement events (target `sqlx::query`, its
//! `elapsed_secs`): the plan's load ends with its last read (the hours held), its index
//! lookups are the gap between reading the active matches and the tried pairs, and its store
//! starts with the pseudonym insert (`task_volunteer_refs`); the apply's statements are
//! counted by kind. The statements of the service's background work (outbox relay, match-state gauge,
//! readiness check) are left out.
//!
//! The instance runs with the service's defaults except: offers expire after 7 days (the
//! state must not expire during the run), the sweep and expiry timers run once at start only,
//! the gRPC request timeout is `--request-timeout-ms` (default 600 s; the service's default is
//! 10 s) and the pool has 16 connections (the service's default).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use prost::Message;
use spontan_matching::domain::{Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window};
use spontan_matching::matcher::Matcher;
use spontan_matching::optimizer;
use spontan_matching::{Application, MIGRATOR, MatchingSettings, lifecycle, store};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::PlatformConfig;
use spontan_platform::db;
use spontan_platform::ids::{MatchId, VolunteerId};
use spontan_platform::testkit::{self, TestBroker, authed};
use spontan_proto::v1 as pb;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use sqlx::{Connection, PgConnection, Row};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

const ORG: &str = "thw-ahrweiler";
/// The centre of the generator's square on the map.
const CENTRE: (f64, f64) = (50.5, 7.0);
const KM_PER_DEGREE: f64 = 111.195;
const SKILL_IDS: [&str; 5] = [
    "first_aid",
    "sandbag_filling",
    "chainsaw",
    "driving",
    "debris_clearing",
];

// ---- the generator of `optimizer_bench` (same draws in the same order) ---------------------

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
    open_slots: f64,
    priorities: [f64; 3],
    clustered: bool,
}

fn family(name: &str) -> anyhow::Result<Family> {
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
        other => bail!("unknown family {other:?}"),
    })
}

const SKILLS: u64 = 5;
const HORIZON_MIN: i64 = 72 * 60;

struct GenVolunteer {
    x: f64,
    y: f64,
    radius: f64,
    skills: u8,
    available: (i64, i64),
}

struct GenSlot {
    x: f64,
    y: f64,
    skill: Option<u8>,
    priority: i32,
    multi: (i64, i64),
}

struct Generated {
    side: f64,
    site: (f64, f64),
    volunteers: Vec<GenVolunteer>,
    slots: Vec<GenSlot>,
}

fn generate(fam: &Family, volunteers: usize, slots: usize, seed: u64) -> Generated {
    let mut rng = Rng(seed);
    let side = 100.0 * (volunteers as f64 / 10_000.0).sqrt();
    let clamp = |v: f64| v.clamp(0.0, side);
    let towns: Vec<(f64, f64)> = (0..8)
        .map(|_| (rng.range(0.0, side), rng.range(0.0, side)))
        .collect();
    let site = (rng.range(0.3, 0.7) * side, rng.range(0.3, 0.7) * side);
    let vols = (0..volunteers)
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
            let radius = rng.range(fam.radius.0, fam.radius.1);
            // The hours already held: drawn to keep the sequence; here hours come from the
            // incident's own matches.
            if rng.unit() >= 0.5 {
                rng.below(81);
            }
            GenVolunteer {
                x,
                y,
                radius,
                skills,
                available: (start, (start + length).min(HORIZON_MIN)),
            }
        })
        .collect();
    let gen_slots = (0..slots)
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
                priority,
                multi: (start, start + length),
            }
        })
        .collect();
    Generated {
        side,
        site,
        volunteers: vols,
        slots: gen_slots,
    }
}

// ---- statement events ----------------------------------------------------------------------

/// Collects sqlx's statement events (target `sqlx::query`) and nothing else.
mod statements {
    use std::fmt::Debug;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use tracing::field::{Field, Visit};
    use tracing::level_filters::LevelFilter;
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber, span};

    pub struct Stmt {
        pub start: Instant,
        pub end: Instant,
        pub text: String,
    }

    impl Stmt {
        pub fn secs(&self) -> f64 {
            (self.end - self.start).as_secs_f64()
        }
    }

    static LOG: Mutex<Vec<Stmt>> = Mutex::new(Vec::new());

    /// Takes what was recorded so far.
    pub fn take() -> Vec<Stmt> {
        std::mem::take(&mut *LOG.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub struct Recorder;

    fn wanted(m: &Metadata<'_>) -> bool {
        m.target() == "sqlx::query"
    }

    #[derive(Default)]
    struct Fields {
        summary: String,
        statement: String,
        secs: f64,
    }

    impl Visit for Fields {
        fn record_f64(&mut self, field: &Field, value: f64) {
            if field.name() == "elapsed_secs" {
                self.secs = value;
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "summary" => self.summary = value.to_owned(),
                "db.statement" => self.statement = value.to_owned(),
                _ => {}
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            if field.name() == "summary" && self.summary.is_empty() {
                self.summary = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Recorder {
        fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
            if wanted(metadata) {
                Interest::always()
            } else {
                Interest::never()
            }
        }

        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            wanted(metadata)
        }

        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(LevelFilter::TRACE)
        }

        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }

        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

        fn event(&self, event: &Event<'_>) {
            let end = Instant::now();
            let mut fields = Fields::default();
            event.record(&mut fields);
            let raw = if fields.statement.trim().is_empty() {
                fields.summary
            } else {
                fields.statement
            };
            let text: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            let start = end
                .checked_sub(Duration::from_secs_f64(fields.secs.max(0.0)))
                .unwrap_or(end);
            LOG.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Stmt { start, end, text });
        }

        fn enter(&self, _: &span::Id) {}

        fn exit(&self, _: &span::Id) {}
    }
}

use statements::Stmt;

/// Statements of the service's background work, which runs beside a call: the outbox relay,
/// the match-state gauge, the readiness check.
fn background(text: &str) -> bool {
    text.contains("pg_try_advisory_xact_lock")
        || (text.contains("outbox") && !text.starts_with("INSERT"))
        || text.contains("FROM matches GROUP BY state")
        || text == "SELECT 1 AS up"
}

/// A statement's kind for the tables: its first words, or a name for the known ones.
fn kind(text: &str) -> String {
    let short: String = text.chars().take(88).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}

// ---- arguments -----------------------------------------------------------------------------

struct Args {
    family: String,
    multi: bool,
    volunteers: usize,
    tasks: usize,
    seed: u64,
    repeats: usize,
    accept: f64,
    costs: Vec<f64>,
    request_timeout_ms: u64,
    max_load: f64,
    load_wait_minutes: u64,
    timeout_probe: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        family: "skewed".into(),
        multi: true,
        volunteers: 10_000,
        tasks: 4_000,
        seed: 1,
        repeats: 3,
        accept: 0.3,
        costs: vec![0.0, 5.0],
        request_timeout_ms: 600_000,
        max_load: 1.0,
        load_wait_minutes: 20,
        timeout_probe: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--timeout-probe" {
            a.timeout_probe = true;
            continue;
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--family" => a.family = value,
            "--periods" => {
                a.multi = match value.as_str() {
                    "multi" => true,
                    "single" => false,
                    other => bail!("--periods multi|single, not {other:?}"),
                }
            }
            "--volunteers" => a.volunteers = value.parse()?,
            "--tasks" => a.tasks = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--repeats" => a.repeats = value.parse()?,
            "--accept" => a.accept = value.parse()?,
            "--costs" => a.costs = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--request-timeout-ms" => a.request_timeout_ms = value.parse()?,
            "--max-load" => a.max_load = value.parse()?,
            "--load-wait-minutes" => a.load_wait_minutes = value.parse()?,
            other => bail!("unknown flag {other:?} (see the file's header)"),
        }
    }
    Ok(a)
}

// ---- set-up --------------------------------------------------------------------------------

fn point(side: f64, x: f64, y: f64) -> Point {
    let lat = CENTRE.0 + (y - side / 2.0) / KM_PER_DEGREE;
    let lon = CENTRE.1 + (x - side / 2.0) / (KM_PER_DEGREE * CENTRE.0.to_radians().cos());
    Point { lat, lon }
}

fn at(base: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    base + chrono::Duration::minutes(minutes)
}

fn settings() -> MatchingSettings {
    MatchingSettings {
        offer_timeout_secs: 7 * 24 * 3600,
        sweep_interval_secs: 24 * 3600,
        expiry_interval_ms: 24 * 3600 * 1000,
        ..MatchingSettings::default()
    }
}

struct Setup {
    incident: Uuid,
    /// Priority weight per task id (every task needs one person).
    tasks: HashMap<Uuid, i64>,
    pairs: usize,
    offers: i64,
    accepted: i64,
    unfilled: i64,
}

async fn set_up(
    a: &Args,
    config: &PlatformConfig,
    generated: &Generated,
    fam: &Family,
) -> anyhow::Result<Setup> {
    let pool = db::pool(&config.database)?;
    db::migrate(&pool, &MIGRATOR).await?;
    let matcher = Matcher {
        pool: pool.clone(),
        index: Arc::default(),
        settings: settings(),
        topic: config.kafka.topics.matching.clone(),
        grants: None,
    };
    // Tomorrow, on the hour: every window lies ahead.
    let base = {
        let t = Utc::now() + chrono::Duration::days(1);
        t - chrono::Duration::seconds(t.timestamp() % 3600)
    };
    let side = generated.side;

    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for v in &generated.volunteers {
        let availability = if a.multi {
            vec![Window {
                start: at(base, v.available.0),
                end: at(base, v.available.1),
            }]
        } else {
            vec![Window {
                start: at(base, -60),
                end: at(base, HORIZON_MIN + 60),
            }]
        };
        let volunteer = Volunteer {
            id: Uuid::new_v4(),
            skills: (0..SKILLS as usize)
                .filter(|s| v.skills & (1 << s) != 0)
                .map(|s| SKILL_IDS[s].to_owned())
                .collect(),
            languages: vec!["de".into()],
            age_band: 3,
            min_age_reached: 26,
            location: Some(point(side, v.x, v.y)),
            travel_radius_km: v.radius,
            availability,
            status: VolunteerStatus::Active,
            version: 1,
        };
        store::apply_volunteer(&mut tx, &volunteer).await?;
    }
    tx.commit().await?;
    let (indexed, _) = matcher.restore(&config.kafka.topics.volunteer).await?;
    eprintln!(
        "set-up: {} volunteers stored and indexed in {:.1} s",
        indexed,
        started.elapsed().as_secs_f64()
    );

    let incident = Uuid::now_v7();
    let mut conn = pool.acquire().await?;
    store::upsert_incident(
        &mut conn,
        incident,
        ORG,
        Some(point(side, generated.site.0, generated.site.1)),
        Some(side),
        1,
    )
    .await?;
    drop(conn);

    let started = Instant::now();
    let mut tasks = HashMap::new();
    let mut pairs = 0;
    for (i, s) in generated.slots.iter().enumerate() {
        let window = if a.multi { s.multi } else { (0, 240) };
        let task = Task {
            id: Uuid::now_v7(),
            incident_id: incident,
            organisation_id: ORG.into(),
            title: format!("task {i}"),
            address: String::new(),
            required_skills: s
                .skill
                .map(|k| vec![SKILL_IDS[usize::from(k)].to_owned()])
                .unwrap_or_default(),
            preferred_skills: vec![],
            required_languages: vec![],
            preferred_languages: vec![],
            min_age: 18,
            headcount: 1,
            window: Window {
                start: at(base, window.0),
                end: at(base, window.1),
            },
            priority: s.priority,
            location: point(side, s.x, s.y),
            max_distance_km: fam.max_distance,
            status: TaskStatus::Open,
            version: 1,
        };
        pairs += matcher.index().eligible_for(&task).len();
        tasks.insert(task.id, optimizer::priority_weight(task.priority));
        // As the task consumer does: store the task, commit, match it.
        let mut tx = pool.begin().await?;
        store::apply_task(&mut tx, &task).await?;
        tx.commit().await?;
        matcher.match_task(task.id).await?;
        if (i + 1) % 500 == 0 {
            eprintln!(
                "set-up: {} tasks stored and matched ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let offered: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, volunteer_id FROM matches WHERE incident_id = $1 AND state = 'offered' \
         ORDER BY id",
    )
    .bind(incident)
    .fetch_all(&pool)
    .await?;
    eprintln!(
        "set-up: {} tasks matched incrementally in {:.1} s: {} offers, {} eligible pairs",
        generated.slots.len(),
        started.elapsed().as_secs_f64(),
        offered.len(),
        pairs
    );

    let started = Instant::now();
    let mut rng = Rng(a.seed ^ 0x5eed_acce_97ed);
    let mut accepted = 0;
    for (match_id, volunteer_id) in &offered {
        if rng.unit() < a.accept {
            lifecycle::respond(
                &matcher,
                VolunteerId::from(*volunteer_id),
                MatchId::from(*match_id),
                pb::OfferDecision::Accept,
                0,
            )
            .await
            .map_err(|e| anyhow::anyhow!("accepting an offer: {e:?}"))?;
            accepted += 1;
        }
    }
    eprintln!(
        "set-up: {accepted} offers accepted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Delivered long ago in a real incident: the instances' relays have nothing to catch up.
    sqlx::query("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        .execute(&pool)
        .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    let unfilled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t WHERE t.incident_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM matches m WHERE m.task_id = t.id \
         AND m.state IN ('proposed', 'offered', 'accepted', 'checked_in'))",
    )
    .bind(incident)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok(Setup {
        incident,
        tasks,
        pairs,
        offers: offered.len() as i64,
        accepted,
        unfilled,
    })
}

// ---- one measurement -----------------------------------------------------------------------

struct Run {
    plan: f64,
    solve: f64,
    load: f64,
    load_sql: f64,
    index: f64,
    between: f64,
    store: f64,
    apply: f64,
    offers: u32,
    withdrawn: u32,
    plan_bytes: usize,
    apply_statements: BTreeMap<String, (usize, f64)>,
    apply_sql: f64,
    plan_statements: BTreeMap<String, (usize, f64)>,
    problems: Vec<String>,
    churn: Churn,
    load_average: f64,
    coverage: (f64, f64),
    travel: (f64, f64),
}

/// The incident's weighted coverage and travel as stored (active matches).
async fn stored_objective(
    conn: &mut PgConnection,
    incident: Uuid,
    weights: &HashMap<Uuid, i64>,
) -> anyhow::Result<(f64, f64)> {
    let rows = sqlx::query(
        "SELECT task_id, count(*) AS n, sum((explanation->>'distance_km')::float8) AS km \
         FROM matches WHERE incident_id = $1 \
         AND state IN ('proposed', 'offered', 'accepted', 'checked_in') GROUP BY task_id",
    )
    .bind(incident)
    .fetch_all(&mut *conn)
    .await?;
    let wanted: i64 = weights.values().sum();
    let (mut covered, mut travel) = (0i64, 0.0);
    for r in rows {
        let task: Uuid = r.get("task_id");
        let n: i64 = r.get("n");
        covered += weights[&task] * n.min(1);
        travel += r.get::<f64, _>("km");
    }
    Ok((covered as f64 / wanted as f64, travel))
}

fn grouped(stmts: &[&Stmt]) -> BTreeMap<String, (usize, f64)> {
    let mut groups: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for s in stmts {
        let g = groups.entry(kind(&s.text)).or_default();
        g.0 += 1;
        g.1 += s.secs();
    }
    groups
}

#[allow(clippy::too_many_arguments)]
/// A matching instance on a fresh copy of the set-up's database, ready: what `work` gets.
struct Ready {
    client: MatchingServiceClient<Channel>,
    coordinator: String,
    url: String,
    name: String,
}

/// Copies the set-up's database to `name`, starts an instance on it, waits until its index
/// holds every volunteer and its start-up sweep is over, runs `work`, then stops the instance
/// and drops the copy.
#[allow(clippy::too_many_arguments)]
async fn with_instance<T>(
    config: &PlatformConfig,
    admin: &str,
    base_db: &str,
    name: &str,
    setup: &Setup,
    issuer: &TokenIssuer,
    instance_setup: &mut Vec<f64>,
    work: impl AsyncFnOnce(Ready) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut admin_conn = PgConnection::connect(admin).await?;
    let started = Instant::now();
    sqlx::query(&format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{base_db}\" STRATEGY FILE_COPY"
    ))
    .execute(&mut admin_conn)
    .await?;
    let copy = started.elapsed().as_secs_f64();
    let mut config = config.clone();
    let url = with_database(admin, name);
    config.database.url = spontan_platform::config::Secret::new(url.clone());

    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let app = Application::build_with(
        spontan_matching::Config { platform: config },
        settings(),
        shutdown.clone(),
    )
    .await?;
    let addr = app.platform().grpc_addr();
    let handle = tokio::spawn(app.run());
    let result = async {
        testkit::wait_for_health(addr, "", ServingStatus::Serving, Duration::from_secs(120))
            .await?;
        let channel = testkit::channel(addr).await?;
        let mut client =
            MatchingServiceClient::new(channel).max_decoding_message_size(512 * 1024 * 1024);
        let coordinator = issuer.issue(
            "coordinator-1",
            Role::Coordinator,
            Some(ORG),
            Duration::from_secs(3600),
        )?;
        // Every volunteer in the index, then the start-up sweep over (quiet for 2 s).
        let want = setup_volunteers(&url).await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let summary = client
                .get_incident_summary(authed(
                    pb::GetIncidentSummaryRequest {
                        incident_id: setup.incident.to_string(),
                    },
                    &coordinator,
                ))
                .await;
            if summary.is_ok_and(|s| i64::from(s.get_ref().available_volunteers) >= want) {
                break;
            }
            ensure!(Instant::now() < deadline, "the index was never restored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_quiet(&mut admin_conn, name).await?;
        instance_setup.push(started.elapsed().as_secs_f64());
        eprintln!(
            "{name}: copied in {copy:.1} s, instance ready (index restored, start-up sweep \
             done) in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        work(Ready {
            client,
            coordinator,
            url,
            name: name.to_owned(),
        })
        .await
    }
    .await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), handle).await;
    drop_database(&mut admin_conn, name).await?;
    result
}

/// One dry run and the apply of its plan on `ready`, timed, then the database checked.
async fn plan_and_apply(ready: Ready, setup: &Setup, cost: f64) -> anyhow::Result<Run> {
    let Ready {
        mut client,
        coordinator,
        url,
        ..
    } = ready;
    let mut conn = PgConnection::connect(&url).await?;
    let before = stored_objective(&mut conn, setup.incident, &setup.tasks).await?;

    let load_average = load_average();
    statements::take();
    let t0 = Instant::now();
    let plan = client
        .optimize_incident(authed(
            pb::OptimizeIncidentRequest {
                incident_id: setup.incident.to_string(),
                dry_run: true,
                move_cost_km: Some(cost),
            },
            &coordinator,
        ))
        .await
        .context("OptimizeIncident")?
        .into_inner();
    let t1 = Instant::now();
    let plan_stmts = statements::take();

    let t2 = Instant::now();
    let applied = client
        .apply_optimization_plan(authed(
            pb::ApplyOptimizationPlanRequest {
                incident_id: setup.incident.to_string(),
                plan_id: plan.plan_id.clone(),
            },
            &coordinator,
        ))
        .await
        .context("ApplyOptimizationPlan")?
        .into_inner();
    let t3 = Instant::now();
    let apply_stmts = statements::take();

    // Where the plan's time went.
    let own: Vec<&Stmt> = plan_stmts
        .iter()
        .filter(|s| s.start >= t0 && s.end <= t1 && !background(&s.text))
        .collect();
    let store_at = own
        .iter()
        .position(|s| s.text.contains("INSERT INTO task_volunteer_refs"))
        .context("no pseudonym insert in the plan")?;
    let last = |needle: &str| {
        own[..store_at]
            .iter()
            .rev()
            .find(|s| s.text.contains(needle))
            .copied()
            .with_context(|| format!("no {needle:?} in the plan's load"))
    };
    // The load's last read is the hours held; the index is asked for every task's
    // candidates between reading the active matches and the tried pairs.
    let load_end = last("sum(extract(epoch FROM upper(slot)")?.end;
    let index = last("SELECT task_id, volunteer_id FROM matches WHERE incident_id")?
        .start
        .saturating_duration_since(last(r#"SELECT m.id AS "id!""#)?.end)
        .as_secs_f64();
    let store_start = own[store_at].start;
    let load_sql: f64 = own[..store_at].iter().map(|s| s.secs()).sum();
    let apply_own: Vec<&Stmt> = apply_stmts
        .iter()
        .filter(|s| s.start >= t2 && s.end <= t3 && !background(&s.text))
        .collect();

    let mut problems = Vec::new();
    let solve = plan
        .solve_duration
        .as_ref()
        .map_or(0.0, |d| d.seconds as f64 + f64::from(d.nanos) / 1e9);
    let offers = plan
        .moves
        .iter()
        .filter(|m| m.kind() == pb::PlanMoveKind::Offer)
        .count() as u32;
    let withdrawals = plan.moves.len() as u32 - offers;
    if (applied.created_match_count, applied.cancelled_match_count) != (offers, withdrawals) {
        problems.push(format!(
            "the plan has {offers} offers and {withdrawals} withdrawals, the apply made \
             {} and withdrew {}",
            applied.created_match_count, applied.cancelled_match_count
        ));
    }
    let after = stored_objective(&mut conn, setup.incident, &setup.tasks).await?;
    let plan_before = plan.before.unwrap_or_default();
    let plan_after = plan.after.unwrap_or_default();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(1.0);
    if !close(before.0, plan_before.weighted_coverage)
        || !close(before.1, plan_before.total_travel_km)
    {
        problems.push(format!(
            "before: stored coverage {:.6} travel {:.3} km, the plan says {:.6} and {:.3}",
            before.0, before.1, plan_before.weighted_coverage, plan_before.total_travel_km
        ));
    }
    if !close(after.0, plan_after.weighted_coverage) || !close(after.1, plan_after.total_travel_km)
    {
        problems.push(format!(
            "after: stored coverage {:.6} travel {:.3} km, the plan says {:.6} and {:.3}",
            after.0, after.1, plan_after.weighted_coverage, plan_after.total_travel_km
        ));
    }
    let over: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT task_id FROM matches WHERE incident_id = $1 \
         AND state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         GROUP BY task_id HAVING count(*) > 1) t",
    )
    .bind(setup.incident)
    .fetch_one(&mut conn)
    .await?;
    if over > 0 {
        problems.push(format!(
            "{over} tasks hold more active matches than their offer target"
        ));
    }
    let reoptimized: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM matches WHERE incident_id = $1 AND state = 'cancelled' \
         AND cancel_reason = $2",
    )
    .bind(setup.incident)
    .bind(pb::MatchCancelReason::Reoptimized as i16)
    .fetch_one(&mut conn)
    .await?;
    if reoptimized != i64::from(withdrawals) {
        problems.push(format!(
            "{reoptimized} matches cancelled as re-optimised, the plan withdrew {withdrawals}"
        ));
    }
    let churn = churn(&mut conn, setup.incident, &applied, cost).await?;
    conn.close().await?;
    Ok(Run {
        churn,
        plan: (t1 - t0).as_secs_f64(),
        solve,
        load: load_end.saturating_duration_since(t0).as_secs_f64(),
        index,
        load_sql,
        between: store_start
            .saturating_duration_since(load_end)
            .as_secs_f64(),
        store: t1.saturating_duration_since(store_start).as_secs_f64(),
        apply: (t3 - t2).as_secs_f64(),
        offers,
        withdrawn: withdrawals,
        plan_bytes: plan.encoded_len(),
        apply_sql: apply_own.iter().map(|s| s.secs()).sum(),
        apply_statements: grouped(&apply_own),
        plan_statements: grouped(&own),
        problems,
        load_average,
        coverage: (plan_before.weighted_coverage, plan_after.weighted_coverage),
        travel: (plan_before.total_travel_km, plan_after.total_travel_km),
    })
}

/// `--timeout-probe`: on one instance, a dry run with each move cost in turn, each answer or
/// refusal printed; after the first, once the server is idle, the advisory locks still held
/// in the database. With a request timeout shorter than the first dry run and longer than
/// the others, this shows what a timed-out `OptimizeIncident` leaves behind.
async fn probe_timeout(
    ready: Ready,
    setup: &Setup,
    admin: &str,
    costs: &[f64],
) -> anyhow::Result<()> {
    let Ready {
        mut client,
        coordinator,
        name,
        ..
    } = ready;
    let mut admin_conn = PgConnection::connect(admin).await?;
    for (i, cost) in costs.iter().enumerate() {
        let started = Instant::now();
        let answer = client
            .optimize_incident(authed(
                pb::OptimizeIncidentRequest {
                    incident_id: setup.incident.to_string(),
                    dry_run: true,
                    move_cost_km: Some(*cost),
                },
                &coordinator,
            ))
            .await;
        let took = started.elapsed().as_secs_f64();
        match answer {
            Ok(plan) => println!(
                "dry run, move cost {cost} km: plan {} after {took:.2} s",
                plan.get_ref().plan_id
            ),
            Err(status) => println!(
                "dry run, move cost {cost} km: {:?} \"{}\" after {took:.2} s",
                status.code(),
                status.message()
            ),
        }
        if i == 0 {
            wait_quiet(&mut admin_conn, &name).await?;
            let held: Vec<(i32, String, Option<String>)> = sqlx::query_as(
                "SELECT a.pid, l.mode, a.state FROM pg_locks l JOIN pg_stat_activity a \
                 ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted \
                 AND a.datname = $1",
            )
            .bind(&name)
            .fetch_all(&mut admin_conn)
            .await?;
            println!(
                "advisory locks held in the database once the server is idle: {}",
                held.iter()
                    .map(|(pid, mode, state)| format!(
                        "{mode} by backend {pid} ({})",
                        state.as_deref().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

/// What the applied plan's withdrawals were for.
#[derive(Default)]
struct Churn {
    /// The volunteer got another of the plan's new offers (a chain of moves).
    moved: usize,
    /// The volunteer got nothing new and the task a new volunteer: a swap for travel.
    swaps: usize,
    /// Of those, how many save less travel than the move cost.
    swaps_below_cost: usize,
    /// Travel the swaps save (km): smallest and median.
    swap_saving: (f64, f64),
    /// Neither: the offer was only in the way (the task's offer target).
    other: usize,
}

async fn churn(
    conn: &mut PgConnection,
    incident: Uuid,
    applied: &pb::ApplyOptimizationPlanResponse,
    cost: f64,
) -> anyhow::Result<Churn> {
    let new_ids: Vec<Uuid> = applied
        .moves
        .iter()
        .filter(|m| m.kind() == pb::PlanMoveKind::Offer)
        .map(|m| m.match_id.parse())
        .collect::<Result<_, _>>()?;
    let withdrawn: Vec<(Uuid, Uuid, f64)> = sqlx::query_as(
        "SELECT task_id, volunteer_id, (explanation->>'distance_km')::float8 FROM matches \
         WHERE incident_id = $1 AND state = 'cancelled' AND cancel_reason = $2",
    )
    .bind(incident)
    .bind(pb::MatchCancelReason::Reoptimized as i16)
    .fetch_all(&mut *conn)
    .await?;
    let made: Vec<(Uuid, Uuid, f64)> = sqlx::query_as(
        "SELECT task_id, volunteer_id, (explanation->>'distance_km')::float8 FROM matches \
         WHERE id = ANY($1)",
    )
    .bind(new_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut churn = Churn::default();
    let mut savings = Vec::new();
    for (task, volunteer, distance) in withdrawn {
        if made.iter().any(|m| m.1 == volunteer) {
            churn.moved += 1;
        } else if let Some(new) = made.iter().find(|m| m.0 == task) {
            churn.swaps += 1;
            savings.push(distance - new.2);
            if distance - new.2 < cost {
                churn.swaps_below_cost += 1;
            }
        } else {
            churn.other += 1;
        }
    }
    if !savings.is_empty() {
        let (median, min, _) = spread(savings);
        churn.swap_saving = (min, median);
    }
    Ok(churn)
}

/// The active volunteers stored in the database at `url`.
async fn setup_volunteers(url: &str) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect(url).await?;
    let n = sqlx::query_scalar("SELECT count(*) FROM volunteers WHERE status = 'active'")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(n)
}

/// Waits until no statement has run in database `name` for two seconds.
async fn wait_quiet(admin: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut quiet_since = Instant::now();
    loop {
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state <> 'idle' \
             AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_one(&mut *admin)
        .await?;
        if active > 0 {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_secs(2) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{name} never went quiet");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn with_database(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    format!("{base}/{name}")
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await?;
    Ok(())
}

/// The 1-minute load average.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Waits (checking every minute) until the load average is below `max`, for `minutes` at most.
async fn wait_for_low_load(max: f64, minutes: u64) {
    for waited in 0..=minutes {
        let load = load_average();
        if load < max {
            eprintln!("load average {load:.2}: measuring");
            return;
        }
        if waited == minutes {
            eprintln!("load average {load:.2} after {minutes} minutes: measuring anyway");
            return;
        }
        eprintln!("load average {load:.2}, waiting for it to drop below {max}");
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

// ---- report --------------------------------------------------------------------------------

fn spread(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn cell(values: impl IntoIterator<Item = f64>, digits: usize) -> String {
    let (median, min, max) = spread(values);
    format!("{median:.digits$} ({min:.digits$}–{max:.digits$})")
}

fn report(a: &Args, setup: &Setup, results: &[(f64, Vec<Run>)]) {
    println!();
    println!(
        "{} {}-period, {} volunteers x {} tasks (seed {}): {} eligible pairs; {} offers from \
         incremental matching, {} accepted (fixed), {} tasks without any match",
        a.family,
        if a.multi { "multi" } else { "single" },
        a.volunteers,
        a.tasks,
        a.seed,
        setup.pairs,
        setup.offers,
        setup.accepted,
        setup.unfilled,
    );
    println!("times in seconds, median (min–max) of {} runs", a.repeats);
    println!();
    println!(
        "| move cost | OptimizeIncident (dry run) | load | of which SQL | of which index \
         lookups | pairs + solve + moves | of which solve (solve_duration) | store + reply | \
         ApplyOptimizationPlan | offers made | offers withdrawn | apply statements | plan size \
         | load average |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (cost, runs) in results {
        let statements: Vec<f64> = runs
            .iter()
            .map(|r| r.apply_statements.values().map(|g| g.0).sum::<usize>() as f64)
            .collect();
        println!(
            "| {cost} km | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MB | {} |",
            cell(runs.iter().map(|r| r.plan), 2),
            cell(runs.iter().map(|r| r.load), 2),
            cell(runs.iter().map(|r| r.load_sql), 2),
            cell(runs.iter().map(|r| r.index), 2),
            cell(runs.iter().map(|r| r.between), 2),
            cell(runs.iter().map(|r| r.solve), 3),
            cell(runs.iter().map(|r| r.store), 2),
            cell(runs.iter().map(|r| r.apply), 2),
            cell(runs.iter().map(|r| f64::from(r.offers)), 0),
            cell(runs.iter().map(|r| f64::from(r.withdrawn)), 0),
            cell(statements, 0),
            runs[0].plan_bytes as f64 / 1e6,
            runs.iter()
                .map(|r| format!("{:.2}", r.load_average))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    for (cost, runs) in results {
        let r = &runs[0];
        println!();
        println!(
            "move cost {cost} km, first run: coverage {:.4} -> {:.4}, travel {:.1} -> {:.1} km; \
             load {:.2} s of which SQL {:.2} s; apply {:.2} s of which SQL {:.2} s",
            r.coverage.0,
            r.coverage.1,
            r.travel.0,
            r.travel.1,
            r.load,
            r.load_sql,
            r.apply,
            r.apply_sql
        );
        let c = &r.churn;
        println!(
            "withdrawals: {} moved the volunteer to another new offer, {} swapped the task to \
             a new volunteer (travel saved: least {:.2} km, median {:.2} km; {} below the move \
             cost), {} other",
            c.moved, c.swaps, c.swap_saving.0, c.swap_saving.1, c.swaps_below_cost, c.other
        );
        for (what, groups) in [("plan", &r.plan_statements), ("apply", &r.apply_statements)] {
            println!();
            println!("| {what}: statement | count | total ms |");
            println!("|---|---:|---:|");
            let mut sorted: Vec<_> = groups.iter().collect();
            sorted.sort_by(|x, y| y.1.1.total_cmp(&x.1.1));
            for (text, (n, secs)) in sorted {
                println!(
                    "| `{}` | {n} | {:.0} |",
                    text.replace('|', "\\|"),
                    secs * 1e3
                );
            }
        }
        for run in runs {
            for p in &run.problems {
                println!("PROBLEM (move cost {cost} km): {p}");
            }
        }
    }
}

// ---- main ----------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing::subscriber::set_global_default(statements::Recorder)?;
    let a = args()?;
    let fam = family(&a.family)?;
    let admin = testkit::admin_database_url();
    let base_db = format!("spontan_plan_bench_{}", std::process::id());
    let mut admin_conn = PgConnection::connect(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE \"{base_db}\""))
        .execute(&mut admin_conn)
        .await?;
    let outcome = run(&a, &fam, &admin, &base_db).await;
    let mut dropped = drop_database(&mut admin_conn, &base_db).await;
    for i in 0.. {
        let name = format!("{base_db}_{i}");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin_conn)
                .await?;
        if !exists {
            break;
        }
        dropped = dropped.and(drop_database(&mut admin_conn, &name).await);
    }
    outcome.and(dropped)
}

async fn run(a: &Args, fam: &Family, admin: &str, base_db: &str) -> anyhow::Result<()> {
    // The broker comes later (the set-up needs none); its address is set then.
    let mut config =
        testkit::platform_config("matching", &with_database(admin, base_db), "127.0.0.1:9");
    config.database.max_connections = 16;
    config.grpc.request_timeout_ms = a.request_timeout_ms;
    config.telemetry.log_filter = "warn".into();
    let issuer = TokenIssuer::from_config(&config.auth)?;

    let started = Instant::now();
    let generated = generate(fam, a.volunteers, a.tasks, a.seed);
    eprintln!(
        "generated {} volunteers and {} tasks in {:.2} s",
        generated.volunteers.len(),
        generated.slots.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let setup = set_up(a, &config, &generated, fam).await?;
    eprintln!("set-up took {:.1} s", started.elapsed().as_secs_f64());

    wait_for_low_load(a.max_load, a.load_wait_minutes).await;
    // Started only now: it arms the testkit's time limit (`SPONTAN_TEST_TIME_LIMIT_SECS`,
    // 900 s by default), which the wait for a quiet machine must not count against.
    let broker = TestBroker::start_owned().await?;
    config.kafka.brokers = broker.brokers().to_owned();
    let mut instance_setup = Vec::new();
    if a.timeout_probe {
        let name = format!("{base_db}_probe");
        return with_instance(
            &config,
            admin,
            base_db,
            &name,
            &setup,
            &issuer,
            &mut instance_setup,
            async |ready| probe_timeout(ready, &setup, admin, &a.costs).await,
        )
        .await;
    }
    let mut results: Vec<(f64, Vec<Run>)> = a.costs.iter().map(|&c| (c, Vec::new())).collect();
    let mut n = 0;
    for repeat in 0..a.repeats {
        for (cost, runs) in &mut results {
            let name = format!("{base_db}_{n}");
            n += 1;
            let cost = *cost;
            let run = with_instance(
                &config,
                admin,
                base_db,
                &name,
                &setup,
                &issuer,
                &mut instance_setup,
                async |ready| plan_and_apply(ready, &setup, cost).await,
            )
            .await
            .with_context(|| format!("run {repeat}, move cost {cost} km"))?;
            eprintln!(
                "run {repeat}, move cost {cost} km: plan {:.2} s (solve {:.3} s), apply {:.2} s, \
                 {} offers, {} withdrawn{}",
                run.plan,
                run.solve,
                run.apply,
                run.offers,
                run.withdrawn,
                if run.problems.is_empty() {
                    String::new()
                } else {
                    format!(", {} PROBLEMS", run.problems.len())
                }
            );
            runs.push(run);
        }
    }
    let (median, min, max) = spread(instance_setup.iter().copied());
    eprintln!(
        "instance start to ready (index of {} volunteers restored, start-up sweep done): \
         median {median:.1} s ({min:.1}–{max:.1})",
        a.volunteers
    );
    report(a, &setup, &results);
    drop(broker);
    Ok(())
}
