//! Authentication: Ed25519-signed JWTs (`alg: EdDSA`).
//!
//! - Volunteers get a token from the registration service when they register; it names them
//!   (`sub`) and grants nothing but their own data and offers.
//! - Coordinators, dashboards and admins present tokens from the operator's identity provider;
//!   locally, a dev signing key and the CLI mint them.
//!
//! The [`AuthInterceptor`] verifies a bearer token when one is sent and puts the
//! [`Principal`] into the request's extensions; requests without a token pass on, so that
//! public RPCs (`Register`, `ListSkills`) work, and each handler states what it requires with
//! [`principal`] and the `require_*` methods. A token that is sent but invalid is refused at
//! once with `Unauthenticated`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::Request;
use tonic::service::Interceptor;

use crate::config::AuthConfig;
use crate::error::ApiError;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A registered volunteer: only their own data and offers.
    Volunteer,
    /// Staff of an organisation: its incidents and tasks.
    Coordinator,
    /// A control-room screen: read-only, never personal data.
    Dashboard,
    /// Operators of the suite.
    Admin,
}

/// The claims of a Spontan token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The volunteer id for volunteers, the user id at the identity provider for staff.
    pub sub: String,
    pub role: Role,
    /// The organisation a coordinator or dashboard acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub organisation: Option<String>,
}

impl Principal {
    /// The volunteer id, if the caller is a volunteer.
    pub fn require_volunteer(&self) -> Result<&str, ApiError> {
        match self.role {
            Role::Volunteer => Ok(&self.subject),
            _ => Err(ApiError::PermissionDenied(
                "only the volunteer themself may do this",
            )),
        }
    }

    /// Succeeds for admins and for coordinators of `organisation`.
    pub fn require_coordinator_of(&self, organisation: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Coordinator if self.organisation.as_deref() == Some(organisation) => Ok(()),
            Role::Coordinator => Err(ApiError::PermissionDenied(
                "coordinators act only for their own organisation",
            )),
            _ => Err(ApiError::PermissionDenied(
                "a coordinator token is required",
            )),
        }
    }

    /// Succeeds for staff allowed to read an organisation's incidents: its coordinators and
    /// dashboards, and admins.
    pub fn require_reader_of(&self, organisation: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Coordinator | Role::Dashboard
                if self.organisation.as_deref() == Some(organisation) =>
            {
                Ok(())
            }
            Role::Volunteer => Err(ApiError::PermissionDenied("volunteers cannot read this")),
            _ => Err(ApiError::PermissionDenied(
                "this organisation's data is not yours to read",
            )),
        }
    }
}

/// The principal of a request, or `Unauthenticated` when no valid token came with it.
pub fn principal<T>(request: &Request<T>) -> Result<&Principal, ApiError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or(ApiError::Unauthenticated)
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("key is not base64 of 32 bytes")]
    BadKey,
    #[error("no signing key is configured")]
    NoSigningKey,
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
}

/// Decodes a base64 (standard or URL-safe) 32-byte key.
pub fn decode_key(text: &str) -> Result<[u8; 32], AuthError> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| AuthError::BadKey)?;
    bytes.try_into().map_err(|_| AuthError::BadKey)
}

/// The public key of a 32-byte Ed25519 seed, base64-encoded (for `auth.verifying_keys`).
pub fn public_key_of(seed: &[u8; 32]) -> String {
    STANDARD.encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// A fresh random signing key, base64-encoded: what `auth.signing_key` takes.
pub fn generate_signing_key() -> String {
    let seed: [u8; 32] = rand::random();
    STANDARD.encode(seed)
}

/// Signs tokens (held by the registration service and local tooling).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthError> {
        if config.signing_key.is_empty() {
            return Err(AuthError::NoSigningKey);
        }
        let seed = decode_key(config.signing_key.expose())?;
        Ok(Self {
            key: EncodingKey::from_ed_der(&pkcs8_der(&seed)),
            issuer: config.issuer.clone(),
        })
    }

    /// A token for `subject` in `role`, valid for `ttl`.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        organisation: Option<&str>,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let now = unix_now();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            org: organisation.map(str::to_owned),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &self.key,
        )?)
    }
}

