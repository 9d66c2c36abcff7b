//! What each command does: one request (or a poll loop) against the services.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::json;
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::{AuthConfig, Secret};
use spontan_platform::events::timestamp;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

use crate::output::{enum_name, print, time};
use crate::*;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Incident(command) => incident(&global, command).await,
        Command::Task(command) => task(&global, command).await,
        Command::Matches(MatchesCommand::Watch {
            incident,
            after,
            interval,
            once,
        }) => watch(&global, &incident, after, interval, once).await,
        Command::Volunteer(VolunteerCommand::Register(args)) => register(&global, *args).await,
        Command::Demo(DemoCommand::Seed {
            organisation,
            volunteers,
            consent_version,
        }) => crate::demo::seed(&global, &organisation, volunteers, &consent_version).await,
        Command::Vapid(VapidCommand::Generate) => {
            let pair = crate::vapid::generate();
            if global.json {
                println!(
                    "{}",
                    json!({ "private": pair.private, "public": pair.public })
                );
            } else {
                println!("private={}\npublic={}", pair.private, pair.public);
            }
            Ok(())
        }
        Command::Token(TokenCommand::Mint {
            role,
            subject,
            organisation,
            ttl_hours,
            signing_key,
            issuer,
        }) => mint(
            role,
            &subject,
            organisation.as_deref(),
            ttl_hours,
            signing_key,
            issuer,
        ),
    }
}

