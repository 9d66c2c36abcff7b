//! `spontan matches watch`: follow what matching does, change by change, with a live summary
//! per task.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::{ListMatchChangesRequest, MatchChange, MatchState};

use crate::client::{Global, channel, request};
use crate::output::{enum_name, time};

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
    }
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
