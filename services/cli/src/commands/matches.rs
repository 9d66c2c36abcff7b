//! `spontan matches`: follow what matching does, change by change, with a live summary per
//! task (`watch`, `changes`); check volunteers in and out, close matches, and read the
//! contact of an accepted volunteer (`contact`, registration service).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::{
    CheckInRequest, CheckOutRequest, CompleteMatchRequest, CorrectHoursRequest,
    GetTaskStaffingRequest, GetVolunteerContactRequest, ListMatchChangesRequest, MatchChange,
    MatchOutcome, MatchState,
};

use crate::client::{Global, channel, request};
use crate::output::{MATCH_HEADERS, enum_name, match_json, match_row, print, time};

#[derive(Debug, Subcommand)]
pub enum MatchesCommand {
    /// Poll the match changes of an incident and print them as they come, with a live summary
    /// per task. Stops with Ctrl-C, or after one poll with --once.
    Watch {
        #[arg(long)]
        incident: String,
        /// Start after this sequence (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Seconds between polls.
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
        /// Poll once, print, exit.
        #[arg(long)]
        once: bool,
    },
    /// List the match changes of an incident after a sequence, once (what `watch` polls).
    Changes {
        #[arg(long)]
        incident: String,
        /// Only changes after this sequence (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many changes (1 to 1000).
        #[arg(long, default_value_t = 500)]
        limit: u32,
    },
    /// Check the volunteer of an accepted match in: a volunteer token with the task's
    /// check-in code (`spontan task check-in-code`), or a coordinator token without one.
    CheckIn {
        match_id: String,
        /// The task's check-in code (6 digits, or the QR code's text); volunteers only.
        #[arg(long, default_value = "")]
        code: String,
    },
    /// Check the volunteer of a checked-in match out: the match becomes completed.
    CheckOut { match_id: String },
    /// Close a match as a coordinator: completed (checked in) or no-show (accepted).
    Complete {
        match_id: String,
        #[arg(long, value_enum)]
        outcome: OutcomeArg,
    },
    /// Set the times on site of a match when check-in or check-out was forgotten (coordinator;
    /// audited with the reason); the match becomes completed.
    CorrectHours {
        match_id: String,
        /// When the volunteer arrived (RFC 3339, e.g. 2026-07-15T09:00:00+02:00).
        #[arg(long)]
        checked_in_at: chrono::DateTime<chrono::FixedOffset>,
        /// When they left (RFC 3339).
        #[arg(long)]
        checked_out_at: chrono::DateTime<chrono::FixedOffset>,
        /// Why (3 to 200 characters), e.g. "forgot to check out, left at 18:00".
        #[arg(long)]
        reason: String,
    },
    /// Show the contact (name, phone, e-mail) of the volunteer of an accepted or checked-in
    /// match (coordinator or admin; every read is audited). With --task-id or --incident the
    /// command first fetches the match's contact grant from matching (GetTaskStaffing), so
    /// that the answer follows what matching decided even before registration has heard of
    /// the acceptance; without them, it asks without a grant.
    Contact {
        match_id: String,
        /// The match's task: its grant is read from the task's staffing. (Not `--task`: that
        /// is the task service's address.)
        #[arg(long = "task-id", id = "task_id", value_name = "TASK")]
        task: Option<String>,
        /// The match's incident: its task is found in the incident's match changes.
        #[arg(long, conflicts_with = "task_id")]
        incident: Option<String>,
        /// A contact grant you already have (Match.contact_grant).
        #[arg(long, conflicts_with_all = ["task_id", "incident"])]
        grant: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Completed,
    NoShow,
}

/// Runs `spontan matches …`.
pub async fn run(global: &Global, command: MatchesCommand) -> anyhow::Result<()> {
    match command {
        MatchesCommand::Watch {
            incident,
            after,
            interval,
            once,
        } => watch(global, &incident, after, interval, once).await,
        MatchesCommand::Changes {
            incident,
            after,
            limit,
        } => changes(global, incident, after, limit).await,
        MatchesCommand::CheckIn { match_id, code } => {
            let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
            let message = CheckInRequest {
                match_id,
                check_in_code: code,
            };
            let found = client
                .check_in(request(global, message)?)
                .await?
                .into_inner();
            show_matches(global, found.r#match.into_iter().collect());
            Ok(())
        }
        MatchesCommand::CheckOut { match_id } => {
            let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
            let message = CheckOutRequest { match_id };
            let found = client
                .check_out(request(global, message)?)
                .await?
                .into_inner();
            show_matches(global, found.r#match.into_iter().collect());
            Ok(())
        }
        MatchesCommand::Complete { match_id, outcome } => {
            let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
            let outcome = match outcome {
                OutcomeArg::Completed => MatchOutcome::Completed,
                OutcomeArg::NoShow => MatchOutcome::NoShow,
            };
            let message = CompleteMatchRequest {
                match_id,
                outcome: outcome.into(),
            };
            let found = client
                .complete_match(request(global, message)?)
                .await?
                .into_inner();
            show_matches(global, found.r#match.into_iter().collect());
            Ok(())
        }
        MatchesCommand::CorrectHours {
            match_id,
            checked_in_at,
            checked_out_at,
            reason,
        } => {
            let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
            let utc = |t: chrono::DateTime<chrono::FixedOffset>| {
                spontan_platform::events::timestamp(t.with_timezone(&chrono::Utc))
            };
            let message = CorrectHoursRequest {
                match_id,
                checked_in_at: Some(utc(checked_in_at)),
                checked_out_at: Some(utc(checked_out_at)),
                reason,
            };
            let found = client
                .correct_hours(request(global, message)?)
                .await?
                .into_inner();
            show_matches(global, found.r#match.into_iter().collect());
            Ok(())
        }
        MatchesCommand::Contact {
            match_id,
            task,
            incident,
            grant,
        } => contact(global, match_id, task, incident, grant).await,
    }
}

fn show_matches(global: &Global, matches: Vec<spontan_proto::v1::Match>) {
    let json = json!(matches.iter().map(match_json).collect::<Vec<_>>());
    print(
        global.json,
        json,
        MATCH_HEADERS,
        matches.iter().map(match_row).collect(),
    );
}

fn change_json(change: &MatchChange) -> serde_json::Value {
    json!({
        "sequence": change.sequence,
        "match_id": change.match_id,
        "task_id": change.task_id,
        "volunteer_ref": change.volunteer_ref,
        "state": enum_name(change.state().as_str_name(), "MATCH_STATE_"),
        "previous_state": enum_name(change.previous_state().as_str_name(), "MATCH_STATE_"),
        "changed_at": time(change.changed_at.as_ref()),
    })
}

async fn changes(global: &Global, incident: String, after: u64, limit: u32) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let message = ListMatchChangesRequest {
        incident_id: incident,
        after_sequence: after,
        limit,
    };
    let response = client
        .list_match_changes(request(global, message)?)
        .await?
        .into_inner();
    let json = json!({
        "changes": response.changes.iter().map(change_json).collect::<Vec<_>>(),
        "next_after_sequence": response.next_after_sequence,
        "has_more": response.has_more,
    });
    let rows = response
        .changes
        .iter()
        .map(|c| {
            vec![
                c.sequence.to_string(),
                time(c.changed_at.as_ref()),
                c.task_id.clone(),
                c.match_id.clone(),
                c.volunteer_ref.clone(),
                enum_name(c.previous_state().as_str_name(), "MATCH_STATE_"),
                enum_name(c.state().as_str_name(), "MATCH_STATE_"),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &["SEQ", "TIME", "TASK", "MATCH", "VOLUNTEER", "FROM", "TO"],
        rows,
    );
    if !global.json && response.has_more {
        println!("more: --after {}", response.next_after_sequence);
    }
    Ok(())
}

/// The match's contact grant from the staffing of `task` (empty when matching shows none).
async fn grant_from_task(global: &Global, task: &str, match_id: &str) -> anyhow::Result<String> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let staffing = client
        .get_task_staffing(request(
            global,
            GetTaskStaffingRequest {
                task_id: task.to_owned(),
                include_finished: false,
            },
        )?)
        .await
        .context("reading the task's staffing for the contact grant")?
        .into_inner();
    Ok(staffing
        .matches
        .into_iter()
        .find(|m| m.match_id == match_id)
        .map(|m| m.contact_grant)
        .unwrap_or_default())
}

/// The task of `match_id`, from the incident's match changes.
async fn task_of_match(
    global: &Global,
    incident: &str,
    match_id: &str,
) -> anyhow::Result<Option<String>> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let mut after = 0;
    loop {
        let response = client
            .list_match_changes(request(
                global,
                ListMatchChangesRequest {
                    incident_id: incident.to_owned(),
                    after_sequence: after,
                    limit: 1000,
                },
            )?)
            .await
            .context("looking for the match's task in the incident's match changes")?
            .into_inner();
        if let Some(change) = response.changes.iter().find(|c| c.match_id == match_id) {
            return Ok(Some(change.task_id.clone()));
        }
        if !response.has_more || response.next_after_sequence <= after {
            return Ok(None);
        }
        after = response.next_after_sequence;
    }
}

async fn contact(
    global: &Global,
    match_id: String,
    task: Option<String>,
    incident: Option<String>,
    grant: Option<String>,
) -> anyhow::Result<()> {
    let task = match (task, &incident) {
        (Some(task), _) => Some(task),
        (None, Some(incident)) => Some(
            task_of_match(global, incident, &match_id)
                .await?
                .with_context(|| format!("match {match_id} is not in incident {incident}"))?,
        ),
        (None, None) => None,
    };
    let grant = match (grant, &task) {
        (Some(grant), _) => grant,
        (None, Some(task)) => grant_from_task(global, task, &match_id).await?,
        (None, None) => String::new(),
    };
    let mut client = RegistrationServiceClient::new(channel(global, &global.registration).await?);
    let with_grant = !grant.is_empty();
    let message = GetVolunteerContactRequest {
        match_id,
        contact_grant: grant,
    };
    let response = client
        .get_volunteer_contact(request(global, message)?)
        .await?
        .into_inner();
    let contact = response.contact.unwrap_or_default();
    let json = json!({
        "match_id": response.match_id,
        "display_name": contact.display_name,
        "phone_e164": contact.phone_e164,
        "email": contact.email,
        "with_grant": with_grant,
    });
    let rows = vec![vec![
        response.match_id.clone(),
        contact.display_name.clone(),
        contact.phone_e164.clone(),
        contact.email.clone(),
    ]];
    print(
        global.json,
        json,
        &["MATCH", "NAME", "PHONE", "E-MAIL"],
        rows,
    );
    Ok(())
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
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
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
