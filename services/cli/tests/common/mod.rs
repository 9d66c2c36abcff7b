//! What the CLI tests share: running the `spontan` binary against a suite and reading its
//! output.

use std::process::Output;

use serde_json::Value;
use spontan_e2e::Suite;

/// Runs `spontan` with the suite's addresses, `token` (if any) and `args`; nothing from the
/// environment leaks in.
pub async fn spontan(suite: &Suite, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_spontan"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SPONTAN_") {
            command.env_remove(name);
        }
    }
    command
        .args([
            "--registration",
            &format!("http://{}", suite.registration.grpc),
        ])
        .args(["--task", &format!("http://{}", suite.task.grpc)])
        .args(["--matching", &format!("http://{}", suite.matching.grpc)])
        .args(token.map(|t| ["--token", t]).into_iter().flatten())
        .args(args)
        .output()
        .await
        .expect("spontan runs")
}

pub fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "spontan failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

pub fn json(output: &Output) -> Value {
    let text = ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON output ({e}): {text}"))
}
