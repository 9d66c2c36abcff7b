//! Master-key rotation without downtime, against the real service, PostgreSQL and broker:
//! data registered under key A stays readable while B is current and A is a previous key,
//! registration and changes during the rotation seal under B, the operator command
//! `spontan-registration rewrap-keys` (and, on its own, the background sweep) moves every
//! data key to B without re-encrypting the contact data, and afterwards B alone reads all.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use spontan_platform::config::Secret;
use spontan_platform::testkit::{TestBroker, authed};
use spontan_proto::v1::*;
use spontan_registration::Config;
use spontan_registration::clock::SystemClock;
use uuid::Uuid;

/// key id -> (rows, contact ciphertexts) as stored.
async fn key_ids(app: &TestApp) -> Vec<(Uuid, String, Vec<u8>)> {
    sqlx::query_as(
        "SELECT id, key_id, contact_ciphertext FROM volunteers \
         WHERE status <> 'erased' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows")
}

async fn name_of(app: &TestApp, token: &str) -> String {
    app.client()
        .await
        .get_my_profile(authed(GetMyProfileRequest {}, token))
        .await
        .expect("profile readable")
        .into_inner()
        .profile
        .and_then(|p| p.contact)
        .map(|c| c.display_name)
        .unwrap_or_default()
}

async fn register_named(app: &TestApp, name: &str, phone: &str) -> RegisterResponse {
    app.register(named_request(name, phone)).await
}

/// `config_a` (master key `a2025`) during a rotation: a new key `b2026` current, A previous.
fn rotated(config_a: &Config) -> Config {
    let mut config_ab = config_a.clone();
    config_ab.privacy.master_key = Secret::new(spontan_platform::auth::generate_signing_key());
    config_ab.privacy.master_key_id = "b2026".into();
    config_ab.privacy.previous_master_keys =
        [("a2025".to_owned(), config_a.privacy.master_key.clone())].into();
    config_ab
}

/// The next configuration on the same database, with the broker of this start.
async fn restart(config: Config) -> TestApp {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let mut config = config;
    config.platform.kafka.brokers = broker.brokers().to_owned();
    TestApp::start(config, broker, Arc::new(SystemClock)).await
}

