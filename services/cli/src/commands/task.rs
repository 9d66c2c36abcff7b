//! `spontan task`: create, list, show, cancel and complete tasks (task service); a task's
//! staffing and check-in code (matching service).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::{
    CancelTaskRequest, CompleteTaskRequest, CreateTaskRequest, GetCheckInCodeRequest,
    GetTaskRequest, GetTaskStaffingRequest, ListTasksRequest, Priority, Task,
};

use crate::client::{Global, channel, derived_key, request};
use crate::convert::{point, window};
use crate::output::{MATCH_HEADERS, enum_name, match_json, match_row, print, time};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PriorityArg {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task (retrying the same command never creates a second task).
    Create(Box<TaskCreate>),
    /// List the tasks of an incident.
    List {
        #[arg(long)]
        incident: String,
        /// Only tasks of this priority (repeatable).
        #[arg(long, value_enum)]
        priority: Vec<PriorityArg>,
    },
    /// Show one task with its staffing.
    Show { task_id: String },
    /// Cancel a task; its volunteers are freed and offered elsewhere.
    Cancel {
        task_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Mark a task done: checked-in matches become completed, accepted ones no-show.
    Complete { task_id: String },
    /// How far a task is staffed, and its matches (state, volunteer pseudonym, why matched).
    Staffing {
        task_id: String,
        /// Also list finished matches (declined, expired, cancelled, completed, no-show).
        #[arg(long)]
        all: bool,
    },
    /// The task's current check-in code, to show at the meeting point (coordinator).
    CheckInCode { task_id: String },
}

#[derive(Debug, Args)]
pub struct TaskCreate {
    #[arg(long)]
    pub incident: String,
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Meeting point, latitude in degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lat: f64,
    /// Meeting point, longitude in degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub lon: f64,
    /// Meeting point as people find it, e.g. "Marktplatz, 53474 Ahrweiler" (the task
    /// service requires it: volunteers see it in their offer).
    #[arg(long)]
    pub address: String,
    /// Required skill id (repeatable; see the taxonomy with `grpcurl ... ListSkills`).
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// Preferred skill id (repeatable).
    #[arg(long = "preferred-skill")]
    pub preferred_skills: Vec<String>,
    /// Language every volunteer must speak, a BCP 47 tag like uk or ar (repeatable).
    #[arg(long = "language")]
    pub languages: Vec<String>,
    /// Language that ranks a volunteer higher (repeatable).
    #[arg(long = "preferred-language")]
    pub preferred_languages: Vec<String>,
    #[arg(long, default_value_t = 16)]
    pub min_age: u32,
    #[arg(long)]
    pub headcount: u32,
    /// Start, RFC 3339 (e.g. 2026-07-15T08:00:00+02:00).
    #[arg(long)]
    pub start: String,
    /// End, RFC 3339.
    #[arg(long)]
    pub end: String,
    #[arg(long, value_enum, default_value = "medium")]
    pub priority: PriorityArg,
    /// How far volunteers may come from, in km.
    #[arg(long, default_value_t = 30.0)]
    pub max_distance_km: f64,
    #[arg(long, default_value = "")]
    pub safety_notes: String,
    /// Idempotency key; by default derived from the other arguments, so a retry is safe.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

fn priority(arg: PriorityArg) -> Priority {
    match arg {
        PriorityArg::Critical => Priority::Critical,
        PriorityArg::High => Priority::High,
        PriorityArg::Medium => Priority::Medium,
        PriorityArg::Low => Priority::Low,
    }
}

/// Runs `spontan task …`: one request (or one per page) to the task service, then the tasks
/// as a table.
pub async fn run(global: &Global, command: TaskCommand) -> anyhow::Result<()> {
    let command = match command {
        TaskCommand::Staffing { task_id, all } => return staffing(global, task_id, all).await,
        TaskCommand::CheckInCode { task_id } => return check_in_code(global, task_id).await,
        other => other,
    };
    let mut client = TaskServiceClient::new(channel(global, &global.task).await?);
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
                required_languages: args.languages,
                preferred_languages: args.preferred_languages,
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
        TaskCommand::Complete { task_id } => {
            let message = CompleteTaskRequest { task_id };
            client
                .complete_task(request(global, message)?)
                .await?
                .into_inner()
                .task
                .into_iter()
                .collect()
        }
        TaskCommand::Staffing { .. } | TaskCommand::CheckInCode { .. } => {
            unreachable!("answered by the matching service above")
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

async fn staffing(global: &Global, task_id: String, all: bool) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let message = GetTaskStaffingRequest {
        task_id,
        include_finished: all,
    };
    let s = client
        .get_task_staffing(request(global, message)?)
        .await?
        .into_inner();
    if !global.json {
        println!(
            "task {}: {} needed, {} offered, {} accepted, {} checked in",
            s.task_id, s.needed, s.offered, s.accepted, s.checked_in
        );
    }
    let json = json!({
        "task_id": s.task_id,
        "needed": s.needed,
        "offered": s.offered,
        "accepted": s.accepted,
        "checked_in": s.checked_in,
        "as_of_sequence": s.as_of_sequence,
        "matches": s.matches.iter().map(match_json).collect::<Vec<_>>(),
    });
    print(
        global.json,
        json,
        MATCH_HEADERS,
        s.matches.iter().map(match_row).collect(),
    );
    Ok(())
}

async fn check_in_code(global: &Global, task_id: String) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let message = GetCheckInCodeRequest { task_id };
    let c = client
        .get_check_in_code(request(global, message)?)
        .await?
        .into_inner();
    let json = json!({
        "task_id": c.task_id,
        "code": c.code,
        "qr_text": c.qr_text,
        "rotates_at": time(c.rotates_at.as_ref()),
        "valid_until": time(c.valid_until.as_ref()),
        "rotation_seconds": c.rotation_seconds,
    });
    let rows = vec![vec![
        c.task_id.clone(),
        c.code.clone(),
        time(c.rotates_at.as_ref()),
        time(c.valid_until.as_ref()),
    ]];
    print(
        global.json,
        json,
        &["TASK", "CODE", "ROTATES", "VALID UNTIL"],
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
