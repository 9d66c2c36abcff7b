//! Staff access tokens from OpenID Connect providers.
//!
//! Each configured provider is found by issuer discovery
//! (`<issuer>/.well-known/openid-configuration`, whose `issuer` must be the configured one),
//! and its signing keys come from the `jwks_uri` named there. Keys are cached; a token whose
//! `kid` is not among them makes the service fetch the set again (at most every
//! `jwks_min_refresh_seconds`), so that a provider's key rotation needs no restart, and the set
//! is fetched again after `jwks_max_age_seconds` regardless, so that a withdrawn key stops
//! working. Should the provider be unreachable then, the keys already known stay in use: staff
//! keep working through an identity provider's outage on a disaster day.
//!
//! A token is accepted when an asymmetric algorithm (RSA, RSA-PSS, ECDSA, EdDSA; never HMAC or
//! `none`) and a published key verify it, `iss` is the provider, `aud` names this service,
//! it is current (`exp`, `nbf`, with 30 s of leeway), not longer-lived than the provider's
//! `max_token_lifetime_minutes`, and its role claim grants a role the provider may grant.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{AuthError, OidcProvider, Principal, Role};

/// Algorithms a provider's tokens may use: public-key signatures only.
const ACCEPTED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// How long one discovery or key-set request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
const LEEWAY_SECONDS: u64 = 30;

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Verifies the tokens of one provider.
pub struct OidcVerifier {
    provider: OidcProvider,
    audience: String,
    http: HttpClient,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so that a burst of tokens with a new `kid` fetches once.
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.provider.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct KeySet {
    keys: Vec<ProviderKey>,
    fetched_at: Option<Instant>,
}

struct ProviderKey {
    kid: Option<String>,
    /// The algorithm the key is published for, when the provider says.
    algorithm: Option<Algorithm>,
    key: DecodingKey,
}

#[derive(Default)]
struct RefreshState {
    jwks_uri: Option<String>,
    last_attempt: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<Value>,
}

impl OidcVerifier {
    pub fn new(provider: OidcProvider, audience: String) -> Result<Self, AuthError> {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|error| AuthError::Provider(format!("TLS set-up failed: {error}")))?;
        let connector = if provider.allow_http {
            tls.https_or_http().enable_http1().build()
        } else {
            tls.https_only().enable_http1().build()
        };
        Ok(Self {
            provider,
            audience,
            http: Client::builder(TokioExecutor::new()).build(connector),
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.provider.issuer
    }

    /// The caller a token names, if this provider vouches for it as described in the module.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Principal, AuthError> {
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Refused(format!(
                "algorithm {:?} is not accepted from an identity provider",
                header.alg
            )));
        }
        let key = self.key_for(header).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.provider.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims;
        self.principal(&claims)
    }

    /// The key that signed a token with `header`: from the cache while it is fresh, else
    /// after fetching the set again; a stale key serves only while the provider cannot be
    /// reached.
    async fn key_for(&self, header: &Header) -> Result<DecodingKey, AuthError> {
        if let Some((key, true)) = self.lookup(header) {
            return Ok(key);
        }
        let refreshed = self.refresh_keys().await;
        match self.lookup(header) {
            Some((key, _)) => Ok(key),
            None => Err(refreshed.err().unwrap_or_else(|| {
                AuthError::Refused(format!(
                    "no key {} for {:?} at {}",
                    header.kid.as_deref().unwrap_or("(no kid)"),
                    header.alg,
                    self.provider.issuer
                ))
            })),
        }
    }

    /// The cached key for `header`, and whether the cached set is younger than its maximum age.
    fn lookup(&self, header: &Header) -> Option<(DecodingKey, bool)> {
        let set = self.keys.read().ok()?.clone();
        let max_age = Duration::from_secs(self.provider.jwks_max_age_seconds);
        let fresh = set.fetched_at.is_some_and(|at| at.elapsed() < max_age);
        let key = set.keys.iter().find(|key| {
            key.algorithm.is_none_or(|alg| alg == header.alg)
                && match (&header.kid, &key.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    // Without a `kid` a token can only name a provider's single key.
                    (None, _) => set.keys.len() == 1,
                    (Some(_), None) => false,
                }
        })?;
        Some((key.key.clone(), fresh))
    }

    /// Fetches the key set again unless the last attempt was less than
    /// `jwks_min_refresh_seconds` ago (then another caller has just fetched it, or the
    /// provider was just found unreachable). A failed fetch keeps the keys already known.
    async fn refresh_keys(&self) -> Result<(), AuthError> {
        let mut state = self.refresh.lock().await;
        let min_interval = Duration::from_secs(self.provider.jwks_min_refresh_seconds);
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < min_interval)
        {
            return Ok(());
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch_keys(&mut state).await {
            Ok(keys) => {
                tracing::info!(issuer = %self.provider.issuer, keys = keys.len(), "identity provider keys fetched");
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                });
                if let Ok(mut slot) = self.keys.write() {
                    *slot = set;
                }
                Ok(())
            }
            Err(error) => {
                tracing::warn!(issuer = %self.provider.issuer, %error, "identity provider keys could not be fetched");
                metrics::counter!("auth_jwks_fetch_failures_total").increment(1);
                // Discovery is repeated next time: the provider may have moved its keys.
                state.jwks_uri = None;
                Err(error)
            }
        }
    }

    async fn fetch_keys(&self, state: &mut RefreshState) -> Result<Vec<ProviderKey>, AuthError> {
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.provider.issuer.trim_end_matches('/')
                );
                let discovery: Discovery = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|e| AuthError::Provider(format!("{url}: {e}")))?;
                if discovery.issuer != self.provider.issuer {
                    return Err(AuthError::Provider(format!(
                        "{url} names issuer {:?}, not {:?}",
                        discovery.issuer, self.provider.issuer
                    )));
                }
                let scheme_ok = discovery.jwks_uri.starts_with("https://")
                    || (self.provider.allow_http && discovery.jwks_uri.starts_with("http://"));
                if !scheme_ok {
                    return Err(AuthError::Provider(format!(
                        "{url} names a jwks_uri that is not https"
                    )));
                }
                state.jwks_uri = Some(discovery.jwks_uri.clone());
                discovery.jwks_uri
            }
        };
        let raw: RawKeySet = serde_json::from_slice(&self.get(&jwks_uri).await?)
            .map_err(|e| AuthError::Provider(format!("{jwks_uri}: {e}")))?;
        Ok(raw.keys.into_iter().filter_map(signing_key).collect())
    }

    async fn get(&self, url: &str) -> Result<Bytes, AuthError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| AuthError::Provider(format!("{url}: {e}")))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| AuthError::Provider(format!("{url}: {e}")))?;
        let fetch = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| AuthError::Provider(format!("{url} could not be reached: {e}")))?;
            if !response.status().is_success() {
                return Err(AuthError::Provider(format!(
                    "{url} answered {}",
                    response.status()
                )));
            }
            Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| AuthError::Provider(format!("{url}: {e}")))
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| AuthError::Provider(format!("{url} did not answer in time")))?
    }

    /// Role and organisation from the verified claims.
    fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let refuse = |why: String| Err(AuthError::Refused(why));
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::Refused("no subject".into()))?;
        let issued = claims.get("iat").and_then(Value::as_u64);
        let expires = claims.get("exp").and_then(Value::as_u64);
        let Some((issued, expires)) = issued.zip(expires) else {
            return refuse("a staff token needs iat and exp".into());
        };
        let max = u64::from(self.provider.max_token_lifetime_minutes) * 60;
        if expires.saturating_sub(issued) > max {
            return refuse(format!(
                "the token lives {} minutes, longer than the {} allowed",
                expires.saturating_sub(issued) / 60,
                self.provider.max_token_lifetime_minutes
            ));
        }
        let granted: Vec<Role> = strings_at(claims, &self.provider.role_claim)
            .into_iter()
            .filter_map(|value| value.strip_prefix(self.provider.role_prefix.as_str()))
            .filter_map(Role::from_name)
            .filter(|role| self.provider.roles.contains(role))
            .collect();
        let Some(role) = granted.into_iter().max_by_key(|role| role.rank()) else {
            return refuse(format!(
                "{} grants none of the roles this provider may grant",
                self.provider.role_claim
            ));
        };
        let organisations = strings_at(claims, &self.provider.organisation_claim);
        let organisation = match organisations.as_slice() {
            [one] if !one.is_empty() => Some((*one).to_owned()),
            _ if role == Role::Admin => None,
            [] => return refuse(format!("no {}", self.provider.organisation_claim)),
            _ => {
                return refuse(format!(
                    "{} must name exactly one organisation",
                    self.provider.organisation_claim
                ));
            }
        };
        Ok(Principal {
            subject: subject.to_owned(),
            role,
            organisation,
            expires_at: expires,
            issued_at: issued,
            session: None,
        })
    }
}

/// The strings at a dotted path: one string, or each string of an array.
fn strings_at<'a>(claims: &'a Value, path: &str) -> Vec<&'a str> {
    let found = path
        .split('.')
        .try_fold(claims, |value, name| value.get(name));
    match found {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A published key usable for token signatures, or `None` for encryption keys, symmetric
/// keys and key types this build cannot read.
fn signing_key(raw: Value) -> Option<ProviderKey> {
    let jwk: Jwk = serde_json::from_value(raw).ok()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match &jwk.common.key_algorithm {
        None => None,
        Some(alg) => {
            let name = serde_json::to_value(alg).ok()?;
            let alg: Algorithm = serde_json::from_value(name).ok()?;
            if !ACCEPTED_ALGORITHMS.contains(&alg) {
                return None;
            }
            Some(alg)
        }
    };
    if matches!(
        jwk.algorithm,
        jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
    ) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(ProviderKey {
        kid: jwk.common.key_id,
        algorithm,
        key,
    })
}
