//! A small OpenID Connect issuer for tests: the part of an identity provider (Keycloak, Entra
//! ID, Authentik) that the services talk to. It serves discovery and the key set over real
//! HTTP on loopback, signs access tokens with Ed25519 keys it generates, rotates and retires
//! keys on request, and counts how often its keys were fetched.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::auth::{OidcProvider, Role};

/// A running issuer; stops when dropped.
pub struct TestIssuer {
    url: String,
    state: Arc<Mutex<IssuerState>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct IssuerState {
    /// Published keys; the last one signs.
    keys: Vec<TestKey>,
    /// What discovery claims as `issuer` when a test wants it to lie.
    claimed_issuer: Option<String>,
    jwks_fetches: usize,
    /// Keys made so far: names each new key (`test-key-<n>`) uniquely.
    generated: usize,
}

#[derive(Clone)]
struct TestKey {
    kid: String,
    seed: [u8; 32],
}

impl TestKey {
    fn generate(n: usize) -> Self {
        Self {
            kid: format!("test-key-{n}"),
            seed: rand::random(),
        }
    }

    fn jwk(&self) -> Value {
        let public = SigningKey::from_bytes(&self.seed).verifying_key();
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
        })
    }
}

impl TestIssuer {
    /// Starts on a free loopback port with one key.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/realms/spontan", listener.local_addr()?);
        let state = Arc::new(Mutex::new(IssuerState {
            keys: vec![TestKey::generate(1)],
            generated: 1,
            ..IssuerState::default()
        }));
        let app = axum::Router::new()
            .route(
                "/realms/spontan/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/spontan/protocol/openid-connect/certs", get(jwks))
            .with_state((url.clone(), state.clone()));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        Ok(Self { url, state, stop })
    }

    /// The issuer URL (`iss`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A provider entry for `auth.oidc` that trusts this issuer for coordinators, dashboards
    /// and admins, over HTTP, refetching keys on any unknown `kid`.
    pub fn provider(&self) -> OidcProvider {
        OidcProvider {
            issuer: self.url.clone(),
            roles: vec![Role::Coordinator, Role::Dashboard, Role::Admin],
            allow_http: true,
            jwks_min_refresh_seconds: 0,
            ..OidcProvider::default()
        }
    }

    /// Publishes a new key that signs from now on; the old ones stay published.
    pub fn rotate(&self) {
        let mut state = self.state.lock().expect("issuer state");
        state.generated += 1;
        let key = TestKey::generate(state.generated);
        state.keys.push(key);
    }

    /// Withdraws every key but the one signing now.
    pub fn retire_old_keys(&self) {
        let mut state = self.state.lock().expect("issuer state");
        let current = state.keys.pop().expect("a key");
        state.keys = vec![current];
    }

    /// Makes discovery name another issuer than the one it is served for.
    pub fn claim_issuer(&self, issuer: &str) {
        self.state.lock().expect("issuer state").claimed_issuer = Some(issuer.to_owned());
    }

    /// How often the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().expect("issuer state").jwks_fetches
    }

    /// `claims` signed with the current key (its `kid` in the header).
    pub fn sign(&self, claims: &Value) -> String {
        let key = self
            .state
            .lock()
            .expect("issuer state")
            .keys
            .last()
            .cloned()
            .expect("a key");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid);
        let encoding = EncodingKey::from_ed_der(&crate::auth::keys::pkcs8_der(&key.seed));
        jsonwebtoken::encode(&header, claims, &encoding).expect("signing a test token")
    }

    /// `claims` signed with a key the issuer never published, under the current key's `kid`:
    /// a forgery.
    pub fn forge(&self, claims: &Value) -> String {
        let kid = self
            .state
            .lock()
            .expect("issuer state")
            .keys
            .last()
            .map(|k| k.kid.clone());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid;
        let stranger = EncodingKey::from_ed_der(&crate::auth::keys::pkcs8_der(&rand::random()));
        jsonwebtoken::encode(&header, claims, &stranger).expect("signing a test token")
    }

    /// The claims of a staff access token as Keycloak shapes them: `roles` and `org` claims,
    /// for `audience`, issued now and valid for five minutes.
    pub fn staff_claims(
        &self,
        subject: &str,
        role: &str,
        organisation: Option<&str>,
        audience: &[&str],
    ) -> Value {
        let now = crate::auth::unix_now();
        let mut claims = json!({
            "iss": self.url, "sub": subject, "aud": audience,
            "iat": now, "exp": now + Duration::from_secs(300).as_secs(),
            "roles": [role], "azp": "spontan-console",
        });
        if let Some(organisation) = organisation {
            claims["org"] = json!(organisation);
        }
        claims
    }

    /// A signed staff token (see [`Self::staff_claims`]).
    pub fn staff_token(
        &self,
        subject: &str,
        role: &str,
        organisation: Option<&str>,
        audience: &[&str],
    ) -> String {
        self.sign(&self.staff_claims(subject, role, organisation, audience))
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type Shared = (String, Arc<Mutex<IssuerState>>);

async fn discovery(State((url, state)): State<Shared>) -> impl axum::response::IntoResponse {
    let issuer = state
        .lock()
        .expect("issuer state")
        .claimed_issuer
        .clone()
        .unwrap_or_else(|| url.clone());
    json_response(&json!({
        "issuer": issuer,
        "jwks_uri": format!("{url}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{url}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{url}/protocol/openid-connect/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }))
}

async fn jwks(State((_, state)): State<Shared>) -> impl axum::response::IntoResponse {
    let mut state = state.lock().expect("issuer state");
    state.jwks_fetches += 1;
    let keys: Vec<Value> = state.keys.iter().map(TestKey::jwk).collect();
    json_response(&json!({ "keys": keys }))
}

fn json_response(body: &Value) -> impl axum::response::IntoResponse + use<> {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}
