//! Every `--mode` of the `spontan-load` binary, briefly and at low rates, against the real
//! suite (three services, PostgreSQL, the broker): each run ends with a report whose counts
//! add up and that shows no errors.

use std::time::Duration;

use serde_json::Value;
use spontan_e2e::Suite;
use spontan_platform::testkit::TestBroker;

/// Runs `spontan-load --json` with the suite's addresses and signing key and `args`;
/// returns its report.
async fn load(suite: &Suite, args: &[&str]) -> Value {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_spontan-load"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SPONTAN_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args([
            "--registration",
            &format!("http://{}", suite.registration.grpc),
        ])
        .args(["--task", &format!("http://{}", suite.task.grpc)])
        .args(["--matching", &format!("http://{}", suite.matching.grpc)])
        .args(["--signing-key", suite.auth.signing_key.expose()])
        .args(["--connections", "1", "--json"])
        .args(args)
        .output()
        .await
        .expect("spontan-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "spontan-load {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("a JSON report")
}

fn operation<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["operation"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_runs_against_the_suite() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        // All registrations come from one address, faster than people would send them.
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

    // Volunteers around Ahrweiler with sandbag filling, available from 1 to 9 hours from now.
    let seed = load(
        &suite,
        &[
            "--mode",
            "seed",
            "--volunteers",
            "60",
            "--rate",
            "30",
            "--spread",
            "ahr",
        ],
    )
    .await;
    let register = operation(&seed, "register");
    assert_eq!(register["ok"], 60, "{seed}");
    assert_eq!(register["errors"], serde_json::json!({}), "{seed}");
    assert_eq!(seed["scheduled"], 60, "{seed}");

    // Their tasks (sandbag filling near Ahrweiler, in two hours) are all offered.
    let task = load(
        &suite,
        &[
            "--mode",
            "e2e-task",
            "--rate",
            "2",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--settle",
            "30",
            "--poll-interval-ms",
            "20",
        ],
    )
    .await;
    let scheduled = task["tasks_scheduled"].as_u64().expect("tasks scheduled");
    assert!(scheduled >= 4, "{task}");
    assert_eq!(task["create_errors"], 0, "{task}");
    assert_eq!(task["tasks_without_offer_after_settle"], 0, "{task}");
    assert_eq!(
        task["create_request_to_first_offer_seen"]["count"], scheduled,
        "{task}"
    );

    let register = load(
        &suite,
        &[
            "--mode",
            "e2e-register",
            "--probes",
            "2",
            "--rate",
            "4",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--poll-interval-ms",
            "20",
        ],
    )
    .await;
    let scheduled = register["registrations_scheduled"]
        .as_u64()
        .expect("scheduled");
    assert!(scheduled >= 8, "{register}");
    assert_eq!(register["register_errors"], 0, "{register}");
    assert_eq!(register["not_seen_within_30s"], 0, "{register}");
    assert_eq!(
        register["register_sent_to_consumed_by_matching"]["count"], scheduled,
        "{register}"
    );

    let metrics = suite.matching.metrics.to_string();
    let empty = load(
        &suite,
        &[
            "--mode",
            "empty-poll",
            "--metrics",
            &metrics,
            "--rate",
            "20",
            "--duration",
            "1",
            "--warmup",
            "0",
        ],
    )
    .await;
    let polls = empty["polls_scheduled"].as_u64().expect("polls");
    assert!(polls >= 20, "{empty}");
    assert_eq!(empty["errors"], 0, "{empty}");
    assert_eq!(empty["non_empty_polls"], 0, "{empty}");
    assert_eq!(empty["client"]["count"], polls, "{empty}");
    assert!(
        empty["server_polls_counted"].as_u64() >= Some(polls),
        "{empty}"
    );

    let mix = load(
        &suite,
        &[
            "--mix",
            "poll=1,create-task=1",
            "--rate",
            "10",
            "--duration",
            "2",
            "--warmup",
            "1",
        ],
    )
    .await;
    assert_eq!(mix["mix"], "poll=1,create-task=1", "{mix}");
    for name in ["poll", "create-task"] {
        let op = operation(&mix, name);
        assert!(op["ok"].as_u64() > Some(0), "{mix}");
        assert_eq!(op["errors"], serde_json::json!({}), "{mix}");
    }

    suite.stop().await.expect("stopped");
}