/// `spontan-registration rewrap-keys` with `config` in the environment, as an operator runs
/// it; returns its standard output.
fn rewrap_keys(config: &Config) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spontan-registration"));
    command
        .arg("rewrap-keys")
        .env_clear()
        .env(
            "SPONTAN_DATABASE__URL",
            config.platform.database.url.expose(),
        )
        .env("SPONTAN_KAFKA__BROKERS", &config.platform.kafka.brokers)
        .env(
            "SPONTAN_AUTH__SIGNING_KEY",
            config.platform.auth.signing_key.expose(),
        )
        .env(
            "SPONTAN_PRIVACY__MASTER_KEY",
            config.privacy.master_key.expose(),
        )
        .env(
            "SPONTAN_PRIVACY__MASTER_KEY_ID",
            &config.privacy.master_key_id,
        )
        .env(
            "SPONTAN_PRIVACY__LOOKUP_KEY",
            config.privacy.lookup_key.expose(),
        )
        .env(
            "SPONTAN_PRIVACY__CONSENT_TEXT_VERSION",
            &config.privacy.consent_text_version,
        )
        .env("SPONTAN_PRIVACY__REWRAP_BATCH", "2")
        .env("SPONTAN_TELEMETRY__LOG_FORMAT", "pretty");
    // The form the Kubernetes Secret holds: a TOML inline table of id = key.
    let previous: Vec<String> = config
        .privacy
        .previous_master_keys
        .iter()
        .map(|(id, key)| format!("{id}=\"{}\"", key.expose()))
        .collect();
    if !previous.is_empty() {
        command.env(
            "SPONTAN_PRIVACY__PREVIOUS_MASTER_KEYS",
            format!("{{{}}}", previous.join(",")),
        );
    }
    let output = command.output().expect("rewrap-keys runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rewrap-keys failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn rotation_keeps_every_volunteer_readable_and_moves_all_keys() {
    // Key A: five volunteers.
    let app = TestApp::spawn_with(|c| c.privacy.master_key_id = "a2025".into()).await;
    let config_a = app.config.clone();
    let mut under_a = Vec::new();
    for i in 0..5 {
        let name = format!("Anna Alt {i}");
        let r = register_named(&app, &name, &format!("+491510000010{i}")).await;
        under_a.push((name, r.access_token));
    }
    app.stop().await;

    // B current, A previous: what every instance runs during the rotation. The background
    // re-wrap is off here, so rows under both ids are read side by side.
    let mut config_ab = rotated(&config_a);
    config_ab.privacy.rewrap_sweep_secs = 0;
    let app = restart(config_ab.clone()).await;
    for (name, token) in &under_a {
        assert_eq!(
            &name_of(&app, token).await,
            name,
            "row under A read with B current"
        );
    }
    let new = register_named(&app, "Bruno Neu", "+4915100000200").await;
    assert_eq!(name_of(&app, &new.access_token).await, "Bruno Neu");
    // A contact change re-seals under the current key.
    app.client()
        .await
        .update_my_profile(authed(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    contact: Some(Contact {
                        display_name: "Anna Umbenannt".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["contact.display_name".into()],
                }),
            },
            &under_a[0].1,
        ))
        .await
        .expect("contact changed");
    under_a[0].0 = "Anna Umbenannt".into();
    let before = key_ids(&app).await;
    let count = |rows: &[(Uuid, String, Vec<u8>)], id: &str| {
        rows.iter().filter(|(_, k, _)| k == id).count()
    };
    assert_eq!((count(&before, "a2025"), count(&before, "b2026")), (4, 2));

    // The operator command re-wraps the four rows still under A, in batches of two.
    let report = rewrap_keys(&app.config);
    assert!(
        report.contains("re-wrapped 4 data keys to master key \"b2026\"; 0 could not be"),
        "{report}"
    );
    assert!(report.contains("key \"b2026\": 6 volunteers"), "{report}");
    assert!(!report.contains("a2025"), "{report}");
    let after = key_ids(&app).await;
    assert_eq!(count(&after, "b2026"), 6);
    // Only the wrapped keys changed: every contact ciphertext is byte for byte the same.
    let ciphertexts = |rows: &[(Uuid, String, Vec<u8>)]| {
        rows.iter()
            .map(|(id, _, c)| (*id, c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ciphertexts(&before), ciphertexts(&after));
    // The running instance reads the re-wrapped rows.
    for (name, token) in &under_a {
        assert_eq!(&name_of(&app, token).await, name);
    }
    // Running it again finds nothing to do.
    assert!(rewrap_keys(&app.config).contains("re-wrapped 0 data keys"));
    app.stop().await;

    // B alone reads everything.
    let mut config_b = config_ab.clone();
    config_b.privacy.previous_master_keys.clear();
    let app = restart(config_b).await;
    for (name, token) in &under_a {
        assert_eq!(&name_of(&app, token).await, name, "row read with B only");
    }
    assert_eq!(name_of(&app, &new.access_token).await, "Bruno Neu");
    app.stop().await;

    // Control: A alone can no longer read them (so the reads above did depend on B).
    let app = restart(config_a).await;
    let status = app
        .client()
        .await
        .get_my_profile(authed(GetMyProfileRequest {}, &new.access_token))
        .await
        .expect_err("A alone cannot open B's rows");
    assert_eq!(status.code(), tonic::Code::Internal);
    app.stop().await;
}

#[tokio::test]
async fn the_background_sweep_rewraps_on_its_own() {
    let app = TestApp::spawn_with(|c| c.privacy.master_key_id = "a2025".into()).await;
    let config_a = app.config.clone();
    let mut tokens = Vec::new();
    for i in 0..3 {
        let r = register_named(&app, &format!("Sam {i}"), &format!("+491510000030{i}")).await;
        tokens.push(r.access_token);
    }
    app.stop().await;

    let mut config_ab = rotated(&config_a);
    config_ab.privacy.rewrap_sweep_secs = 1;
    config_ab.privacy.rewrap_batch = 1;
    let app = restart(config_ab).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = key_ids(&app).await;
        if rows.iter().all(|(_, k, _)| k == "b2026") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "background sweep left {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(name_of(&app, token).await, format!("Sam {i}"));
    }
    app.stop().await;
}
