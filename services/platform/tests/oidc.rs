//! Staff tokens from an OpenID Connect provider, verified against a local issuer that serves
//! discovery and its key set over HTTP: found by discovery, keys rotated without a restart,
//! and every token refused that the provider did not vouch for, for this service and role.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use spontan_platform::auth::{AuthConfig, Authenticator, OidcProvider, Role};
use spontan_platform::testkit::oidc::TestIssuer;

const SERVICE: &str = "task";
const AUDIENCE: &str = "spontan-task";

fn authenticator(providers: Vec<OidcProvider>) -> Authenticator {
    let config = AuthConfig {
        verifying_keys: vec![spontan_platform::auth::public_key_of(&[7; 32])],
        oidc: providers,
        ..AuthConfig::default()
    };
    Authenticator::from_config(&config, SERVICE).expect("authenticator")
}

#[tokio::test]
async fn a_coordinator_of_the_provider_is_recognised() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let auth = authenticator(vec![issuer.provider()]);
    let token = issuer.staff_token("u-17", "coordinator", Some("thw-bonn"), &[AUDIENCE]);
    let principal = auth.authenticate(&token).await.expect("accepted");
    assert_eq!(principal.subject, "u-17");
    assert_eq!(principal.role, Role::Coordinator);
    assert_eq!(principal.organisation.as_deref(), Some("thw-bonn"));
    // The keys are cached: a second token needs no second fetch.
    let dashboard = issuer.staff_token("screen-1", "dashboard", Some("thw-bonn"), &[AUDIENCE]);
    assert_eq!(
        auth.authenticate(&dashboard).await.expect("accepted").role,
        Role::Dashboard
    );
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_a_retired_one_refused() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let auth = authenticator(vec![issuer.provider()]);
    let old = issuer.staff_token("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    auth.authenticate(&old).await.expect("first key");

    issuer.rotate();
    let new = issuer.staff_token("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    auth.authenticate(&new)
        .await
        .expect("the new kid makes the service fetch the keys again");
    assert_eq!(issuer.jwks_fetches(), 2);
    auth.authenticate(&old)
        .await
        .expect("both keys are published during the rotation");

    issuer.retire_old_keys();
    issuer.rotate();
    let newest = issuer.staff_token("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    auth.authenticate(&newest).await.expect("third key");
    assert!(
        auth.authenticate(&old).await.is_err(),
        "a key the provider withdrew must stop working once the set is fetched again"
    );
}

#[tokio::test]
async fn tokens_the_provider_did_not_vouch_for_this_service_are_refused() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let mut provider = issuer.provider();
    provider.roles = vec![Role::Coordinator, Role::Dashboard];
    let auth = authenticator(vec![provider]);
    let good = issuer.staff_claims("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    auth.authenticate(&issuer.sign(&good))
        .await
        .expect("the unaltered token is accepted");

    let mut cases: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut with = |what, change: &dyn Fn(&mut serde_json::Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        cases.push((what, claims));
    };
    with("another service's audience", &|c| {
        c["aud"] = json!(["spontan-matching"]);
    });
    with("no audience", &|c| {
        c.as_object_mut().expect("object").remove("aud");
    });
    with("expired", &|c| {
        c["iat"] = json!(1_000);
        c["exp"] = json!(1_060);
    });
    with("lives longer than the provider's maximum", &|c| {
        c["exp"] = json!(c["iat"].as_u64().expect("iat") + 2 * 3600);
    });
    with("no iat", &|c| {
        c.as_object_mut().expect("object").remove("iat");
    });
    with("a role this provider may not grant", &|c| {
        c["roles"] = json!(["admin"]);
    });
    with("the volunteer role", &|c| {
        c["roles"] = json!(["volunteer"]);
    });
    with("no role", &|c| {
        c["roles"] = json!(["offline_access", "uma_authorization"]);
    });
    with("no organisation", &|c| {
        c.as_object_mut().expect("object").remove("org");
    });
    with("two organisations", &|c| {
        c["org"] = json!(["thw", "drk"]);
    });
    with("an unknown issuer", &|c| {
        c["iss"] = json!("http://127.0.0.1:1/realms/other");
    });
    for (what, claims) in cases {
        let refused = auth.authenticate(&issuer.sign(&claims)).await;
        assert!(refused.is_err(), "accepted a token with {what}");
    }
}

#[tokio::test]
async fn forged_signatures_and_algorithms_are_refused() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let auth = authenticator(vec![issuer.provider()]);
    let claims = issuer.staff_claims("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    auth.authenticate(&issuer.sign(&claims))
        .await
        .expect("the provider's own token");

    // Signed by a key the provider never published, under the provider's kid.
    let forged = issuer.forge(&claims);
    assert!(
        auth.authenticate(&forged).await.is_err(),
        "forged signature"
    );

    // HMAC with a guessable secret: a symmetric algorithm is never accepted from a provider.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("test-key-1".into());
    let hmac =
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(b"public")).expect("token");
    assert!(auth.authenticate(&hmac).await.is_err(), "HS256");

    // `alg: none`, hand-made since no library signs it.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"test-key-1"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert!(auth.authenticate(&none).await.is_err(), "alg none");
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_is_not_trusted() {
    let issuer = TestIssuer::start().await.expect("issuer");
    issuer.claim_issuer("https://id.example.org/realms/spontan");
    let auth = authenticator(vec![issuer.provider()]);
    let token = issuer.staff_token("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    let refused = auth.authenticate(&token).await.expect_err("refused");
    assert!(refused.to_string().contains("names issuer"), "{refused}");
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "no keys fetched from a mismatched issuer"
    );
}

#[tokio::test]
async fn keycloak_shaped_claims_map_through_configured_paths() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let provider = OidcProvider {
        role_claim: "realm_access.roles".into(),
        role_prefix: "spontan-".into(),
        organisation_claim: "spontan.organisation".into(),
        ..issuer.provider()
    };
    let auth = authenticator(vec![provider]);
    let mut claims = issuer.staff_claims("u-9", "unused", None, &[AUDIENCE, "account"]);
    claims["realm_access"] =
        json!({ "roles": ["offline_access", "spontan-dashboard", "spontan-coordinator"] });
    claims["spontan"] = json!({ "organisation": ["drk-ahrweiler"] });
    let principal = auth
        .authenticate(&issuer.sign(&claims))
        .await
        .expect("accepted");
    assert_eq!(principal.role, Role::Coordinator, "the higher of two roles");
    assert_eq!(principal.organisation.as_deref(), Some("drk-ahrweiler"));

    // An admin needs no organisation.
    claims["realm_access"] = json!({ "roles": ["spontan-admin"] });
    claims.as_object_mut().expect("object").remove("spontan");
    let admin = auth
        .authenticate(&issuer.sign(&claims))
        .await
        .expect("admin");
    assert_eq!((admin.role, admin.organisation), (Role::Admin, None));
}

#[tokio::test]
async fn an_unreachable_provider_refuses_its_tokens_and_leaves_the_others_working() {
    let gone = TestIssuer::start().await.expect("issuer");
    let token = gone.staff_token("u-1", "coordinator", Some("thw"), &[AUDIENCE]);
    let gone_provider = gone.provider();
    drop(gone);
    let alive = TestIssuer::start().await.expect("issuer");
    let auth = authenticator(vec![gone_provider, alive.provider()]);
    let refused = auth.authenticate(&token).await.expect_err("refused");
    assert!(
        refused.to_string().contains("could not be reached"),
        "names the cause: {refused}"
    );
    let other = alive.staff_token("u-2", "dashboard", Some("drk"), &[AUDIENCE]);
    assert_eq!(
        auth.authenticate(&other)
            .await
            .expect("the other provider")
            .role,
        Role::Dashboard
    );
}
