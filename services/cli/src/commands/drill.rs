//! `spontan drill`: a scripted incident end to end against a running stack, the way a
//! control room and its volunteers would go through it, with a report of each step and how
//! long it took.
//!
//! A coordinator (the `--token` given, else one minted with the development key) opens an
//! incident and creates a task; N drill volunteers register near its meeting point and wait
//! for their offers; one declines, the others accept; the coordinator reads their contacts
//! with matching's contact grant, shows the task's check-in code, with which the volunteers
//! check in; all but one check out themselves, the coordinator completes the last one's
//! match, then the task, and closes the incident. The drill volunteers are erased at the end
//! (also after a failure), unless `--keep`. Every wait has `--timeout`; a step that does not
//! happen in time ends the drill with an error that names it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use rand::Rng;
use serde_json::{Value, json};
use spontan_platform::auth::Role;
use spontan_platform::events::timestamp;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;

use crate::client::{Connection, Global, channel, request};
use crate::devkey;
use crate::output::{match_state, table};

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Organisation the drill runs for (the coordinator token's organisation).
    #[arg(long, default_value = "thw-ov-ahrweiler")]
    pub organisation: String,
    /// How many volunteers to register (at least 3: one declines, one is completed by the
    /// coordinator, the others check out themselves).
    #[arg(long, default_value_t = 4)]
    pub volunteers: u32,
    /// Meeting point, latitude (default: THW-Bundesschule Hoya, far from the demo's
    /// volunteers, so that nobody else gets the drill's offers).
    #[arg(long, allow_hyphen_values = true, default_value_t = 52.8067)]
    pub lat: f64,
    /// Meeting point, longitude.
    #[arg(long, allow_hyphen_values = true, default_value_t = 9.1400)]
    pub lon: f64,
    /// Seconds to wait for each step that depends on events (offers, contacts).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Keep the drill volunteers instead of erasing them at the end.
    #[arg(long)]
    pub keep: bool,
    /// Base64 Ed25519 seed that signs the coordinator's token when no --token is given;
    /// default: SPONTAN_DEV_SIGNING_KEY, then .spontan/dev-signing-key.
    #[arg(long, env = "SPONTAN_DEV_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// Issuer of minted tokens, as configured in the services (auth.issuer).
    #[arg(long, default_value = "spontan")]
    pub issuer: String,
    /// Consent text version the registration service currently accepts.
    #[arg(
        long,
        env = "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
        default_value = "2025-06-de"
    )]
    pub consent_version: String,
}

/// The skill the drill's task requires and its volunteers have.
const SKILL: &str = "sandbag_filling";

struct Volunteer {
    name: String,
    id: String,
    token: String,
    match_id: String,
}

/// What happened, step by step, for the report.
#[derive(Default)]
struct Report {
    started: Option<Instant>,
    steps: Vec<Value>,
    facts: BTreeMap<&'static str, Value>,
}

impl Report {
    fn done(&mut self, step: &str, since: Instant, detail: String) {
        self.steps.push(json!({
            "step": step,
            "ok": true,
            "ms": since.elapsed().as_millis() as u64,
            "detail": detail,
        }));
    }

    fn failed(&mut self, step: &str, since: Instant, error: &anyhow::Error) {
        self.steps.push(json!({
            "step": step,
            "ok": false,
            "ms": since.elapsed().as_millis() as u64,
            "detail": crate::errors::describe(error),
        }));
    }

    fn json(&self, ok: bool) -> Value {
        let mut report = json!({
            "ok": ok,
            "total_ms": self.started.map_or(0, |s| s.elapsed().as_millis() as u64),
            "steps": self.steps,
        });
        for (key, value) in &self.facts {
            report[*key] = value.clone();
        }
        report
    }