/// PKCS#8 v1 DER of an Ed25519 private key (RFC 8410): a fixed prefix and the 32-byte seed.
fn pkcs8_der(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// Verifies tokens against every configured public key (several during a key rotation).
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<Vec<DecodingKey>>,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthError> {
        let mut public_keys = Vec::new();
        if !config.signing_key.is_empty() {
            public_keys.push(public_key_of(&decode_key(config.signing_key.expose())?));
        }
        public_keys.extend(config.verifying_keys.iter().cloned());
        let keys = public_keys
            .iter()
            .map(|k| {
                let raw = decode_key(k)?;
                DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(raw))
                    .map_err(AuthError::Rejected)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            keys: Arc::new(keys),
            validation,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut last = None;
        for key in self.keys.iter() {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
                Ok(data) => {
                    return Ok(Principal {
                        subject: data.claims.sub,
                        role: data.claims.role,
                        organisation: data.claims.org,
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(AuthError::Rejected(last.unwrap_or_else(|| {
            jsonwebtoken::errors::ErrorKind::InvalidSignature.into()
        })))
    }
}

/// Verifies the `authorization: Bearer …` metadata of every request to a service.
#[derive(Clone, Debug)]
pub struct AuthInterceptor {
    verifier: TokenVerifier,
}

impl AuthInterceptor {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        let Some(value) = request.metadata().get("authorization") else {
            return Ok(request);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                tonic::Status::unauthenticated("authorization must be \"Bearer <token>\"")
            })?;
        match self.verifier.verify(token.trim()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Ok(request)
            }
            Err(error) => {
                tracing::debug!(%error, "token refused");
                Err(tonic::Status::unauthenticated("invalid or expired token"))
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(key: &str) -> AuthConfig {
        AuthConfig {
            signing_key: Secret::new(key),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn a_token_names_its_holder() {
        let config = config(&generate_signing_key());
        let issuer = TokenIssuer::from_config(&config).expect("issuer");
        let verifier = TokenVerifier::from_config(&config).expect("verifier");
        let token = issuer
            .issue(
                "org-admin-7",
                Role::Coordinator,
                Some("thw-koeln"),
                Duration::from_secs(60),
            )
            .expect("token");
        let principal = verifier.verify(&token).expect("valid token");
        assert_eq!(principal.subject, "org-admin-7");
        assert_eq!(principal.role, Role::Coordinator);
        assert!(principal.require_coordinator_of("thw-koeln").is_ok());
        assert!(principal.require_coordinator_of("drk-bonn").is_err());
    }

    #[test]
    fn forged_and_expired_tokens_are_refused() {
        let ours = config(&generate_signing_key());
        let theirs = config(&generate_signing_key());
        let verifier = TokenVerifier::from_config(&ours).expect("verifier");
        let forged = TokenIssuer::from_config(&theirs)
            .expect("issuer")
            .issue("v-1", Role::Volunteer, None, Duration::from_secs(60))
            .expect("token");
        assert!(verifier.verify(&forged).is_err());

        let issuer = TokenIssuer::from_config(&ours).expect("issuer");
        // Signed by the right key, but expired long beyond the leeway.
        let past = Claims {
            sub: "v-1".into(),
            role: Role::Volunteer,
            org: None,
            iss: "spontan".into(),
            iat: 1,
            exp: 2,
        };
        let expired = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &past, &issuer.key)
            .expect("token");
        assert!(verifier.verify(&expired).is_err());
        assert!(verifier.verify("not.a.token").is_err());
    }

    #[test]
    fn a_rotated_key_still_verifies_during_rotation() {
        let old = generate_signing_key();
        let new = generate_signing_key();
        let token = TokenIssuer::from_config(&config(&old))
            .expect("issuer")
            .issue("v-1", Role::Volunteer, None, Duration::from_secs(60))
            .expect("token");
        let mut rotated = config(&new);
        rotated.verifying_keys = vec![public_key_of(&decode_key(&old).expect("key"))];
        assert!(
            TokenVerifier::from_config(&rotated)
                .expect("verifier")
                .verify(&token)
                .is_ok()
        );
    }
}
