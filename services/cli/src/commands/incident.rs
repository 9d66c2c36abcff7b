//! `spontan incident`: open, list, show and close incidents (task service); an incident's
//! coverage and optimisation (matching service); its audit trail (all three, admins).

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::{
    ApplyOptimizationPlanRequest, CloseIncidentRequest, CreateIncidentRequest, GetIncidentRequest,
    GetIncidentSummaryRequest, Incident, IncidentStatus, ListAuditEntriesRequest,
    ListContactReadsRequest, ListIncidentsRequest, ListParticipantsRequest,
    ListTaskAuditEntriesRequest, ListTasksRequest, OptimizeIncidentRequest, Participant, PlanMove,
    PlanMoveKind, ShareIncidentRequest,
};

use crate::client::{Global, channel, derived_key, request};
use crate::convert::point;
use crate::output::{enum_name, print, time};

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident for your organisation.
    Open {
        /// Name shown to coordinators and dashboards, e.g. "Hochwasser Ahr".
        #[arg(long)]
        name: String,
        /// Organisation that runs it (must match your token's organisation).
        #[arg(long)]
        organisation: String,
        /// Centre of the affected region, latitude in degrees.
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Centre of the affected region, longitude in degrees.
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Radius of the affected region in km.
        #[arg(long)]
        radius_km: f64,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List incidents.
    List {
        /// Only incidents in this state.
        #[arg(long, value_enum)]
        status: Option<IncidentStatusArg>,
    },
    /// Show one incident.
    Show { incident_id: String },
    /// Close an incident and its open tasks.
    Close { incident_id: String },
    /// Let other organisations (a regional control room) read the incident: replaces the
    /// list; no --with shares it with nobody (coordinator of the owning organisation).
    Share {
        incident_id: String,
        /// An organisation to share with; repeat for several.
        #[arg(long = "with", value_name = "ORGANISATION")]
        with: Vec<String>,
    },
    /// Coverage per priority and in total, and the volunteers available in the region.
    Summary { incident_id: String },
    /// Plan the best assignment of available volunteers to the open tasks (accepted matches
    /// stay, open offers may move) and apply it (coordinator); with --dry-run only make the
    /// plan, for `incident apply-plan`.
    Optimize {
        incident_id: String,
        #[arg(long)]
        dry_run: bool,
        /// What keeping an open offer is worth, in km of travel (default: the service's).
        #[arg(long, value_name = "KM")]
        move_cost_km: Option<f64>,
    },
    /// Apply a plan `incident optimize --dry-run` made, all of it or nothing (coordinator).
    ApplyPlan {
        incident_id: String,
        plan_id: String,
    },
    /// Who worked in the incident for your organisation: name, task, place, date, hours
    /// (coordinator; personal data, every listing is audited). --csv for a spreadsheet or the
    /// insurer.
    Participants {
        incident_id: String,
        /// Comma-separated values with a header line, instead of a table (or JSON).
        #[arg(long)]
        csv: bool,
    },
    /// What staff did to the incident, oldest first (admin): the task service's entries,
    /// matching's entries and the contact reads of its tasks, in one list.
    Audit { incident_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IncidentStatusArg {
    Open,
    Closed,
}

/// Runs `spontan incident …`: one request to the task service, then the incidents as a table.
pub async fn run(global: &Global, command: IncidentCommand) -> anyhow::Result<()> {
    let command = match command {
        IncidentCommand::Summary { incident_id } => return summary(global, incident_id).await,
        IncidentCommand::Optimize {
            incident_id,
            dry_run,
            move_cost_km,
        } => return optimize(global, incident_id, dry_run, move_cost_km).await,
        IncidentCommand::ApplyPlan {
            incident_id,
            plan_id,
        } => return apply_plan(global, incident_id, plan_id).await,
        IncidentCommand::Participants { incident_id, csv } => {
            return participants(global, incident_id, csv).await;
        }
        IncidentCommand::Audit { incident_id } => return audit(global, incident_id).await,
        other => other,
    };
    let mut client = TaskServiceClient::new(channel(global, &global.task).await?);
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
        IncidentCommand::Show { incident_id } => {
            let message = GetIncidentRequest { incident_id };
            let response = client
                .get_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect()
        }
        IncidentCommand::Summary { .. }
        | IncidentCommand::Optimize { .. }
        | IncidentCommand::ApplyPlan { .. }
        | IncidentCommand::Participants { .. }
        | IncidentCommand::Audit { .. } => unreachable!("answered above"),
        IncidentCommand::Share { incident_id, with } => {
            let message = ShareIncidentRequest {
                incident_id,
                organisation_ids: with,
            };
            let response = client
                .share_incident(request(global, message)?)
                .await?
                .into_inner();
            response.incident.into_iter().collect()
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
                i.shared_with_organisation_ids.join(" "),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &[
            "ID",
            "NAME",
            "ORGANISATION",
            "STATUS",
            "OPENED",
            "SHARED WITH",
        ],
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
        "shared_with_organisation_ids": i.shared_with_organisation_ids,
    })
}

async fn summary(global: &Global, incident_id: String) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let s = client
        .get_incident_summary(request(global, GetIncidentSummaryRequest { incident_id })?)
        .await?
        .into_inner();
    let coverage = |c: &spontan_proto::v1::PriorityCoverage| {
        json!({
            "priority": enum_name(c.priority().as_str_name(), "PRIORITY_"),
            "task_count": c.task_count,
            "staffed_task_count": c.staffed_task_count,
            "needed": c.needed,
            "offered": c.offered,
            "accepted": c.accepted,
            "checked_in": c.checked_in,
            "coverage": c.coverage,
        })
    };
    let json = json!({
        "incident_id": s.incident_id,
        "needed": s.needed,
        "offered": s.offered,
        "accepted": s.accepted,
        "checked_in": s.checked_in,
        "available_volunteers": s.available_volunteers,
        "as_of_sequence": s.as_of_sequence,
        "computed_at": time(s.computed_at.as_ref()),
        "coverage": s.coverage.iter().map(coverage).collect::<Vec<_>>(),
    });
    let mut rows: Vec<Vec<String>> = s
        .coverage
        .iter()
        .map(|c| {
            vec![
                enum_name(c.priority().as_str_name(), "PRIORITY_"),
                format!("{}/{}", c.staffed_task_count, c.task_count),
                c.needed.to_string(),
                c.offered.to_string(),
                c.accepted.to_string(),
                c.checked_in.to_string(),
                format!("{:.0} %", c.coverage * 100.0),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        String::new(),
        s.needed.to_string(),
        s.offered.to_string(),
        s.accepted.to_string(),
        s.checked_in.to_string(),
        String::new(),
    ]);
    print(
        global.json,
        json,
        &[
            "PRIORITY",
            "STAFFED TASKS",
            "NEEDED",
            "OFFERED",
            "ACCEPTED",
            "CHECKED IN",
            "COVERAGE",
        ],
        rows,
    );
    if !global.json {
        println!(
            "{} volunteers available in the region",
            s.available_volunteers
        );
    }
    Ok(())
}

async fn optimize(
    global: &Global,
    incident_id: String,
    dry_run: bool,
    move_cost_km: Option<f64>,
) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let o = client
        .optimize_incident(request(
            global,
            OptimizeIncidentRequest {
                incident_id,
                dry_run,
                move_cost_km,
            },
        )?)
        .await?
        .into_inner();
    let solve_ms = o.solve_duration.as_ref().map_or(0.0, |d| {
        d.seconds as f64 * 1000.0 + f64::from(d.nanos) / 1e6
    });
    let json = json!({
        "incident_id": o.incident_id,
        "dry_run": o.dry_run,
        "plan_id": o.plan_id,
        "plan_expires_at": o.plan_expires_at.as_ref().map(ToString::to_string),
        "move_cost_km": o.move_cost_km,
        "created_match_count": o.created_match_count,
        "cancelled_match_count": o.cancelled_match_count,
        "solve_ms": solve_ms,
        "before": objective(o.before.as_ref()),
        "after": objective(o.after.as_ref()),
        "moves": moves_json(&o.moves),
        "assignments": o.assignments.iter().map(|a| json!({
            "task_id": a.task_id,
            "volunteer_ref": a.volunteer_ref,
            "match_id": a.match_id,
            "kept": a.kept,
            "explanation": a.explanation.as_ref().map(|e| e.summary.clone()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    });
    if !global.json {
        let before = o.before.unwrap_or_default();
        let after = o.after.unwrap_or_default();
        println!(
            "coverage {:.0} % -> {:.0} %, travel {:.1} km -> {:.1} km ({solve_ms:.0} ms, move \
             cost {} km)",
            before.weighted_coverage * 100.0,
            after.weighted_coverage * 100.0,
            before.total_travel_km,
            after.total_travel_km,
            o.move_cost_km,
        );
        if o.dry_run {
            println!(
                "plan {}: {} moves; apply with `spontan incident apply-plan {} {}`",
                o.plan_id,
                o.moves.len(),
                o.incident_id,
                o.plan_id
            );
        } else {
            println!(
                "applied: {} offers made, {} open offers withdrawn",
                o.created_match_count, o.cancelled_match_count
            );
        }
    }
    print(global.json, json, MOVE_HEADERS, move_rows(&o.moves));
    Ok(())
}

async fn apply_plan(global: &Global, incident_id: String, plan_id: String) -> anyhow::Result<()> {
    let mut client = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let a = client
        .apply_optimization_plan(request(
            global,
            ApplyOptimizationPlanRequest {
                incident_id,
                plan_id,
            },
        )?)
        .await?
        .into_inner();
    let json = json!({
        "incident_id": a.incident_id,
        "plan_id": a.plan_id,
        "created_match_count": a.created_match_count,
        "cancelled_match_count": a.cancelled_match_count,
        "before": objective(a.before.as_ref()),
        "after": objective(a.after.as_ref()),
        "moves": moves_json(&a.moves),
    });
    if !global.json {
        println!(
            "plan {} applied: {} offers made, {} open offers withdrawn",
            a.plan_id, a.created_match_count, a.cancelled_match_count
        );
    }
    print(global.json, json, MOVE_HEADERS, move_rows(&a.moves));
    Ok(())
}

async fn participants(global: &Global, incident_id: String, csv: bool) -> anyhow::Result<()> {
    let mut client = RegistrationServiceClient::new(channel(global, &global.registration).await?);
    let list = client
        .list_participants(request(global, ListParticipantsRequest { incident_id })?)
        .await?
        .into_inner();
    let state = |p: &Participant| enum_name(p.state().as_str_name(), "MATCH_STATE_");
    let rows: Vec<Vec<String>> = list
        .participants
        .iter()
        .map(|p| {
            vec![
                p.display_name.clone(),
                p.task_title.clone(),
                p.task_address.clone(),
                time(p.task_starts_at.as_ref()),
                time(p.checked_in_at.as_ref()),
                time(p.checked_out_at.as_ref()),
                format!("{:.2}", p.hours_on_site),
                state(p),
            ]
        })
        .collect();
    const HEADERS: [&str; 8] = [
        "NAME", "TASK", "PLACE", "DATE", "ARRIVED", "LEFT", "HOURS", "STATE",
    ];
    if csv {
        let mut out = ::csv::Writer::from_writer(std::io::stdout());
        out.write_record(HEADERS.map(str::to_lowercase))?;
        for row in &rows {
            out.write_record(row)?;
        }
        out.flush()?;
        return Ok(());
    }
    let json = json!({
        "total_hours": list.total_hours,
        "participants": list.participants.iter().map(|p| json!({
            "match_id": p.match_id,
            "display_name": p.display_name,
            "task_id": p.task_id,
            "task_title": p.task_title,
            "task_address": p.task_address,
            "task_starts_at": time(p.task_starts_at.as_ref()),
            "checked_in_at": time(p.checked_in_at.as_ref()),
            "checked_out_at": time(p.checked_out_at.as_ref()),
            "hours_on_site": p.hours_on_site,
            "state": state(p),
        })).collect::<Vec<_>>(),
    });
    if !global.json {
        println!(
            "{} participants, {:.1} hours on site",
            list.participants.len(),
            list.total_hours
        );
    }
    print(global.json, json, &HEADERS, rows);
    Ok(())
}

fn objective(o: Option<&spontan_proto::v1::OptimizationObjective>) -> serde_json::Value {
    let o = o.copied().unwrap_or_default();
    json!({
        "weighted_coverage": o.weighted_coverage,
        "total_travel_km": o.total_travel_km,
        "load_spread_hours": o.load_spread_hours,
    })
}

const MOVE_HEADERS: &[&str] = &["MOVE", "TASK", "VOLUNTEER", "MATCH", "WHY"];

fn move_kind(m: &PlanMove) -> &'static str {
    match m.kind() {
        PlanMoveKind::Offer => "offer",
        PlanMoveKind::Withdraw => "withdraw",
        PlanMoveKind::Unspecified => "",
    }
}

fn moves_json(moves: &[PlanMove]) -> Vec<serde_json::Value> {
    moves
        .iter()
        .map(|m| {
            json!({
                "kind": move_kind(m),
                "task_id": m.task_id,
                "volunteer_ref": m.volunteer_ref,
                "match_id": m.match_id,
                "explanation": m.explanation.as_ref().map(|e| e.summary.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

fn move_rows(moves: &[PlanMove]) -> Vec<Vec<String>> {
    moves
        .iter()
        .map(|m| {
            vec![
                move_kind(m).to_owned(),
                m.task_id.clone(),
                m.volunteer_ref.clone(),
                m.match_id.clone(),
                m.explanation
                    .as_ref()
                    .map(|e| e.summary.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect()
}

/// One line of the merged audit trail.
struct AuditLine {
    at: Option<prost_types::Timestamp>,
    source: &'static str,
    who: String,
    role: String,
    action: String,
    subject: String,
    details: String,
}

async fn audit(global: &Global, incident_id: String) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let mut tasks = TaskServiceClient::new(channel(global, &global.task).await?);
    let mut after_id = 0;
    loop {
        let page = tasks
            .list_task_audit_entries(request(
                global,
                ListTaskAuditEntriesRequest {
                    incident_id: incident_id.clone(),
                    after_id,
                    limit: 500,
                },
            )?)
            .await?
            .into_inner();
        let done = page.entries.is_empty() || page.next_after_id <= after_id;
        lines.extend(page.entries.into_iter().map(|e| AuditLine {
            at: e.occurred_at,
            source: "task",
            who: e.actor_subject,
            role: e.actor_role,
            action: e.action,
            subject: format!("{} {}", e.entity_kind, e.entity_id),
            details: e.details_json,
        }));
        if done {
            break;
        }
        after_id = page.next_after_id;
    }
    let mut matching = MatchingServiceClient::new(channel(global, &global.matching).await?);
    let mut after_id = 0;
    loop {
        let page = matching
            .list_audit_entries(request(
                global,
                ListAuditEntriesRequest {
                    incident_id: incident_id.clone(),
                    after_id,
                    limit: 500,
                },
            )?)
            .await?
            .into_inner();
        let done = page.entries.is_empty() || page.next_after_id <= after_id;
        lines.extend(page.entries.into_iter().map(|e| AuditLine {
            at: e.occurred_at,
            source: "matching",
            who: e.actor_subject,
            role: e.actor_role,
            action: e.action,
            subject: if e.match_id.is_empty() {
                String::new()
            } else {
                format!("match {}", e.match_id)
            },
            details: e.details_json,
        }));
        if done {
            break;
        }
        after_id = page.next_after_id;
    }
    // The contact reads of the incident's tasks (registration knows tasks, not incidents).
    let mut task_ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = tasks
            .list_tasks(request(
                global,
                ListTasksRequest {
                    incident_id: incident_id.clone(),
                    statuses: Vec::new(),
                    priorities: Vec::new(),
                    page_size: 100,
                    page_token,
                },
            )?)
            .await?
            .into_inner();
        task_ids.extend(page.tasks.into_iter().map(|t| t.task_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if !task_ids.is_empty() {
        let mut registration =
            RegistrationServiceClient::new(channel(global, &global.registration).await?);
        for chunk in task_ids.chunks(500) {
            let mut after_id = 0;
            loop {
                let page = registration
                    .list_contact_reads(request(
                        global,
                        ListContactReadsRequest {
                            task_ids: chunk.to_vec(),
                            after_id,
                            limit: 500,
                        },
                    )?)
                    .await?
                    .into_inner();
                let done = page.reads.is_empty() || page.next_after_id <= after_id;
                lines.extend(page.reads.into_iter().map(|r| AuditLine {
                    at: r.read_at,
                    source: "registration",
                    who: r.reader_subject,
                    role: String::new(),
                    action: "contact.read".into(),
                    subject: format!("match {}", r.match_id),
                    details: json!({"task_id": r.task_id}).to_string(),
                }));
                if done {
                    break;
                }
                after_id = page.next_after_id;
            }
        }
    }
    lines.sort_by_key(|l| l.at.as_ref().map(|t| (t.seconds, t.nanos)));
    let json = json!(
        lines
            .iter()
            .map(|l| json!({
                "at": l.at.as_ref().and_then(spontan_platform::events::from_timestamp).map(|t| t.to_rfc3339()),
                "source": l.source,
                "actor_subject": l.who,
                "actor_role": l.role,
                "action": l.action,
                "subject": l.subject,
                "details": serde_json::from_str::<serde_json::Value>(&l.details).unwrap_or(json!(l.details)),
            }))
            .collect::<Vec<_>>()
    );
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                time(l.at.as_ref()),
                l.source.to_owned(),
                l.who.clone(),
                l.role.clone(),
                l.action.clone(),
                l.subject.clone(),
                l.details.clone(),
            ]
        })
        .collect();
    print(
        global.json,
        json,
        &[
            "TIME", "SOURCE", "WHO", "ROLE", "ACTION", "ABOUT", "DETAILS",
        ],
        rows,
    );
    Ok(())
}