    fn print(&self, json_mode: bool, ok: bool) {
        if json_mode {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.json(ok)).unwrap_or_default()
            );
            return;
        }
        let rows: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|s| {
                vec![
                    s["step"].as_str().unwrap_or_default().to_owned(),
                    if s["ok"] == true { "ok" } else { "FAILED" }.to_owned(),
                    format!("{} ms", s["ms"]),
                    s["detail"].as_str().unwrap_or_default().to_owned(),
                ]
            })
            .collect();
        print!("{}", table(&["STEP", "", "TOOK", "WHAT"], &rows));
        println!(
            "drill {} in {} ms",
            if ok { "done" } else { "failed" },
            self.started.map_or(0, |s| s.elapsed().as_millis())
        );
    }
}

struct Drill<'a> {
    global: &'a Global,
    args: &'a DrillArgs,
    /// The coordinator's requests carry this token.
    coordinator: Global,
    registration: RegistrationServiceClient<Connection>,
    tasks: TaskServiceClient<Connection>,
    matching: MatchingServiceClient<Connection>,
    timeout: Duration,
    report: Report,
    volunteers: Vec<Volunteer>,
    incident_id: String,
    task_id: String,
}

/// Runs `spontan drill`: prints the report (also of a failed drill), then returns the
/// failure, if any.
pub async fn run(global: &Global, args: DrillArgs) -> anyhow::Result<()> {
    if args.volunteers < 3 {
        bail!(
            "--volunteers must be at least 3 (one declines, one is completed by the coordinator)"
        );
    }
    if args.volunteers > 50 {
        bail!("--volunteers must be at most 50");
    }
    let token = match &global.token {
        Some(token) => token.clone(),
        None => {
            let key = devkey::signing_key(args.signing_key.clone()).context(
                "the drill needs a coordinator token: --token (SPONTAN_TOKEN) or a dev signing key",
            )?;
            devkey::mint(
                &key,
                &args.issuer,
                "spontan-drill",
                Role::Coordinator,
                Some(&args.organisation),
                Duration::from_secs(3600),
            )?
        }
    };
    let mut coordinator = global.clone();
    coordinator.token = Some(token);
    let mut drill = Drill {
        global,
        args: &args,
        coordinator,
        registration: RegistrationServiceClient::new(channel(global, &global.registration).await?),
        tasks: TaskServiceClient::new(channel(global, &global.task).await?),
        matching: MatchingServiceClient::new(channel(global, &global.matching).await?),
        timeout: Duration::from_secs(args.timeout.max(1)),
        report: Report {
            started: Some(Instant::now()),
            ..Report::default()
        },
        volunteers: Vec::new(),
        incident_id: String::new(),
        task_id: String::new(),
    };
    let outcome = drill.steps().await;
    if !args.keep {
        let since = Instant::now();
        match drill.erase_volunteers().await {
            Ok(detail) => drill.report.done("erase volunteers", since, detail),
            Err(error) => {
                drill.report.failed("erase volunteers", since, &error);
                if outcome.is_ok() {
                    drill.report.print(global.json, false);
                    return Err(error);
                }
            }
        }
    }
    drill.report.print(global.json, outcome.is_ok());
    outcome
}

