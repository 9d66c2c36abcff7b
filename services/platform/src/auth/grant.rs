//! Contact grants: matching's signed word that a match is ACCEPTED or CHECKED_IN, so that
//! registration can hand a coordinator the volunteer's contact the moment matching decided,
//! not only once the match event has reached it.
//!
//! Matching signs a grant (an Ed25519 JWT with its own key, `auth.contact_grant_key`) into
//! each accepted or checked-in match it shows a coordinator; the console passes it to
//! `GetVolunteerContact`, and registration accepts it when one of
//! `auth.contact_grant_verifying_keys` verifies it, it is for the requested match and the
//! caller's organisation, and it has not expired. A grant never overrides what registration
//! already knows to be final (a withdrawn, cancelled or completed match): it only bridges the
//! moment between the decision and the event. Grants are no tokens: their own issuer and
//! audience keep one from being presented as the other.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{decoding_keys, pkcs8_der};
use super::{AuthConfig, AuthError, decode_key, public_key_of, unix_now};

/// `iss` of contact grants.
const ISSUER: &str = "spontan-matching";
/// `aud` of contact grants.
const AUDIENCE: &str = "spontan-registration/contact";

/// What a grant says: the coordinators of `organisation_id` may read the contact of
/// `volunteer_id` for `match_id` (of `task_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactGrant {
    pub match_id: Uuid,
    pub task_id: Uuid,
    pub volunteer_id: Uuid,
    pub organisation_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct GrantClaims {
    iss: String,
    aud: String,
    /// The match.
    sub: Uuid,
    tid: Uuid,
    vid: Uuid,
    org: String,
    iat: u64,
    exp: u64,
}

/// Signs grants (matching).
#[derive(Clone)]
pub struct GrantSigner {
    key: Arc<EncodingKey>,
    ttl: Duration,
}

impl std::fmt::Debug for GrantSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl GrantSigner {
    /// The signer of `auth.contact_grant_key`, or `None` when the key is not set (matching
    /// then shows no grants and registration answers from the events it has).
    pub fn from_config(config: &AuthConfig) -> Result<Option<Self>, AuthError> {
        if config.contact_grant_key.is_empty() {
            return Ok(None);
        }
        let seed = decode_key(config.contact_grant_key.expose())?;
        Ok(Some(Self {
            key: Arc::new(EncodingKey::from_ed_der(&pkcs8_der(&seed))),
            ttl: Duration::from_secs(u64::from(config.contact_grant_minutes.max(1)) * 60),
        }))
    }

    pub fn sign(&self, grant: &ContactGrant) -> Result<String, AuthError> {
        let now = unix_now();
        let claims = GrantClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: grant.match_id,
            tid: grant.task_id,
            vid: grant.volunteer_id,
            org: grant.organisation_id.clone(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims,
            &self.key,
        )?)
    }
}

/// Verifies grants (registration) against every configured public key.
#[derive(Clone)]
pub struct GrantVerifier {
    keys: Arc<Vec<DecodingKey>>,
    validation: Validation,
}

impl std::fmt::Debug for GrantVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl GrantVerifier {
    /// The verifier of `auth.contact_grant_verifying_keys` (and of the public key of
    /// `auth.contact_grant_key`, when this service holds it too), or `None` when there is no
    /// key: grants are then ignored.
    pub fn from_config(config: &AuthConfig) -> Result<Option<Self>, AuthError> {
        let mut public_keys = config.contact_grant_verifying_keys.clone();
        if !config.contact_grant_key.is_empty() {
            public_keys.push(public_key_of(&decode_key(
                config.contact_grant_key.expose(),
            )?));
        }
        if public_keys.is_empty() {
            return Ok(None);
        }
        let keys = decoding_keys(&public_keys)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Some(Self {
            keys: Arc::new(keys),
            validation,
        }))
    }

    /// What the grant says, if one of the keys signed it and it has not expired.
    pub fn verify(&self, grant: &str) -> Result<ContactGrant, AuthError> {
        let mut last = None;
        for key in self.keys.iter() {
            match jsonwebtoken::decode::<GrantClaims>(grant, key, &self.validation) {
                Ok(data) => {
                    let c = data.claims;
                    return Ok(ContactGrant {
                        match_id: c.sub,
                        task_id: c.tid,
                        volunteer_id: c.vid,
                        organisation_id: c.org,
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
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::auth::{TokenIssuer, generate_signing_key};
    use crate::secret::Secret;

    fn grant() -> ContactGrant {
        ContactGrant {
            match_id: Uuid::from_u128(1),
            task_id: Uuid::from_u128(2),
            volunteer_id: Uuid::from_u128(3),
            organisation_id: "thw-ov-ahrweiler".into(),
        }
    }

    fn pair() -> (AuthConfig, AuthConfig) {
        let seed = generate_signing_key();
        let public = public_key_of(&decode_key(&seed).expect("seed"));
        let matching = AuthConfig {
            contact_grant_key: Secret::new(seed),
            ..AuthConfig::default()
        };
        let registration = AuthConfig {
            contact_grant_verifying_keys: vec![public],
            ..AuthConfig::default()
        };
        (matching, registration)
    }

    #[test]
    fn a_grant_signed_by_matching_verifies_in_registration() {
        let (matching, registration) = pair();
        let signer = GrantSigner::from_config(&matching)
            .expect("key")
            .expect("signer");
        let verifier = GrantVerifier::from_config(&registration)
            .expect("keys")
            .expect("verifier");
        let signed = signer.sign(&grant()).expect("signed");
        assert_eq!(verifier.verify(&signed).expect("valid"), grant());
    }

    #[test]
    fn another_key_a_token_or_an_altered_grant_is_refused() {
        let (matching, _) = pair();
        let (_, other_registration) = pair();
        let signer = GrantSigner::from_config(&matching)
            .expect("key")
            .expect("signer");
        let signed = signer.sign(&grant()).expect("signed");
        let other = GrantVerifier::from_config(&other_registration)
            .expect("keys")
            .expect("verifier");
        assert!(other.verify(&signed).is_err(), "another matching's key");

        // An access token signed with the same key is no grant (issuer and audience).
        let same_key = AuthConfig {
            signing_key: matching.contact_grant_key.clone(),
            key_roles: crate::auth::Role::ALL.to_vec(),
            ..AuthConfig::default()
        };
        let token = TokenIssuer::from_config(&same_key)
            .expect("issuer")
            .issue(
                &Uuid::from_u128(1).to_string(),
                crate::auth::Role::Coordinator,
                Some("thw-ov-ahrweiler"),
                Duration::from_secs(600),
            )
            .expect("token");
        let verifier = GrantVerifier::from_config(&matching)
            .expect("keys")
            .expect("verifier");
        assert!(verifier.verify(&token).is_err(), "a token is not a grant");

        let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
        let claims = URL_SAFE_NO_PAD.decode(&parts[1]).expect("claims");
        let altered = String::from_utf8(claims)
            .expect("json")
            .replace("thw-ov-ahrweiler", "drk-kv-ahrweiler");
        parts[1] = URL_SAFE_NO_PAD.encode(altered);
        assert!(verifier.verify(&parts.join(".")).is_err(), "altered");
        assert!(verifier.verify(&signed).is_ok());
    }

    #[test]
    fn without_keys_there_are_no_grants() {
        let none = AuthConfig::default();
        assert!(GrantSigner::from_config(&none).expect("ok").is_none());
        assert!(GrantVerifier::from_config(&none).expect("ok").is_none());
    }
}
