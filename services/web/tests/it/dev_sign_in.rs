//! `/dev/sign-in`: absent without a dev key; with one, tokens the services accept.

use http::StatusCode;
use spontan_platform::auth::{Role, TokenVerifier};
use spontan_platform::config::{AuthConfig, Secret};

use crate::common::TestApp;

/// A service configured with `key` as its development signing key (every role), as
/// deploy/local/up.sh configures the three services: what must accept the minted tokens.
fn service_verifier(key: &Secret) -> TokenVerifier {
    TokenVerifier::from_config(&AuthConfig {
        signing_key: key.clone(),
        key_roles: Role::ALL.to_vec(),
        ..AuthConfig::default()
    })
    .expect("verifier")
}

async fn with_dev_key() -> TestApp {
    TestApp::spawn_with(|config| {
        config.web.dev_signing_key = Secret::new(spontan_platform::auth::generate_signing_key());
    })
    .await
}

/// The token in a `Location: /page/#token=…`, and the page.
fn token_in(location: &str) -> (&str, &str) {
    location.split_once("#token=").expect("a token fragment")
}

#[tokio::test]
async fn sign_in_does_not_exist_without_a_dev_key() {
    let app = TestApp::spawn().await;
    for path in [
        "/dev/sign-in?role=coordinator&organisation=thw-ov-bonn",
        "/dev/sign-in",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.header("location").is_empty(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_coordinator_is_sent_to_the_console_with_a_token_the_services_accept() {
    let app = with_dev_key().await;
    let reply = app
        .get("/dev/sign-in?role=coordinator&organisation=thw-ov-bonn")
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("cache-control"), "no-store");
    let (page, token) = token_in(reply.header("location"));
    assert_eq!(page, "/console/");
    let principal = service_verifier(&app.config.web.dev_signing_key)
        .verify(token)
        .expect("the services accept the token");
    assert_eq!(principal.role, Role::Coordinator);
    assert_eq!(principal.organisation.as_deref(), Some("thw-ov-bonn"));
    assert_eq!(principal.subject, "dev-coordinator");
    assert!(principal.require_coordinator_of("thw-ov-bonn").is_ok());
    app.stop().await;
}

#[tokio::test]
async fn a_dashboard_goes_to_the_dashboard_and_an_admin_to_the_console() {
    let app = with_dev_key().await;
    let verifier = service_verifier(&app.config.web.dev_signing_key);

    let reply = app
        .get("/dev/sign-in?role=dashboard&organisation=drk-koeln")
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let (page, token) = token_in(reply.header("location"));
    assert_eq!(page, "/dashboard/");
    let principal = verifier.verify(token).expect("valid token");
    assert_eq!(principal.role, Role::Dashboard);
    assert_eq!(principal.organisation.as_deref(), Some("drk-koeln"));

    let reply = app.get("/dev/sign-in?role=admin").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let (page, token) = token_in(reply.header("location"));
    assert_eq!(page, "/console/");
    assert_eq!(
        verifier.verify(token).expect("valid token").role,
        Role::Admin
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_carry_the_configured_issuer() {
    let app = TestApp::spawn_with(|config| {
        config.auth.issuer = "spontan-staging".into();
        config.web.dev_signing_key = Secret::new(spontan_platform::auth::generate_signing_key());
    })
    .await;
    let reply = app.get("/dev/sign-in?role=admin").await;
    let (_, token) = token_in(reply.header("location"));
    let key = &app.config.web.dev_signing_key;
    assert!(
        service_verifier(key).verify(token).is_err(),
        "wrong issuer accepted"
    );
    let staging = TokenVerifier::from_config(&AuthConfig {
        issuer: "spontan-staging".into(),
        signing_key: key.clone(),
        key_roles: Role::ALL.to_vec(),
        ..AuthConfig::default()
    })
    .expect("verifier");
    assert!(staging.verify(token).is_ok());
    app.stop().await;
}

#[tokio::test]
async fn bad_roles_and_organisations_are_400_with_a_reason() {
    let app = with_dev_key().await;
    for (query, reason) in [
        ("role=volunteer&organisation=thw", "role must be"),
        ("role=root", "role must be"),
        ("organisation=thw", "role must be"),
        ("role=coordinator", "organisation is required"),
        ("role=dashboard&organisation=", "organisation is required"),
        (
            "role=coordinator&organisation=thw%20bonn",
            "organisation must be",
        ),
    ] {
        let reply = app.get(&format!("/dev/sign-in?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(reply.body.starts_with(reason), "{query}: {}", reply.body);
        assert!(reply.header("location").is_empty(), "{query}");
    }
    app.stop().await;
}
