//! The `spontan` binary against the real suite (three services, PostgreSQL, the broker): a
//! coordinator opens an incident, creates, lists, shows and cancels a task; a drill volunteer
//! registers; a dashboard watches the matches; the demo seeds; errors come out as sentences.

use std::time::Duration;

use serde_json::Value;
use spontan_e2e::Suite;
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;

mod common;

use common::{json, ok, spontan};

const ORG: &str = "thw-ov-ahrweiler";

#[tokio::test]
async fn a_coordinator_runs_an_incident_from_the_command_line() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        // The demo registers from one address, faster than a person would.
        config.registration.register_limit.burst = 1_000;
        config.registration.register_limit.per_minute = 60_000;
        config.registration.register_limit.global_burst = 100_000;
        config.registration.register_limit.global_per_minute = 6_000_000;
    })
    .await
    .expect("suite");
    suite
        .serving(Duration::from_secs(30))
        .await
        .expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-7", Some(ORG));
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
    let incident = opened[0]["incident_id"]
        .as_str()
        .expect("incident id")
        .to_owned();
    assert_eq!(opened[0]["status"], "open");
    let listed = json(&spontan(&suite, Some(&coordinator), &["--json", "incident", "list"]).await);
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .any(|i| i["incident_id"] == incident.as_str()),
        "{listed}"
    );
    let table = ok(&spontan(
        &suite,
        Some(&coordinator),
        &["incident", "list", "--status", "open"],
    )
    .await);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("Hochwasser Ahr"), "{table}");

    let start = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::hours(4)).to_rfc3339();
    let create = [
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
        "2",
        "--start",
        &start,
        "--end",
        &end,
        "--priority",
        "critical",
    ];
    let created = json(&spontan(&suite, Some(&coordinator), &create).await);
    let task = created[0]["task_id"].as_str().expect("task id").to_owned();
    assert_eq!(created[0]["priority"], "critical");
    // The same command again (a retry after a timeout) creates nothing new.
    let again = json(&spontan(&suite, Some(&coordinator), &create).await);
    assert_eq!(again[0]["task_id"], task.as_str());
    let tasks = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "task", "list", "--incident", &incident],
        )
        .await,
    );
    assert_eq!(tasks.as_array().map(Vec::len), Some(1), "{tasks}");

    let available = format!(
        "{}/{}",
        chrono::Utc::now().to_rfc3339(),
        (chrono::Utc::now() + chrono::Duration::hours(12)).to_rfc3339()
    );
    let volunteer = json(
        &spontan(
            &suite,
            None,
            &[
                "--json",
                "volunteer",
                "register",
                "--name",
                "Helferin Drill",
                "--phone",
                "+4915112345678",
                "--lat",
                "50.5440",
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
    assert!(
        volunteer["volunteer_id"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{volunteer}"
    );
    assert!(
        volunteer["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    // Matching offers the task to the volunteer; the dashboard sees it.
    let mut offered = false;
    for _ in 0..60 {
        let output = spontan(
            &suite,
            Some(&dashboard),
            &[
                "--json",
                "matches",
                "watch",
                "--incident",
                &incident,
                "--once",
            ],
        )
        .await;
        // Matching learns of the incident from its event a moment after it opened.
        if !output.status.success()
            && String::from_utf8_lossy(&output.stderr).contains("incident not found")
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let out = ok(&output);
        offered = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|c| c["task_id"] == task.as_str() && c["state"] == "offered");
        if offered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(offered, "no offer for the task seen by matches watch");
    let shown = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "task", "show", &task],
        )
        .await,
    );
    assert_eq!(shown[0]["task_id"], task.as_str(), "{shown}");

    let cancelled = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "task", "cancel", &task, "--reason", "Pegel sinkt"],
        )
        .await,
    );
    assert_eq!(cancelled[0]["status"], "cancelled");
    let closed = json(
        &spontan(
            &suite,
            Some(&coordinator),
            &["--json", "incident", "close", &incident],
        )
        .await,
    );
    assert_eq!(closed[0]["status"], "closed");

    // Errors are sentences on stderr and exit 1.
    let missing = spontan(
        &suite,
        Some(&coordinator),
        &["task", "show", &uuid::Uuid::new_v4().to_string()],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: not found"));
    let refused = spontan(&suite, None, &["incident", "list"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no valid token"));

    // The demo seeds an incident, a task of every kind and volunteers around them.
    let seed = ["demo", "seed", "--organisation", ORG, "--volunteers", "5"];
    let out = ok(&spontan(&suite, Some(&coordinator), &seed).await);
    assert!(out.starts_with("incident "), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("task ")).count(),
        8,
        "{out}"
    );
    assert!(out.contains("5 volunteers registered"), "{out}");

    suite.stop().await.expect("stopped");
}
