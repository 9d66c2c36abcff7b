//! Authentication: who is calling.
//!
//! - Volunteers get a token from the registration service when they register: an Ed25519 JWT
//!   (`alg: EdDSA`) signed with the suite's own key, naming them (`sub`) and granting nothing
//!   but their own data and offers. The suite's key signs only the roles in
//!   `auth.key_roles` (volunteer alone in production).
//! - Coordinators, dashboards and admins present access tokens from the operator's OpenID
//!   Connect provider ([`oidc`]): found by issuer discovery, verified against the provider's
//!   published keys, for this service's audience, with role and organisation read from
//!   configured claims, and only for the roles that provider may grant. Locally, a
//!   development key that may sign every role and the CLI mint them instead.
//!
//! The [`AuthLayer`] on every service's server verifies a bearer token when one is sent and
//! puts the [`Principal`] into the request's extensions; a token that is sent but invalid is
//! refused at once with `Unauthenticated`. It then applies the service's [`Access`] table:
//! who may call each method, before the request is decoded or validated (requests without a
//! token reach only the public RPCs, `Register` and `ListSkills`). Each handler then checks
//! what needs the target (the organisation of an incident, the volunteer of a match) with
//! [`principal`] and the `require_*` methods.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tonic::Request;

use crate::error::ApiError;

pub mod access;
mod config;
pub mod grant;
pub(crate) mod keys;
mod layer;
pub mod oidc;

pub use access::{Access, Allowed};
pub use config::{AuthConfig, OidcProvider};
pub use keys::{TokenIssuer, TokenVerifier};
pub use layer::{AuthLayer, AuthService, Authenticator};

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

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Volunteer,
        Role::Coordinator,
        Role::Dashboard,
        Role::Admin,
    ];

    /// The role's name in tokens and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::Coordinator => "coordinator",
            Role::Dashboard => "dashboard",
            Role::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    /// Higher grants more: when a provider grants several roles, the highest allowed counts.
    fn rank(self) -> u8 {
        match self {
            Role::Volunteer => 0,
            Role::Dashboard => 1,
            Role::Coordinator => 2,
            Role::Admin => 3,
        }
    }
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
    /// The volunteer session the token was issued for (registration's `volunteer_sessions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub organisation: Option<String>,
    /// When the token ends (`exp`, seconds since the Unix epoch): a server stream opened with
    /// it ends then too.
    pub expires_at: u64,
    /// When the token was issued (`iat`, seconds since the Unix epoch).
    pub issued_at: u64,
    /// The volunteer session a volunteer token belongs to (`sid`).
    pub session: Option<String>,
}

impl Principal {
    /// The volunteer id, if the caller is a volunteer.
    /// A volunteer token whose subject is no UUID is not one of ours: `Unauthenticated`.
    pub fn require_volunteer(&self) -> Result<crate::ids::VolunteerId, ApiError> {
        match self.role {
            Role::Volunteer => self.subject.parse().map_err(|_| ApiError::Unauthenticated),
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

    /// [`Self::require_reader_of`] `owner`, or a coordinator or dashboard of one of the
    /// organisations the owner shared its incident with (`shared`): a regional control room
    /// reads what several organisations do.
    pub fn require_reader_of_shared(&self, owner: &str, shared: &[String]) -> Result<(), ApiError> {
        let sharer = matches!(self.role, Role::Coordinator | Role::Dashboard)
            && self
                .organisation
                .as_deref()
                .is_some_and(|own| shared.iter().any(|s| s == own));
        if sharer {
            return Ok(());
        }
        self.require_reader_of(owner)
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
    #[error("token refused: {0}")]
    Refused(String),
    #[error("identity provider: {0}")]
    Provider(String),
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

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
