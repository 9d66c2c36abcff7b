//! `spontan demo seed`: a flood in Bad Neuenahr-Ahrweiler (the Ahr valley, July 2021), with
//! tasks of every priority and a few hundred generated volunteers around it, so that a fresh
//! local stack shows offers being made within seconds.
//!
//! Every request carries an idempotency key derived from the seed, so running it twice
//! creates nothing new.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spontan_platform::events::timestamp;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;

use crate::client::{Global, channel, request, stable_key};

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Seed a flood in Bad Neuenahr-Ahrweiler: an incident, tasks of every priority and
    /// generated volunteers around it. Safe to run twice (idempotency keys).
    Seed {
        /// Organisation running the incident (your coordinator token's organisation).
        #[arg(long, default_value = "thw-ov-ahrweiler")]
        organisation: String,
        /// How many volunteers to register.
        #[arg(long, default_value_t = 300)]
        volunteers: usize,
        /// Consent text version the registration service currently accepts.
        #[arg(
            long,
            env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
            default_value = "2025-06-de"
        )]
        consent_version: String,
    },
}

/// Runs `spontan demo …`.
pub async fn run(global: &Global, command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::Seed {
            organisation,
            volunteers,
            consent_version,
        } => seed(global, &organisation, volunteers, &consent_version).await,
    }
}

/// Marktplatz Ahrweiler.
const CENTRE: (f64, f64) = (50.5427, 7.1125);

struct DemoTask {
    title: &'static str,
    address: &'static str,
    offset_km: (f64, f64),
    skills: &'static [&'static str],
    preferred: &'static [&'static str],
    /// Languages every volunteer must speak.
    languages: &'static [&'static str],
    headcount: u32,
    priority: Priority,
    starts_in_hours: i64,
    hours: i64,
}

const TASKS: &[DemoTask] = &[
    DemoTask {
        title: "Sandsäcke füllen am Ahrufer",
        address: "Ahrtor, 53474 Ahrweiler",
        offset_km: (0.3, -0.2),
        skills: &["sandbag_filling"],
        preferred: &["heavy_lifting"],
        languages: &[],
        headcount: 12,
        priority: Priority::Critical,
        starts_in_hours: 1,
        hours: 4,
    },
    DemoTask {
        title: "Evakuierung Seniorenheim unterstützen",
        address: "Walporzheimer Straße, 53474 Bad Neuenahr-Ahrweiler",
        offset_km: (1.2, -1.5),
        skills: &["heavy_lifting"],
        preferred: &["first_aid", "elderly_care"],
        languages: &[],
        headcount: 6,
        priority: Priority::Critical,
        starts_in_hours: 1,
        hours: 3,
    },
    DemoTask {
        title: "Keller auspumpen in Walporzheim",
        address: "Walporzheim, 53474 Bad Neuenahr-Ahrweiler",
        offset_km: (0.4, -2.4),
        skills: &["pumping"],
        preferred: &["electrician"],
        languages: &[],
        headcount: 4,
        priority: Priority::High,
        starts_in_hours: 2,
        hours: 5,
    },
    DemoTask {
        title: "Schlamm räumen in der Altstadt",
        address: "Niederhutstraße, 53474 Ahrweiler",
        offset_km: (0.0, 0.1),
        skills: &["mud_clearing"],
        preferred: &["heavy_lifting"],
        languages: &[],
        headcount: 20,
        priority: Priority::High,
        starts_in_hours: 2,
        hours: 6,
    },
    DemoTask {
        title: "Verpflegungsstelle am Marktplatz",
        address: "Marktplatz, 53474 Ahrweiler",
        offset_km: (0.0, 0.0),
        skills: &["cooking"],
        preferred: &[],
        languages: &[],
        headcount: 5,
        priority: Priority::Medium,
        starts_in_hours: 3,
        hours: 6,
    },
    DemoTask {
        title: "Spenden sortieren in der Sporthalle",
        address: "Sporthalle Ahrweiler, 53474 Bad Neuenahr-Ahrweiler",
        offset_km: (-0.6, 1.1),
        skills: &["donations_sorting"],
        preferred: &["logistics"],
        languages: &[],
        headcount: 8,
        priority: Priority::Medium,
        starts_in_hours: 4,
        hours: 5,
    },
    DemoTask {
        title: "Kinderbetreuung in der Notunterkunft",
        address: "Grafschaft-Ringen, Notunterkunft",
        offset_km: (-4.0, 3.0),
        skills: &["childcare"],
        preferred: &["first_aid"],
        languages: &[],
        headcount: 3,
        priority: Priority::Low,
        starts_in_hours: 5,
        hours: 4,
    },
    DemoTask {
        title: "Übersetzen in der Notunterkunft (Ukrainisch)",
        address: "Grafschaft-Ringen, Notunterkunft",
        offset_km: (-4.0, 3.0),
        skills: &["translation_uk"],
        preferred: &[],
        languages: &["uk", "de"],
        headcount: 2,
        priority: Priority::Low,
        starts_in_hours: 5,
        hours: 4,
    },
];

/// German for everyone, Ukrainian for those who translate it, English for every third.
fn demo_languages(n: usize, skills: &[String]) -> Vec<String> {
    let mut languages = vec!["de".to_owned()];
    if skills.iter().any(|s| s == "translation_uk") {
        languages.push("uk".to_owned());
    }
    if n.is_multiple_of(3) {
        languages.push("en".to_owned());
    }
    languages
}