pub(crate) async fn channel(address: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(address.to_owned())
        .with_context(|| format!("invalid address {address}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))
}

/// A request carrying the caller's token, if any.
pub(crate) fn request<T>(global: &Global, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &global.token {
        let value = format!("Bearer {token}")
            .parse()
            .context("the token contains invalid characters")?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// A stable idempotency key for `text` (the demo's objects).
pub(crate) fn stable_key(text: &str) -> String {
    derived_key(&text)
}

/// A stable idempotency key derived from a command's arguments, so that running the same
/// command again after a timeout never creates a second object.
fn derived_key(parts: &impl Hash) -> String {
    let mut first = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut first);
    let mut second = std::collections::hash_map::DefaultHasher::new();
    (parts, "spontan").hash(&mut second);
    let bytes = [first.finish().to_be_bytes(), second.finish().to_be_bytes()].concat();
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes);
    uuid::Builder::from_custom_bytes(raw)
        .into_uuid()
        .to_string()
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint {
        latitude: lat,
        longitude: lon,
    }
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{text:?} is not an RFC 3339 time like 2026-07-15T08:00:00+02:00"))
}

fn window(start: &str, end: &str) -> anyhow::Result<TimeWindow> {
    Ok(TimeWindow {
        start_time: Some(timestamp(parse_time(start)?)),
        end_time: Some(timestamp(parse_time(end)?)),
    })
}

fn priority(arg: PriorityArg) -> Priority {
    match arg {
        PriorityArg::Critical => Priority::Critical,
        PriorityArg::High => Priority::High,
        PriorityArg::Medium => Priority::Medium,
        PriorityArg::Low => Priority::Low,
    }
}

async fn incident(global: &Global, command: IncidentCommand) -> anyhow::Result<()> {
    let mut client = TaskServiceClient::new(channel(&global.task).await?);
    let incidents = match command {
        IncidentCommand::Open {
            name,
            organisation,
            lat,
            lon,
            radius_km,
            description,
        } => {
            let key = derived_key(&(
                &name,
                &organisation,
                lat.to_bits(),
                lon.to_bits(),
                radius_km.to_bits(),
            ));
            let message = CreateIncidentRequest {
                idempotency_key: key,
                organisation_id: organisation,
                name,
                description,
                region_centre: Some(point(lat, lon)),
                region_radius_km: radius_km,
            };
            let response = client
                .create_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect::<Vec<_>>()
        }
        IncidentCommand::List { status } => {
            let status = match status {
                Some(IncidentStatusArg::Open) => IncidentStatus::Open,
                Some(IncidentStatusArg::Closed) => IncidentStatus::Closed,
                None => IncidentStatus::Unspecified,
            };
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let message = ListIncidentsRequest {
                    page_size: 100,
                    page_token,
                    status: status.into(),
                    organisation_id: String::new(),
                };
                let response = client
                    .list_incidents(request(global, message)?)
                    .await?
                    .into_inner();
                all.extend(response.incidents);
                if response.next_page_token.is_empty() {
                    break all;
                }
                page_token = response.next_page_token;
            }
        }
        IncidentCommand::Close { incident_id } => {
            let message = CloseIncidentRequest { incident_id };
            let response = client
                .close_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect()
        }
    };
    let json = json!(incidents.iter().map(incident_json).collect::<Vec<_>>());
    let rows = incidents
        .iter()
        .map(|i| {
            vec![
                i.incident_id.clone(),
                i.name.clone(),
                i.organisation_id.clone(),
                enum_name(i.status().as_str_name(), "INCIDENT_STATUS_"),
                time(i.created_at.as_ref()),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &["ID", "NAME", "ORGANISATION", "STATUS", "OPENED"],
        rows,
    );
    Ok(())
}

fn incident_json(i: &Incident) -> serde_json::Value {
    json!({
        "incident_id": i.incident_id,
        "organisation_id": i.organisation_id,
        "name": i.name,
        "description": i.description,
        "region_centre": i.region_centre.as_ref().map(|p| json!({"latitude": p.latitude, "longitude": p.longitude})),
        "region_radius_km": i.region_radius_km,
        "status": enum_name(i.status().as_str_name(), "INCIDENT_STATUS_"),
        "created_at": time(i.created_at.as_ref()),
        "version": i.version,
    })
}

async fn task(global: &Global, command: TaskCommand) -> anyhow::Result<()> {
    let mut client = TaskServiceClient::new(channel(&global.task).await?);
    let tasks = match command {
        TaskCommand::Create(args) => {
            let args = *args;
            let key = args.idempotency_key.clone().unwrap_or_else(|| {
                derived_key(&(
                    &args.incident,
                    &args.title,
                    &args.start,
                    &args.end,
                    args.headcount,
                    args.lat.to_bits(),
                    args.lon.to_bits(),
                ))
            });
            let message = CreateTaskRequest {
                idempotency_key: key,
                incident_id: args.incident,
                title: args.title,
                description: args.description,
                meeting_point: Some(point(args.lat, args.lon)),
                address: args.address,
                required_skill_ids: args.skills,
                preferred_skill_ids: args.preferred_skills,
                min_age: args.min_age,
                headcount: args.headcount,
                window: Some(window(&args.start, &args.end)?),
                priority: priority(args.priority).into(),
                max_distance_km: args.max_distance_km,
                safety_notes: args.safety_notes,
            };
            client
                .create_task(request(global, message)?)
                .await?
                .into_inner()
                .task
                .into_iter()
                .collect::<Vec<_>>()
        }
        TaskCommand::List {
            incident,
            priority: priorities,
        } => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let message = ListTasksRequest {
                    incident_id: incident.clone(),
                    statuses: Vec::new(),
                    priorities: priorities.iter().map(|p| priority(*p).into()).collect(),
                    page_size: 100,
                    page_token,
                };
                let response = client
                    .list_tasks(request(global, message)?)
                    .await?
                    .into_inner();
                all.extend(response.tasks);
                if response.next_page_token.is_empty() {
                    break all;
                }
                page_token = response.next_page_token;
            }
        }
        TaskCommand::Show { task_id } => {
            let message = GetTaskRequest { task_id };
            client
                .get_task(request(global, message)?)
                .await?
                .into_inner()
                .task
                .into_iter()
                .collect()
        }
        TaskCommand::Cancel { task_id, reason } => {
            let message = CancelTaskRequest { task_id, reason };
            client
                .cancel_task(request(global, message)?)
                .await?
                .into_inner()
                .task
                .into_iter()
                .collect()
        }
    };
    let json = json!(tasks.iter().map(task_json).collect::<Vec<_>>());
    let rows = tasks
        .iter()
        .map(|t| {
            vec![
                t.task_id.clone(),
                t.title.clone(),
                enum_name(t.priority().as_str_name(), "PRIORITY_"),
                enum_name(t.status().as_str_name(), "TASK_STATUS_"),
                format!(
                    "{}/{}/{}/{}",
                    t.offered_count, t.accepted_count, t.checked_in_count, t.headcount
                ),
                time(t.window.as_ref().and_then(|w| w.start_time.as_ref())),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &[
            "ID",
            "TITLE",
            "PRIORITY",
            "STATUS",
            "OFFERED/ACCEPTED/ON SITE/NEEDED",
            "START",
        ],
        rows,
    );
    Ok(())
}

fn task_json(t: &Task) -> serde_json::Value {
    json!({
        "task_id": t.task_id,
        "incident_id": t.incident_id,
        "title": t.title,
        "priority": enum_name(t.priority().as_str_name(), "PRIORITY_"),
        "status": enum_name(t.status().as_str_name(), "TASK_STATUS_"),
        "headcount": t.headcount,
        "offered": t.offered_count,
        "accepted": t.accepted_count,
        "checked_in": t.checked_in_count,
        "start": time(t.window.as_ref().and_then(|w| w.start_time.as_ref())),
        "end": time(t.window.as_ref().and_then(|w| w.end_time.as_ref())),
        "required_skill_ids": t.required_skill_ids,
        "version": t.version,
    })
}

/// Counts per task of the latest state of each match, for the live summary.
#[derive(Default)]
struct Summary {
    state_of_match: BTreeMap<String, (String, MatchState)>,
}

impl Summary {
    fn apply(&mut self, change: &MatchChange) {
        self.state_of_match.insert(
            change.match_id.clone(),
            (change.task_id.clone(), change.state()),
        );
    }

    fn per_task(&self) -> BTreeMap<&str, [u32; 3]> {
        let mut counts: BTreeMap<&str, [u32; 3]> = BTreeMap::new();
        for (task, state) in self.state_of_match.values() {
            let entry = counts.entry(task.as_str()).or_default();
            match state {
                MatchState::Offered | MatchState::Proposed => entry[0] += 1,
                MatchState::Accepted => entry[1] += 1,
                MatchState::CheckedIn | MatchState::Completed => entry[2] += 1,
                _ => {}
            }
        }
        counts
    }
}

async fn watch(
    global: &Global,
    incident: &str,
    mut after: u64,
    interval: f64,
    once: bool,
) -> anyhow::Result<()> {
    if !(0.2..=3600.0).contains(&interval) {
        bail!("--interval must be between 0.2 and 3600 seconds");
    }
    let mut client = MatchingServiceClient::new(channel(&global.matching).await?);
    let mut summary = Summary::default();
    loop {
        let message = ListMatchChangesRequest {
            incident_id: incident.to_owned(),
            after_sequence: after,
            limit: 500,
        };
        let response = client
            .list_match_changes(request(global, message)?)
            .await?
            .into_inner();
        for change in &response.changes {
            summary.apply(change);
            if global.json {
                println!(
                    "{}",
                    json!({
                        "sequence": change.sequence,
                        "match_id": change.match_id,
                        "task_id": change.task_id,
                        "volunteer_ref": change.volunteer_ref,
                        "state": enum_name(change.state().as_str_name(), "MATCH_STATE_"),
                        "previous_state": enum_name(change.previous_state().as_str_name(), "MATCH_STATE_"),
                        "changed_at": time(change.changed_at.as_ref()),
                    })
                );
            } else {
                println!(
                    "#{:<6} {}  task {}  volunteer {}  {} -> {}",
                    change.sequence,
                    time(change.changed_at.as_ref()),
                    change.task_id,
                    change.volunteer_ref,
                    match change.previous_state() {
                        MatchState::Unspecified => "new".to_owned(),
                        previous => enum_name(previous.as_str_name(), "MATCH_STATE_"),
                    },
                    enum_name(change.state().as_str_name(), "MATCH_STATE_"),
                );
            }
        }
        if !response.changes.is_empty() && !global.json {
            for (task, [offered, accepted, on_site]) in summary.per_task() {
                println!(
                    "  task {task}: {offered} offered, {accepted} accepted, {on_site} on site"
                );
            }
        }
        after = response.next_after_sequence.max(after);
        if once {
            return Ok(());
        }
        if response.has_more {
            continue;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs_f64(interval)) => {}
        }
    }
}

async fn register(global: &Global, args: VolunteerRegister) -> anyhow::Result<()> {
    let mut availability = Vec::new();
    for text in &args.available {
        let (start, end) = text
            .split_once('/')
            .with_context(|| format!("--available {text:?} must be START/END"))?;
        availability.push(window(start, end)?);
    }
    let key = args.idempotency_key.clone().unwrap_or_else(|| {
        derived_key(&(
            &args.name,
            &args.phone,
            &args.email,
            args.birth_year,
            &args.available,
        ))
    });
    let channel_kind = if args.phone.is_empty() {
        AlertChannel::Email
    } else {
        AlertChannel::Sms
    };
    let message = RegisterRequest {
        idempotency_key: key,
        consent: Some(Consent {
            given: true,
            text_version: args.consent_version,
        }),
        contact: Some(Contact {
            display_name: args.name,
            phone_e164: args.phone,
            email: args.email,
        }),
        preferred_alert_channel: channel_kind.into(),
        channel_addresses: None,
        skill_ids: args.skills,
        languages: args.languages,
        birth_year: args.birth_year,
        home_location: Some(point(args.lat, args.lon)),
        travel_radius_km: args.radius_km,
        availability,
    };
    let mut client = RegistrationServiceClient::new(channel(&global.registration).await?);
    let response = client
        .register(request(global, message)?)
        .await?
        .into_inner();
    let json = json!({
        "volunteer_id": response.volunteer_id,
        "access_token": response.access_token,
        "access_token_expires_at": time(response.access_token_expires_at.as_ref()),
    });
    let rows = vec![vec![
        response.volunteer_id.clone(),
        time(response.access_token_expires_at.as_ref()),
        response.access_token.clone(),
    ]];
    print(
        global.json,
        json,
        &["VOLUNTEER", "TOKEN EXPIRES", "TOKEN"],
        rows,
    );
    Ok(())
}

fn mint(
    role: RoleArg,
    subject: &str,
    organisation: Option<&str>,
    ttl_hours: u64,
    signing_key: Option<String>,
    issuer: String,
) -> anyhow::Result<()> {
    let key = match signing_key {
        Some(key) => key,
        None => std::fs::read_to_string(".spontan/dev-signing-key").map_err(|_| {
            anyhow::anyhow!(
                "no dev signing key configured: set SPONTAN_DEV_SIGNING_KEY or run deploy/local/up.sh \
                 (production tokens come from the identity provider, not from this command)"
            )
        })?,
    };
    let role = match role {
        RoleArg::Coordinator => Role::Coordinator,
        RoleArg::Dashboard => Role::Dashboard,
        RoleArg::Admin => Role::Admin,
        RoleArg::Volunteer => Role::Volunteer,
    };
    if matches!(role, Role::Coordinator | Role::Dashboard) && organisation.is_none() {
        bail!("coordinator and dashboard tokens need --organisation");
    }
    let config = AuthConfig {
        issuer,
        signing_key: Secret::new(key.trim()),
        ..AuthConfig::default()
    };
    let issuer = TokenIssuer::from_config(&config)
        .context("the dev signing key is not base64 of 32 bytes")?;
    let token = issuer.issue(
        subject,
        role,
        organisation,
        Duration::from_secs(ttl_hours * 3600),
    )?;
    println!("{token}");
    Ok(())
}