/// Calls `f` until it returns `Some`, every 250 ms, for at most `timeout`; `what` names the
/// step in the error.
macro_rules! poll {
    ($timeout:expr, $what:expr, $body:expr) => {{
        let deadline = Instant::now() + $timeout;
        loop {
            if let Some(value) = $body {
                break value;
            }
            if Instant::now() >= deadline {
                bail!("{} did not happen within {} s", $what, $timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }};
}

impl Drill<'_> {
    fn as_coordinator<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        request(&self.coordinator, message)
    }

    fn as_volunteer<T>(&self, n: usize, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut global = self.global.clone();
        global.token = Some(self.volunteers[n].token.clone());
        request(&global, message)
    }

    async fn steps(&mut self) -> anyhow::Result<()> {
        macro_rules! step {
            ($name:expr, $call:expr) => {{
                let since = Instant::now();
                match $call.await {
                    Ok(detail) => self.report.done($name, since, detail),
                    Err(error) => {
                        let error = error.context(format!("drill step \"{}\"", $name));
                        self.report.failed($name, since, &error);
                        return Err(error);
                    }
                }
            }};
        }
        step!("open incident", self.open_incident());
        step!("create task", self.create_task());
        step!("register volunteers", self.register());
        step!("wait for offers", self.wait_for_offers());
        step!("decline one offer", self.decline());
        step!("accept offers", self.accept());
        step!("read contacts", self.read_contacts());
        step!("get check-in code", self.check_in_code());
        step!("check in", self.check_in());
        step!("check out", self.check_out());
        step!("complete last match", self.complete_match());
        step!("complete task", self.complete_task());
        step!("close incident", self.close_incident());
        step!("verify staffing", self.verify());
        Ok(())
    }

    async fn open_incident(&mut self) -> anyhow::Result<String> {
        let name = format!("Übung {}", Utc::now().format("%Y-%m-%d %H:%M:%S"));
        let incident = self
            .tasks
            .create_incident(self.as_coordinator(CreateIncidentRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                organisation_id: self.args.organisation.clone(),
                name: name.clone(),
                description: "spontan drill: scripted end-to-end exercise".into(),
                region_centre: Some(GeoPoint {
                    latitude: self.args.lat,
                    longitude: self.args.lon,
                }),
                region_radius_km: 10.0,
            })?)
            .await?
            .into_inner()
            .incident
            .context("no incident in the answer")?;
        self.incident_id = incident.incident_id.clone();
        self.report
            .facts
            .insert("incident_id", json!(incident.incident_id));
        self.report
            .facts
            .insert("organisation", json!(self.args.organisation));
        Ok(format!("incident {} ({name})", incident.incident_id))
    }

    async fn create_task(&mut self) -> anyhow::Result<String> {
        let now = Utc::now();
        let task = self
            .tasks
            .create_task(self.as_coordinator(CreateTaskRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                incident_id: self.incident_id.clone(),
                title: "Übung: Sandsäcke füllen".into(),
                description: "spontan drill".into(),
                meeting_point: Some(GeoPoint {
                    latitude: self.args.lat,
                    longitude: self.args.lon,
                }),
                address: "Übungsplatz".into(),
                required_skill_ids: vec![SKILL.into()],
                preferred_skill_ids: vec![],
                min_age: 16,
                headcount: self.args.volunteers,
                window: Some(TimeWindow {
                    start_time: Some(timestamp(now + chrono::Duration::minutes(15))),
                    end_time: Some(timestamp(now + chrono::Duration::minutes(135))),
                }),
                priority: Priority::High.into(),
                max_distance_km: 10.0,
                safety_notes: String::new(),
                required_languages: vec![],
                preferred_languages: vec![],
            })?)
            .await?
            .into_inner()
            .task
            .context("no task in the answer")?;
        self.task_id = task.task_id.clone();
        self.report.facts.insert("task_id", json!(task.task_id));
        Ok(format!(
            "task {} for {} people",
            task.task_id, self.args.volunteers
        ))
    }

    async fn register(&mut self) -> anyhow::Result<String> {
        let now = Utc::now();
        let run = rand::rng().random_range(0..10_000u32);
        for n in 0..self.args.volunteers as usize {
            let name = format!("Übung {run:04} Helfer:in {}", n + 1);
            let phone = format!("+49151{:08}", rand::rng().random_range(0..100_000_000u32));
            // A few hundred metres apart, around the meeting point.
            let north = 0.3 * (n as f64 + 1.0) / 111.2;
            let message = RegisterRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                consent: Some(Consent {
                    given: true,
                    text_version: self.args.consent_version.clone(),
                }),
                contact: Some(Contact {
                    display_name: name.clone(),
                    phone_e164: phone,
                    email: String::new(),
                }),
                preferred_alert_channel: AlertChannel::Sms.into(),
                channel_addresses: None,
                skill_ids: vec![SKILL.into()],
                languages: vec!["de".into()],
                birth_year: 1990,
                home_location: Some(GeoPoint {
                    latitude: self.args.lat + north,
                    longitude: self.args.lon,
                }),
                travel_radius_km: 10.0,
                availability: vec![TimeWindow {
                    start_time: Some(timestamp(now + chrono::Duration::minutes(5))),
                    end_time: Some(timestamp(now + chrono::Duration::hours(5))),
                }],
            };
            let deadline = Instant::now() + self.timeout;
            let response = loop {
                match self
                    .registration
                    .register(request(self.global, message.clone())?)
                    .await
                {
                    Ok(response) => break response.into_inner(),
                    // The per-client rate limit of Register: a drill waits.
                    Err(status)
                        if status.code() == tonic::Code::ResourceExhausted
                            && Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(status) => {
                        return Err(status).with_context(|| format!("registering {name}"));
                    }
                }
            };
            self.volunteers.push(Volunteer {
                name,
                id: response.volunteer_id,
                token: response.access_token,
                match_id: String::new(),
            });
        }
        // Where the stack requires a confirmed contact, matching hears of nobody until then.
        for n in 0..self.volunteers.len() {
            let profile = self
                .registration
                .get_my_profile(self.as_volunteer(n, GetMyProfileRequest {})?)
                .await?
                .into_inner()
                .profile
                .unwrap_or_default();
            if profile.contact_confirmation_required {
                bail!(
                    "{} gets no offers: this stack requires a confirmed contact \
                     (privacy.require_confirmed_contact; the local stack has it off unless \
                     SPONTAN_PRIVACY__REQUIRE_CONFIRMED_CONTACT=true), and the drill cannot \
                     confirm one",
                    self.volunteers[n].name
                );
            }
        }
        self.report.facts.insert(
            "volunteer_ids",
            json!(
                self.volunteers
                    .iter()
                    .map(|v| v.id.clone())
                    .collect::<Vec<_>>()
            ),
        );
        Ok(format!("{} volunteers", self.volunteers.len()))
    }

    async fn wait_for_offers(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + self.timeout;
        for n in 0..self.volunteers.len() {
            loop {
                let offers = self
                    .matching
                    .list_my_offers(self.as_volunteer(n, ListMyOffersRequest::default())?)
                    .await?
                    .into_inner()
                    .offers;
                if let Some(offer) = offers
                    .iter()
                    .find(|o| o.task_id == self.task_id && o.state() == MatchState::Offered)
                {
                    self.volunteers[n].match_id = offer.match_id.clone();
                    break;
                }
                if Instant::now() >= deadline {
                    let waiting: Vec<&str> = self
                        .volunteers
                        .iter()
                        .filter(|v| v.match_id.is_empty())
                        .map(|v| v.name.as_str())
                        .collect();
                    let profile = self
                        .registration
                        .get_my_profile(self.as_volunteer(n, GetMyProfileRequest {})?)
                        .await?
                        .into_inner()
                        .profile
                        .unwrap_or_default();
                    let why = if profile.contact_confirmation_required {
                        " (they need a confirmed contact first: this stack requires one)"
                    } else {
                        " (is matching running and consuming events? do other volunteers near \
                         the meeting point take the offers? try --lat/--lon elsewhere)"
                    };
                    bail!(
                        "no offer within {} s for {}{why}",
                        self.timeout.as_secs(),
                        waiting.join(", ")
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        self.report
            .facts
            .insert("offered", json!(self.volunteers.len()));
        Ok(format!("{} offers", self.volunteers.len()))
    }

    async fn decline(&mut self) -> anyhow::Result<String> {
        let offer = self
            .matching
            .respond_to_offer(self.as_volunteer(
                0,
                RespondToOfferRequest {
                    match_id: self.volunteers[0].match_id.clone(),
                    decision: OfferDecision::Decline.into(),
                    decline_reason: DeclineReason::NotAvailable.into(),
                },
            )?)
            .await?
            .into_inner()
            .offer
            .unwrap_or_default();
        if offer.state() != MatchState::Declined {
            bail!(
                "the offer is {} after declining",
                match_state(offer.state())
            );
        }
        self.report.facts.insert("declined", json!(1));
        Ok(format!("{} declined", self.volunteers[0].name))
    }

    /// The volunteers who accepted: all but the first.
    fn accepted(&self) -> std::ops::Range<usize> {
        1..self.volunteers.len()
    }

    async fn accept(&mut self) -> anyhow::Result<String> {
        for n in self.accepted() {
            let offer = self
                .matching
                .respond_to_offer(self.as_volunteer(
                    n,
                    RespondToOfferRequest {
                        match_id: self.volunteers[n].match_id.clone(),
                        decision: OfferDecision::Accept.into(),
                        decline_reason: DeclineReason::Unspecified.into(),
                    },
                )?)
                .await
                .with_context(|| format!("{} accepting", self.volunteers[n].name))?
                .into_inner()
                .offer
                .unwrap_or_default();
            if offer.state() != MatchState::Accepted {
                bail!(
                    "{}'s offer is {} after accepting",
                    self.volunteers[n].name,
                    match_state(offer.state())
                );
            }
        }
        self.report
            .facts
            .insert("accepted", json!(self.accepted().len()));
        Ok(format!("{} accepted", self.accepted().len()))
    }

    async fn read_contacts(&mut self) -> anyhow::Result<String> {
        let mut with_grant = 0;
        for n in self.accepted() {
            let match_id = self.volunteers[n].match_id.clone();
            let contact = poll!(
                self.timeout,
                format!("the contact of {}", self.volunteers[n].name),
                {
                    let staffing = self
                        .matching
                        .get_task_staffing(self.as_coordinator(GetTaskStaffingRequest {
                            task_id: self.task_id.clone(),
                            include_finished: false,
                        })?)
                        .await?
                        .into_inner();
                    let grant = staffing
                        .matches
                        .iter()
                        .find(|m| m.match_id == match_id)
                        .map(|m| m.contact_grant.clone())
                        .unwrap_or_default();
                    let used_grant = !grant.is_empty();
                    match self
                        .registration
                        .get_volunteer_contact(self.as_coordinator(GetVolunteerContactRequest {
                            match_id: match_id.clone(),
                            contact_grant: grant,
                        })?)
                        .await
                    {
                        Ok(response) => Some((
                            response.into_inner().contact.unwrap_or_default(),
                            used_grant,
                        )),
                        // Registration has not heard of the acceptance yet, and there is no grant.
                        Err(status)
                            if matches!(
                                status.code(),
                                tonic::Code::FailedPrecondition | tonic::Code::NotFound
                            ) =>
                        {
                            None
                        }
                        Err(status) => return Err(status.into()),
                    }
                }
            );
            let (contact, used_grant) = contact;
            if contact.display_name != self.volunteers[n].name {
                bail!(
                    "the contact of match {match_id} names {:?}, not {:?}",
                    contact.display_name,
                    self.volunteers[n].name
                );
            }
            with_grant += usize::from(used_grant);
        }
        let count = self.accepted().len();
        self.report.facts.insert("contacts", json!(count));
        self.report
            .facts
            .insert("contacts_with_grant", json!(with_grant));
        Ok(format!(
            "{count} contacts, {with_grant} with matching's grant"
        ))
    }

    async fn check_in_code(&mut self) -> anyhow::Result<String> {
        let code = self
            .matching
            .get_check_in_code(self.as_coordinator(GetCheckInCodeRequest {
                task_id: self.task_id.clone(),
            })?)
            .await?
            .into_inner();
        self.report.facts.insert("check_in_code", json!(code.code));
        Ok(format!("code {}", code.code))
    }

    async fn check_in(&mut self) -> anyhow::Result<String> {
        let code = self.report.facts["check_in_code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for n in self.accepted() {
            let m = self
                .matching
                .check_in(self.as_volunteer(
                    n,
                    CheckInRequest {
                        match_id: self.volunteers[n].match_id.clone(),
                        check_in_code: code.clone(),
                    },
                )?)
                .await
                .with_context(|| format!("{} checking in", self.volunteers[n].name))?
                .into_inner()
                .r#match
                .unwrap_or_default();
            if m.state() != MatchState::CheckedIn {
                bail!(
                    "match {} is {} after check-in",
                    m.match_id,
                    match_state(m.state())
                );
            }
        }
        let count = self.accepted().len();
        self.report.facts.insert("checked_in", json!(count));
        Ok(format!("{count} checked in with the code"))
    }

    /// All who checked in but the last check out themselves.
    async fn check_out(&mut self) -> anyhow::Result<String> {
        let last = self.volunteers.len() - 1;
        for n in 1..last {
            let m = self
                .matching
                .check_out(self.as_volunteer(
                    n,
                    CheckOutRequest {
                        match_id: self.volunteers[n].match_id.clone(),
                    },
                )?)
                .await
                .with_context(|| format!("{} checking out", self.volunteers[n].name))?
                .into_inner()
                .r#match
                .unwrap_or_default();
            if m.state() != MatchState::Completed {
                bail!(
                    "match {} is {} after check-out",
                    m.match_id,
                    match_state(m.state())
                );
            }
        }
        self.report.facts.insert("checked_out", json!(last - 1));
        Ok(format!("{} checked out themselves", last - 1))
    }

    async fn complete_match(&mut self) -> anyhow::Result<String> {
        let last = self.volunteers.len() - 1;
        let m = self
            .matching
            .complete_match(self.as_coordinator(CompleteMatchRequest {
                match_id: self.volunteers[last].match_id.clone(),
                outcome: MatchOutcome::Completed.into(),
            })?)
            .await?
            .into_inner()
            .r#match
            .unwrap_or_default();
        if m.state() != MatchState::Completed {
            bail!(
                "match {} is {} after completing",
                m.match_id,
                match_state(m.state())
            );
        }
        Ok(format!(
            "the coordinator completed {}'s match ({:.2} h on site)",
            self.volunteers[last].name, m.hours_on_site
        ))
    }

    async fn complete_task(&mut self) -> anyhow::Result<String> {
        let task = self
            .tasks
            .complete_task(self.as_coordinator(CompleteTaskRequest {
                task_id: self.task_id.clone(),
            })?)
            .await?
            .into_inner()
            .task
            .unwrap_or_default();
        if task.status() != TaskStatus::Completed {
            bail!(
                "the task is {} after completing",
                task.status().as_str_name()
            );
        }
        Ok(format!("task {} completed", task.task_id))
    }

    async fn close_incident(&mut self) -> anyhow::Result<String> {
        let incident = self
            .tasks
            .close_incident(self.as_coordinator(CloseIncidentRequest {
                incident_id: self.incident_id.clone(),
            })?)
            .await?
            .into_inner()
            .incident
            .unwrap_or_default();
        if incident.status() != IncidentStatus::Closed {
            bail!(
                "the incident is {} after closing",
                incident.status().as_str_name()
            );
        }
        Ok(format!("incident {} closed", incident.incident_id))
    }

    /// What matching holds in the end: every accepted match completed, one declined.
    async fn verify(&mut self) -> anyhow::Result<String> {
        let staffing = self
            .matching
            .get_task_staffing(self.as_coordinator(GetTaskStaffingRequest {
                task_id: self.task_id.clone(),
                include_finished: true,
            })?)
            .await?
            .into_inner();
        let mut states: BTreeMap<String, u32> = BTreeMap::new();
        for m in &staffing.matches {
            *states.entry(match_state(m.state())).or_default() += 1;
        }
        let completed = states.get("completed").copied().unwrap_or(0) as usize;
        self.report.facts.insert("final_states", json!(states));
        if completed != self.accepted().len() || states.get("declined") != Some(&1) {
            bail!(
                "the task's matches end as {states:?}, not {} completed and 1 declined",
                self.accepted().len()
            );
        }
        Ok(format!("{completed} completed, 1 declined"))
    }

    /// Erases the drill's volunteers (their tokens say who), so that the next drill's offers
    /// go to its own.
    async fn erase_volunteers(&mut self) -> anyhow::Result<String> {
        for n in 0..self.volunteers.len() {
            self.registration
                .erase_me(self.as_volunteer(n, EraseMeRequest { confirm: true })?)
                .await
                .with_context(|| format!("erasing {}", self.volunteers[n].name))?;
        }
        Ok(format!("{} drill volunteers erased", self.volunteers.len()))
    }
}
