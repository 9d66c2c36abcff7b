//! The suite's own Ed25519 keys: signing volunteer tokens (registration) and development
//! staff tokens (the CLI, `/dev/sign-in`), and verifying them with the roles each may carry.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::{AuthConfig, AuthError, Claims, Principal, Role, decode_key, public_key_of, unix_now};

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
        self.sign(subject, role, organisation, None, ttl)
    }

    /// A volunteer's access token for their session `session`, valid for `ttl`.
    pub fn issue_for_session(
        &self,
        volunteer: &str,
        session: &str,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        self.sign(volunteer, Role::Volunteer, None, Some(session), ttl)
    }

    fn sign(
        &self,
        subject: &str,
        role: Role,
        organisation: Option<&str>,
        session: Option<&str>,
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
            sid: session.map(str::to_owned),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &self.key,
        )?)
    }
}

/// PKCS#8 v1 DER of an Ed25519 private key (RFC 8410): a fixed prefix and the 32-byte seed.
pub(crate) fn pkcs8_der(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// Verification keys of base64 Ed25519 public keys.
pub(crate) fn decoding_keys(public_keys: &[String]) -> Result<Vec<DecodingKey>, AuthError> {
    public_keys
        .iter()
        .map(|k| {
            let raw = decode_key(k)?;
            DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(raw))
                .map_err(AuthError::Rejected)
        })
        .collect()
}

/// Verifies tokens against every configured public key (several during a key rotation).
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<Vec<DecodingKey>>,
    roles: Vec<Role>,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys.len())
            .field("roles", &self.roles)
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
        let keys = decoding_keys(&public_keys)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            keys: Arc::new(keys),
            roles: config.key_roles.clone(),
            validation,
        })
    }

    /// The caller a token names, if one of the keys signed it, it is current, and its role is
    /// one the keys may grant (`auth.key_roles`).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut last = None;
        for key in self.keys.iter() {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
                Ok(data) if !self.roles.contains(&data.claims.role) => {
                    return Err(AuthError::Refused(format!(
                        "the suite's key may not grant the {} role (auth.key_roles)",
                        data.claims.role.name()
                    )));
                }
                Ok(data) => {
                    return Ok(Principal {
                        subject: data.claims.sub,
                        role: data.claims.role,
                        organisation: data.claims.org,
                        expires_at: data.claims.exp,
                        issued_at: data.claims.iat,
                        session: data.claims.sid,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::generate_signing_key;
    use crate::secret::Secret;

    /// A development key: it may sign every role.
    fn config(key: &str) -> AuthConfig {
        AuthConfig {
            signing_key: Secret::new(key),
            key_roles: Role::ALL.to_vec(),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn the_suites_key_grants_only_the_roles_it_may() {
        let key = generate_signing_key();
        let production = AuthConfig {
            signing_key: Secret::new(&key),
            ..AuthConfig::default()
        };
        let issuer = TokenIssuer::from_config(&production).expect("issuer");
        let verifier = TokenVerifier::from_config(&production).expect("verifier");
        let ttl = Duration::from_secs(60);
        let volunteer = issuer
            .issue("v-1", Role::Volunteer, None, ttl)
            .expect("token");
        assert_eq!(
            verifier.verify(&volunteer).expect("volunteer").role,
            Role::Volunteer
        );
        for role in [Role::Coordinator, Role::Dashboard, Role::Admin] {
            let staff = issuer.issue("s-1", role, Some("thw"), ttl).expect("token");
            let refused = verifier
                .verify(&staff)
                .expect_err("staff token from the volunteer key");
            assert!(refused.to_string().contains(role.name()), "{refused}");
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
            sid: None,
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
