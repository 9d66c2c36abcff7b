//! The whole drill from the command line, against the real suite: `spontan drill` runs an
//! incident end to end and reports every step; the single commands a coordinator and a
//! volunteer use on the way (offers, check-in, check-out, completion, contact, staffing,
//! check-in code, summary, optimisation, match changes, audit) do what they say, checked
//! through the services themselves.

use std::time::Duration;

use serde_json::Value;
use spontan_e2e::{Suite, SuiteConfig};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::{GetTaskStaffingRequest, MatchState};

mod common;

use common::{json, ok, spontan};

const ORG: &str = "thw-ov-ahrweiler";

fn generous_limits(config: &mut SuiteConfig) {
    config.registration.register_limit.burst = 1_000;
    config.registration.register_limit.per_minute = 60_000;
    config.registration.register_limit.global_burst = 100_000;
    config.registration.register_limit.global_per_minute = 6_000_000;
}

async fn suite(adjust: impl FnOnce(&mut SuiteConfig)) -> Suite {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        generous_limits(config);
        adjust(config);
    })
    .await
    .expect("suite");
    suite
        .serving(Duration::from_secs(30))
        .await
        .expect("serving");
    suite
}

#[tokio::test]
async fn the_drill_runs_an_incident_end_to_end_and_reports_it() {
    let suite = suite(|_| {}).await;
    // No token: the drill mints its coordinator's with the development key, as on the local
    // stack.
    let key = suite.auth.signing_key.expose().to_owned();
    let output = spontan(
        &suite,
        None,
        &[
            "--json",
            "drill",
            "--signing-key",
            &key,
            "--issuer",
            &suite.auth.issuer,
            "--volunteers",
            "4",
            "--timeout",
            "60",
        ],
    )
    .await;
    let report = json(&output);
    assert_eq!(report["ok"], true, "{report:#}");
    let steps = report["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            "open incident",
            "create task",
            "register volunteers",
            "wait for offers",
            "decline one offer",
            "accept offers",
            "read contacts",
            "get check-in code",
            "check in",
            "check out",
            "complete last match",
            "complete task",
            "close incident",
            "verify staffing",
            "erase volunteers",
        ],
        "{report:#}"
    );
    for step in steps {
        assert_eq!(step["ok"], true, "{step}");
        assert!(step["ms"].as_u64().is_some(), "{step}");
    }
    assert_eq!(report["offered"], 4, "{report:#}");
    assert_eq!(report["declined"], 1);
    assert_eq!(report["accepted"], 3);
    assert_eq!(report["contacts"], 3);
    // The suite's matching has a grant key: every contact was read with its grant.
    assert_eq!(report["contacts_with_grant"], 3);
    assert_eq!(report["checked_in"], 3);
    assert_eq!(report["checked_out"], 2);
    assert_eq!(report["final_states"]["completed"], 3, "{report:#}");
    assert_eq!(report["final_states"]["declined"], 1);

    // The services agree: the task is completed, the incident closed, the matches final.
    let admin = suite.token(Role::Admin, "pruefer", None);
    let incident = report["incident_id"].as_str().expect("incident id");
    let task = report["task_id"].as_str().expect("task id");
    let shown = json(&spontan(&suite, Some(&admin), &["--json", "task", "show", task]).await);
    assert_eq!(shown[0]["status"], "completed", "{shown}");
    let closed = json(
        &spontan(
            &suite,
            Some(&admin),
            &["--json", "incident", "show", incident],
        )
        .await,
    );
    assert_eq!(closed[0]["status"], "closed", "{closed}");
    let mut clients = suite.clients().await.expect("clients");
    let mut request = tonic::Request::new(GetTaskStaffingRequest {
        task_id: task.to_owned(),
        include_finished: true,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {admin}").parse().expect("header"),
    );
    let staffing = clients
        .matching
        .get_task_staffing(request)
        .await
        .expect("staffing")
        .into_inner();
    let completed = staffing
        .matches
        .iter()
        .filter(|m| m.state() == MatchState::Completed)
        .count();
    assert_eq!(completed, 3, "{:?}", staffing.matches);

    // The audit trail holds what the coordinator did, for the admin.
    let audit = json(
        &spontan(
            &suite,
            Some(&admin),
            &["--json", "incident", "audit", incident],
        )
        .await,
    );
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "incident.opened",
        "task.created",
        "match.completed",
        "task.completed",
        "incident.closed",
        "contact.read",
    ] {
        assert!(actions.contains(&action), "{action} missing: {audit:#}");
    }

    // A drill that cannot mint or borrow a token says so before it starts.
    let refused = spontan(&suite, None, &["drill", "--signing-key", "not base64"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("dev signing key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    suite.stop().await.expect("stopped");
}

#[tokio::test]
async fn the_drill_says_when_volunteers_need_a_confirmed_contact() {
    let suite = suite(|config| {
        config.registration.privacy.require_confirmed_contact = true;
    })
    .await;
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-7", Some(ORG));
    let output = spontan(
        &suite,
        Some(&coordinator),
        &["--json", "drill", "--volunteers", "3", "--timeout", "10"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("register volunteers"), "{stderr}");
    assert!(stderr.contains("confirmed contact"), "{stderr}");
    // The partial report names the failed step and still erased the volunteers.
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(report["ok"], false);
    let failed: Vec<&Value> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["step"], "register volunteers");
    assert!(
        report["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["step"] == "erase volunteers" && s["ok"] == true),
        "{report:#}"
    );
    suite.stop().await.expect("stopped");
}

/// Polls `spontan offers list --json` with `token` until an offer for `task` is there.
async fn offer_for(suite: &Suite, token: &str, task: &str) -> String {
    for _ in 0..120 {
        let offers = json(&spontan(suite, Some(token), &["--json", "offers", "list"]).await);
        if let Some(offer) = offers
            .as_array()
            .expect("offers")
            .iter()
            .find(|o| o["task_id"] == task && o["state"] == "offered")
        {
            return offer["match_id"].as_str().expect("match id").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no offer for task {task}");
}

#[tokio::test]
async fn coordinators_and_volunteers_answer_check_in_and_complete_from_the_command_line() {
    let suite = suite(|_| {}).await;
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-7", Some(ORG));
    let admin = suite.token(Role::Admin, "pruefer", None);
    let dashboard = suite.token(Role::Dashboard, "lagezentrum", Some(ORG));
    let opened = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "incident",
                "open",
                "--name",
                "Hochwasser Ahr",
                "--organisation",
                ORG,
                "--lat",
                "50.5427",
                "--lon",
                "7.1125",
                "--radius-km",
                "25",
            ],
        )
        .await,
    );
    let incident = opened[0]["incident_id"].as_str().expect("id").to_owned();
    // The Red Cross, in the same regional control room, reads along.
    let shared = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "incident",
                "share",
                &incident,
                "--with",
                "drk-kv-ahrweiler",
            ],
        )
        .await,
    );
    assert_eq!(
        shared[0]["shared_with_organisation_ids"],
        serde_json::json!(["drk-kv-ahrweiler"]),
        "{shared:#}"
    );
    let start = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::hours(4)).to_rfc3339();
    let created = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "task",
                "create",
                "--incident",
                &incident,
                "--title",
                "Sandsäcke füllen",
                "--address",
                "Ahrtor, 53474 Ahrweiler",
                "--lat",
                "50.5430",
                "--lon",
                "7.1120",
                "--skill",
                "sandbag_filling",
                "--headcount",
                "3",
                "--start",
                &start,
                "--end",
                &end,
            ],
        )
        .await,
    );
    let task = created[0]["task_id"].as_str().expect("task id").to_owned();

    let available = format!(
        "{}/{}",
        chrono::Utc::now().to_rfc3339(),
        (chrono::Utc::now() + chrono::Duration::hours(12)).to_rfc3339()
    );
    let mut volunteers = Vec::new();
    for (n, name) in ["Anna Drill", "Bernd Drill", "Carla Drill"]
        .iter()
        .enumerate()
    {
        let phone = format!("+4915112345{n:03}");
        let lat = format!("{:.4}", 50.5440 + n as f64 * 0.001);
        let registered = json(
            &spontan(
                &suite,
                None,
                &[
                    "--json",
                    "volunteer",
                    "register",
                    "--name",
                    name,
                    "--phone",
                    &phone,
                    "--lat",
                    &lat,
                    "--lon",
                    "7.1130",
                    "--birth-year",
                    "1990",
                    "--skill",
                    "sandbag_filling",
                    "--available",
                    &available,
                ],
            )
            .await,
        );
        let token = registered["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        volunteers.push((name.to_string(), token));
    }
    let mut matches = Vec::new();
    for (_, token) in &volunteers {
        matches.push(offer_for(&suite, token, &task).await);
    }

    // Anna accepts and is checked in with the code; Bernd accepts and never comes; Carla
    // declines.
    let accepted = json(
        &spontan(
            &suite,
            Some(&volunteers[0].1),
            &["--json", "offers", "accept", &matches[0]],
        )
        .await,
    );
    assert_eq!(accepted[0]["state"], "accepted", "{accepted}");
    let accepted = json(
        &spontan(
            &suite,
            Some(&volunteers[1].1),
            &["--json", "offers", "accept", &matches[1]],
        )
        .await,
    );
    assert_eq!(accepted[0]["state"], "accepted", "{accepted}");
    let declined = json(
        &spontan(
            &suite,
            Some(&volunteers[2].1),
            &[
                "--json",
                "offers",
                "decline",
                &matches[2],
                "--reason",
                "too-far",
            ],
        )
        .await,
    );
    assert_eq!(declined[0]["state"], "declined", "{declined}");
    // Another volunteer's match is not one's own.
    let foreign = spontan(
        &suite,
        Some(&volunteers[2].1),
        &["offers", "accept", &matches[0]],
    )
    .await;
    assert_eq!(foreign.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&foreign.stderr).starts_with("error: not found"));

    // The coordinator sees the staffing, with who accepted and why they were matched.
    let staffing = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "task", "staffing", &task],
        )
        .await,
    );
    assert_eq!(staffing["accepted"], 2, "{staffing:#}");
    let listed = staffing["matches"].as_array().expect("matches");
    let anna = listed
        .iter()
        .find(|m| m["match_id"] == matches[0].as_str())
        .expect("Anna's match");
    assert_eq!(anna["state"], "accepted");
    assert_eq!(anna["has_contact_grant"], true, "{anna}");
    assert!(
        anna["volunteer_ref"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(anna["explanation"].as_str().is_some_and(|r| !r.is_empty()));

    // Contacts: through the task's staffing (grant), through the incident's changes, and
    // without either (registration's own knowledge, once the acceptance reached it).
    let contact = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "matches",
                "contact",
                &matches[0],
                "--task-id",
                &task,
            ],
        )
        .await,
    );
    assert_eq!(contact["display_name"], "Anna Drill", "{contact}");
    assert_eq!(contact["phone_e164"], "+4915112345000");
    assert_eq!(contact["with_grant"], true);
    let contact = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "match",
                "contact",
                &matches[1],
                "--incident",
                &incident,
            ],
        )
        .await,
    );
    assert_eq!(contact["display_name"], "Bernd Drill", "{contact}");
    assert_eq!(contact["with_grant"], true);
    let mut without = None;
    for _ in 0..60 {
        let output = spontan(
            &suite,
            Some(&coordinator),
            &["--json", "matches", "contact", &matches[0]],
        )
        .await;
        if output.status.success() {
            without = Some(json(&output));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let without = without.expect("the contact without a grant, once registration knows");
    assert_eq!(without["with_grant"], false);
    assert_eq!(without["display_name"], "Anna Drill");
    // Once registration has heard of both acceptances, a message reaches both.
    for _ in 0..60 {
        let output = spontan(
            &suite,
            Some(&coordinator),
            &["--json", "matches", "contact", &matches[1]],
        )
        .await;
        if output.status.success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sent = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "message",
                "send",
                "--incident",
                &incident,
                "--task-id",
                &task,
                "Treffpunkt verlegt: Parkplatz Ahrtor",
            ],
        )
        .await,
    );
    assert_eq!(sent[0]["delivery"]["recipients"], 2, "{sent:#}");
    let listed = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "message", "list", "--incident", &incident],
        )
        .await,
    );
    assert_eq!(listed[0]["message_id"], sent[0]["message_id"], "{listed:#}");
    assert_eq!(listed[0]["text"], "Treffpunkt verlegt: Parkplatz Ahrtor");
    // A declined volunteer's contact stays closed, with the reason.
    let closed = spontan(
        &suite,
        Some(&coordinator),
        &["matches", "contact", &matches[2], "--task-id", &task],
    )
    .await;
    assert_eq!(closed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&closed.stderr).contains("not possible in the current state"),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    // A dashboard may not read contacts.
    let refused = spontan(
        &suite,
        Some(&dashboard),
        &["matches", "contact", &matches[0]],
    )
    .await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not allow"));

    // Check-in: a wrong code is refused with the field named; the shown code works.
    let wrong = spontan(
        &suite,
        Some(&volunteers[0].1),
        &["matches", "check-in", &matches[0], "--code", "000000"],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    let wrong = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert!(wrong.contains("invalid fields"), "{wrong}");
    assert!(wrong.contains("- check_in_code"), "{wrong}");
    let code = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "task", "check-in-code", &task],
        )
        .await,
    );
    let digits = code["code"].as_str().expect("code").to_owned();
    assert_eq!(digits.len(), 6, "{code}");
    let checked_in = json(
        &spontan(
            &suite,
            Some(&volunteers[0].1),
            &[
                "--json",
                "matches",
                "check-in",
                &matches[0],
                "--code",
                &digits,
            ],
        )
        .await,
    );
    assert_eq!(checked_in[0]["state"], "checked_in", "{checked_in}");
    let checked_out = json(
        &spontan(
            &suite,
            Some(&volunteers[0].1),
            &["--json", "matches", "check-out", &matches[0]],
        )
        .await,
    );
    assert_eq!(checked_out[0]["state"], "completed", "{checked_out}");
    // Bernd never came: the coordinator records it.
    let no_show = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "matches",
                "complete",
                &matches[1],
                "--outcome",
                "no-show",
            ],
        )
        .await,
    );
    assert_eq!(no_show[0]["state"], "no_show", "{no_show}");
    let mine = json(
        &spontan(
            &suite,
            Some(&volunteers[0].1),
            &["--json", "offers", "list", "--all"],
        )
        .await,
    );
    assert!(
        mine.as_array()
            .expect("offers")
            .iter()
            .any(|o| o["match_id"] == matches[0].as_str() && o["state"] == "completed"),
        "{mine:#}"
    );

    // The services hold what the commands did.
    let mut clients = suite.clients().await.expect("clients");
    let mut request = tonic::Request::new(GetTaskStaffingRequest {
        task_id: task.clone(),
        include_finished: true,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {coordinator}").parse().expect("header"),
    );
    let staffing = clients
        .matching
        .get_task_staffing(request)
        .await
        .expect("staffing")
        .into_inner();
    let state = |id: &str| {
        staffing
            .matches
            .iter()
            .find(|m| m.match_id == id)
            .map(|m| m.state())
    };
    assert_eq!(state(&matches[0]), Some(MatchState::Completed));
    assert_eq!(state(&matches[1]), Some(MatchState::NoShow));
    assert_eq!(state(&matches[2]), Some(MatchState::Declined));
    let anna = staffing
        .matches
        .iter()
        .find(|m| m.match_id == matches[0])
        .expect("Anna");
    assert!(anna.checked_in_at.is_some() && anna.checked_out_at.is_some());

    // Summary, optimisation, changes and audit.
    let summary = json(
        &spontan(
            &suite,
            Some(&dashboard),
            &["--json", "incident", "summary", &incident],
        )
        .await,
    );
    assert_eq!(summary["needed"], 3, "{summary:#}");
    assert_eq!(summary["checked_in"], 1, "{summary:#}");
    let optimized = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "incident", "optimize", &incident, "--dry-run"],
        )
        .await,
    );
    assert_eq!(optimized["dry_run"], true, "{optimized:#}");
    assert_eq!(optimized["created_match_count"], 0);
    let plan_id = optimized["plan_id"].as_str().expect("a plan id").to_owned();
    let planned_offers = optimized["moves"]
        .as_array()
        .expect("moves")
        .iter()
        .filter(|m| m["kind"] == "offer")
        .count();
    let applied = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "incident", "apply-plan", &incident, &plan_id],
        )
        .await,
    );
    assert_eq!(applied["plan_id"], plan_id.as_str(), "{applied:#}");
    assert_eq!(
        applied["created_match_count"], planned_offers,
        "{applied:#}"
    );
    let changes = json(
        &spontan(
            &suite,
            Some(&dashboard),
            &["--json", "matches", "changes", "--incident", &incident],
        )
        .await,
    );
    let list = changes["changes"].as_array().expect("changes");
    assert!(
        list.iter()
            .any(|c| c["match_id"] == matches[1].as_str() && c["state"] == "no_show"),
        "{changes:#}"
    );
    let last = changes["next_after_sequence"].as_u64().expect("cursor");
    let after = json(
        &spontan(
            &suite,
            Some(&dashboard),
            &[
                "--json",
                "matches",
                "changes",
                "--incident",
                &incident,
                "--after",
                &last.to_string(),
            ],
        )
        .await,
    );
    assert!(
        after["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|c| c["sequence"].as_u64() > Some(last)),
        "{after}"
    );
    let too_many = spontan(
        &suite,
        Some(&dashboard),
        &[
            "matches",
            "changes",
            "--incident",
            &incident,
            "--limit",
            "5000",
        ],
    )
    .await;
    assert_eq!(too_many.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&too_many.stderr).contains("invalid fields"),
        "{}",
        String::from_utf8_lossy(&too_many.stderr)
    );
    let audit = json(
        &spontan(
            &suite,
            Some(&admin),
            &["--json", "incident", "audit", &incident],
        )
        .await,
    );
    let entries = audit.as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "match.no_show" && e["actor_subject"] == "einsatzleiter-7"),
        "{audit:#}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "contact.read" && e["source"] == "registration"),
        "{audit:#}"
    );
    let refused = spontan(
        &suite,
        Some(&coordinator),
        &["incident", "audit", &incident],
    )
    .await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not allow"));

    // Bernd was there after all (the shift list says 09:00 to 12:30): the coordinator
    // corrects his hours, and the participation list for the insurer has both.
    let arrived = (chrono::Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
    let left = (chrono::Utc::now() - chrono::Duration::minutes(90)).to_rfc3339();
    let corrected = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &[
                "--json",
                "matches",
                "correct-hours",
                &matches[1],
                "--checked-in-at",
                &arrived,
                "--checked-out-at",
                &left,
                "--reason",
                "laut Schichtliste anwesend",
            ],
        )
        .await,
    );
    assert_eq!(corrected[0]["state"], "completed", "{corrected}");
    let mut csv = String::new();
    for _ in 0..60 {
        csv = ok(&spontan(
            &suite,
            Some(&coordinator),
            &["incident", "participants", &incident, "--csv"],
        )
        .await);
        if csv.contains("Bernd Drill") && csv.contains("Anna Drill") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("name,task,place,date,arrived,left,hours,state"),
        "{csv}"
    );
    let bernd = csv
        .lines()
        .find(|l| l.starts_with("Bernd Drill,"))
        .unwrap_or_else(|| panic!("Bernd listed: {csv}"));
    assert!(bernd.ends_with(",3.50,completed"), "{bernd}");

    suite.stop().await.expect("stopped");
}