const SKILL_POOL: &[&str] = &[
    "sandbag_filling",
    "heavy_lifting",
    "mud_clearing",
    "pumping",
    "cooking",
    "donations_sorting",
    "childcare",
    "first_aid",
    "elderly_care",
    "logistics",
    "electrician",
    "translation_uk",
    "driving_licence_b",
    "own_vehicle",
];

/// Moves `km` north and east of `CENTRE` (good enough at this latitude).
fn offset(north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        latitude: CENTRE.0 + north_km / 111.2,
        longitude: CENTRE.1 + east_km / (111.2 * CENTRE.0.to_radians().cos()),
    }
}

fn key(kind: &str, n: usize) -> String {
    let raw = format!("{kind}:{n}:spontan-demo-ahr");
    stable_key(&raw)
}

/// Seeds the incident, its tasks and `volunteers` volunteers; prints what it made.
pub async fn seed(
    global: &Global,
    organisation: &str,
    volunteers: usize,
    consent_version: &str,
) -> anyhow::Result<()> {
    let mut tasks = TaskServiceClient::new(channel(global, &global.task).await?);
    let incident = tasks
        .create_incident(request(
            global,
            CreateIncidentRequest {
                idempotency_key: key("incident", 0),
                organisation_id: organisation.to_owned(),
                name: "Hochwasser Ahr – Bad Neuenahr-Ahrweiler".into(),
                description:
                    "Demo: Starkregen und Hochwasser an der Ahr, Altstadt Ahrweiler überflutet."
                        .into(),
                region_centre: Some(offset(0.0, 0.0)),
                region_radius_km: 25.0,
            },
        )?)
        .await
        .context("creating the demo incident")?
        .into_inner()
        .incident
        .context("no incident in the answer")?;
    println!("incident {} ({})", incident.incident_id, incident.name);

    // Whole hours, so that a re-run within the same hour sends identical tasks.
    let hour = Utc::now().timestamp() / 3600 * 3600;
    for (n, task) in TASKS.iter().enumerate() {
        let start = hour + (task.starts_in_hours * 3600);
        let window = TimeWindow {
            start_time: Some(prost_types::Timestamp {
                seconds: start,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: start + task.hours * 3600,
                nanos: 0,
            }),
        };
        let created = tasks
            .create_task(request(
                global,
                CreateTaskRequest {
                    idempotency_key: key(&format!("task-{hour}"), n),
                    incident_id: incident.incident_id.clone(),
                    title: task.title.into(),
                    description: String::new(),
                    meeting_point: Some(offset(task.offset_km.0, task.offset_km.1)),
                    address: task.address.into(),
                    required_skill_ids: task.skills.iter().map(|s| (*s).to_owned()).collect(),
                    preferred_skill_ids: task.preferred.iter().map(|s| (*s).to_owned()).collect(),
                    min_age: 16,
                    headcount: task.headcount,
                    window: Some(window),
                    priority: task.priority.into(),
                    max_distance_km: 30.0,
                    safety_notes: "Festes Schuhwerk, Handschuhe. Kein Betreten überfluteter Keller ohne Einweisung.".into(),
                    required_languages: task.languages.iter().map(|l| (*l).to_owned()).collect(),
                    preferred_languages: vec![],
                },
            )?)
            .await
            .with_context(|| format!("creating task {:?}", task.title))?
            .into_inner()
            .task
            .context("no task in the answer")?;
        println!(
            "task {} ({}, {} people)",
            created.task_id, task.title, task.headcount
        );
    }

    let mut registration =
        RegistrationServiceClient::new(channel(global, &global.registration).await?);
    let mut rng = StdRng::seed_from_u64(20_210_714);
    let now = Utc::now();
    let mut registered = 0;
    for n in 0..volunteers {
        let distance = rng.random_range(0.2..20.0_f64);
        let bearing = rng.random_range(0.0..std::f64::consts::TAU);
        let skill_count = rng.random_range(1..=4);
        let mut skills: Vec<String> = Vec::new();
        while skills.len() < skill_count {
            let skill = SKILL_POOL[rng.random_range(0..SKILL_POOL.len())].to_owned();
            if !skills.contains(&skill) {
                skills.push(skill);
            }
        }
        let birth_year = rng.random_range(1955..=2008);
        let languages = demo_languages(n, &skills);
        let message = RegisterRequest {
            idempotency_key: key("volunteer", n),
            consent: Some(Consent {
                given: true,
                text_version: consent_version.to_owned(),
            }),
            contact: Some(Contact {
                display_name: format!("Helfer:in {n:03}"),
                phone_e164: format!("+49151{:08}", 10_000_000 + n),
                email: String::new(),
            }),
            preferred_alert_channel: AlertChannel::Sms.into(),
            channel_addresses: None,
            skill_ids: skills,
            languages,
            birth_year,
            home_location: Some(offset(distance * bearing.cos(), distance * bearing.sin())),
            travel_radius_km: rng.random_range(10.0..40.0_f64).round(),
            availability: vec![TimeWindow {
                start_time: Some(timestamp(now + chrono::Duration::minutes(5))),
                end_time: Some(timestamp(now + chrono::Duration::hours(14))),
            }],
        };
        loop {
            match registration
                .register(request(global, message.clone())?)
                .await
            {
                Ok(_) => {
                    registered += 1;
                    break;
                }
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                    // The per-client rate limit protects Register from abuse; a drill waits.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => {
                    return Err(status).with_context(|| format!("registering volunteer {n}"));
                }
            }
        }
    }
    println!("{registered} volunteers registered around Ahrweiler");
    Ok(())
}
