//! `/config.json`: exactly the `AppConfig` shape of services/web/app/src/lib/config.ts.

use http::StatusCode;
use serde_json::{Value, json};
use spontan_platform::config::Secret;

use crate::common::TestApp;

#[tokio::test]
async fn config_json_has_the_clients_shape_with_the_local_defaults() {
    let app = TestApp::spawn().await;
    let reply = app.get("/config.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("cache-control"), "no-cache");
    let body: Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(
        body,
        json!({
            "registrationUrl": "http://127.0.0.1:50051",
            "taskUrl": "http://127.0.0.1:50052",
            "matchingUrl": "http://127.0.0.1:50053",
            "consentTextVersion": "2025-06-de",
            "map": { "styleUrl": "", "attribution": "" },
            "oidc": null,
            "devSignIn": false,
            "vapidPublicKey": "",
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn config_json_carries_the_configured_values() {
    let app = TestApp::spawn_with(|config| {
        let web = &mut config.web;
        web.registration_url = "https://spontan.example.org".into();
        web.task_url = "https://spontan.example.org".into();
        web.matching_url = "https://spontan.example.org".into();
        web.consent_text_version = "2026-01-de".into();
        web.map.style_url = "https://tiles.example.org/style.json".into();
        web.map.attribution = "© OpenStreetMap contributors".into();
        web.oidc.issuer = "https://id.example.org/realms/thw".into();
        web.oidc.client_id = "spontan-console".into();
        web.oidc.scope = "openid profile org".into();
        web.oidc.role_claim = "realm_access.roles".into();
        web.oidc.role_prefix = "spontan-".into();
        web.dev_signing_key = Secret::new(spontan_platform::auth::generate_signing_key());
        web.vapid_public_key =
            "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                .into();
    })
    .await;
    let body: Value = serde_json::from_str(&app.get("/config.json").await.body).expect("json");
    assert_eq!(
        body,
        json!({
            "registrationUrl": "https://spontan.example.org",
            "taskUrl": "https://spontan.example.org",
            "matchingUrl": "https://spontan.example.org",
            "consentTextVersion": "2026-01-de",
            "map": {
                "styleUrl": "https://tiles.example.org/style.json",
                "attribution": "© OpenStreetMap contributors",
            },
            "oidc": {
                "issuer": "https://id.example.org/realms/thw",
                "clientId": "spontan-console",
                "scope": "openid profile org",
                "roleClaim": "realm_access.roles",
                "rolePrefix": "spontan-",
                "organisationClaim": "org",
            },
            "devSignIn": true,
            "vapidPublicKey": app.config.web.vapid_public_key,
        })
    );
    app.stop().await;
}
