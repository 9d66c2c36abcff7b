//! The binary as `deploy/local/up.sh` starts it: one line on stdout per message, a clean
//! stop on SIGTERM (what `down.sh` sends).

use std::process::Stdio;
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{PHONE, alert, client, key, post};

#[tokio::test]
async fn the_command_prints_each_message_and_stops_on_sigterm() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_spontan"))
        .args(["dev", "gateway", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spontan starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
        .await
        .expect("a first line within 30 s")
        .expect("stderr")
        .expect("a line");
    let base = banner
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .map(|addr| format!("http://{}", addr.trim_end_matches('/')))
        .unwrap_or_else(|| panic!("an address in {banner:?}"));

    let client = client();
    let text = "Spontan: Code 482913\nnicht weitergeben";
    let reply = post(
        &client,
        &base,
        Some(&key(1)),
        &alert(1, "verification", PHONE, text),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
        .await
        .expect("a line within 10 s")
        .expect("stdout")
        .expect("a line");
    assert_eq!(
        line,
        format!("ALERT_CHANNEL_SMS to {PHONE}: Spontan: Code 482913 nicht weitergeben")
    );

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stopped within 10 s")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
}
