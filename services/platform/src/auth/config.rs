//! The `auth` section: the suite's own keys and the OpenID Connect providers staff sign in at.

use serde::{Deserialize, Serialize};

use super::Role;
use crate::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// `iss` of tokens this suite issues (volunteer tokens) and expects.
    pub issuer: String,
    /// Base64 of a 32-byte Ed25519 seed. Only the registration service (volunteer tokens) and
    /// the local dev stack hold one; empty elsewhere.
    pub signing_key: Secret,
    /// Base64 of 32-byte Ed25519 public keys accepted for verification. Several may be listed
    /// so that a key can be rotated without downtime; the signing key's own public key is
    /// always accepted.
    pub verifying_keys: Vec<String>,
    /// The roles a token signed with `signing_key` or one of `verifying_keys` may carry.
    /// `["volunteer"]` by default: the suite's own key signs volunteer tokens only, so that a
    /// leak of the key on the public registration service is no staff credential. A local
    /// development stack lists every role, so that its key can mint staff tokens.
    pub key_roles: Vec<Role>,
    /// Lifetime of a volunteer's access token: minutes, renewed with the session's refresh
    /// token, so that a stolen one is soon worthless.
    pub volunteer_access_token_minutes: u32,
    /// A volunteer session ends after this many days without a refresh (the app refreshes
    /// whenever it is opened). Volunteers have no password: an ended session means
    /// registering again, so this is long.
    pub volunteer_session_days: u32,
    /// The `aud` this service requires in tokens from OpenID Connect providers. Empty means
    /// `spontan-<service>` (`spontan-registration`, `spontan-task`, `spontan-matching`): a
    /// token meant for one service is refused by the others unless it names them too.
    pub audience: String,
    /// Identity providers whose access tokens staff present (Keycloak, Entra ID, Authentik,
    /// …). Each is trusted only for the roles it lists.
    pub oidc: Vec<OidcProvider>,
    /// Matching only: base64 of a 32-byte Ed25519 seed with which matching signs contact
    /// grants into the accepted and checked-in matches it shows coordinators
    /// ([`super::grant`]). Empty: no grants; registration then answers `GetVolunteerContact`
    /// only from the match events it has received.
    pub contact_grant_key: Secret,
    /// Registration only: base64 public keys of `contact_grant_key` (several during a
    /// rotation). Empty: grants are ignored.
    pub contact_grant_verifying_keys: Vec<String>,
    /// How long a contact grant is valid: long enough for a coordinator to click "contact"
    /// on the staffing view, short enough that a grant shown before a withdrawal soon stops
    /// counting where registration has not yet heard of the withdrawal.
    pub contact_grant_minutes: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "spontan".into(),
            signing_key: Secret::default(),
            verifying_keys: Vec::new(),
            key_roles: vec![Role::Volunteer],
            volunteer_access_token_minutes: 15,
            volunteer_session_days: 180,
            audience: String::new(),
            oidc: Vec::new(),
            contact_grant_key: Secret::default(),
            contact_grant_verifying_keys: Vec::new(),
            contact_grant_minutes: 10,
        }
    }
}

/// One OpenID Connect provider: its issuer, what its tokens may grant and where the grant is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OidcProvider {
    /// The issuer URL exactly as the provider's tokens carry it in `iss`, e.g.
    /// `https://id.example.org/realms/spontan`. Its keys are found through
    /// `<issuer>/.well-known/openid-configuration` and the `jwks_uri` named there.
    pub issuer: String,
    /// The roles this provider may grant. Volunteers never sign in here.
    pub roles: Vec<Role>,
    /// Where the role is in the token: a claim name or a dotted path into nested objects
    /// (`realm_access.roles` for Keycloak realm roles). A string or an array of strings.
    pub role_claim: String,
    /// A prefix the role values carry at the provider (`spontan-` for `spontan-coordinator`);
    /// values without it are ignored. When several roles are granted the most privileged
    /// allowed one counts.
    pub role_prefix: String,
    /// Where the organisation is: a claim name or dotted path, holding a string or an array
    /// of exactly one string. Coordinators and dashboards need one; admins do not.
    pub organisation_claim: String,
    /// The longest lifetime (`exp - iat`) accepted: staff tokens are short-lived, and a
    /// longer one is refused rather than trusted.
    pub max_token_lifetime_minutes: u32,
    /// An unknown `kid` makes the service fetch the key set again, at most this often.
    pub jwks_min_refresh_seconds: u64,
    /// Keys are fetched again after this long even when no unknown `kid` asks for it, so that
    /// a key the provider withdrew stops working.
    pub jwks_max_age_seconds: u64,
    /// Accept `http://` for the issuer and its key set. Only for a provider on loopback in
    /// development and tests; production keys travel over HTTPS.
    pub allow_http: bool,
}

impl Default for OidcProvider {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            roles: vec![Role::Coordinator, Role::Dashboard],
            role_claim: "roles".into(),
            role_prefix: String::new(),
            organisation_claim: "org".into(),
            max_token_lifetime_minutes: 60,
            jwks_min_refresh_seconds: 30,
            jwks_max_age_seconds: 3_600,
            allow_http: false,
        }
    }
}

impl AuthConfig {
    /// The audience a service named `service` requires.
    pub fn audience_for(&self, service: &str) -> String {
        if self.audience.is_empty() {
            format!("spontan-{service}")
        } else {
            self.audience.clone()
        }
    }

    pub(crate) fn validate(&self, problems: &mut Vec<String>) {
        if self.issuer.is_empty() {
            problems.push("auth.issuer must not be empty".into());
        }
        if !self.signing_key.is_empty() && super::decode_key(self.signing_key.expose()).is_err() {
            problems.push("auth.signing_key must be base64 of 32 bytes".into());
        }
        for (i, key) in self.verifying_keys.iter().enumerate() {
            if super::decode_key(key).is_err() {
                problems.push(format!(
                    "auth.verifying_keys[{i}] must be base64 of 32 bytes"
                ));
            }
        }
        if self.signing_key.is_empty() && self.verifying_keys.is_empty() && self.oidc.is_empty() {
            problems.push(
                "auth needs a signing_key, a verifying_keys entry or an oidc provider".into(),
            );
        }
        if self.key_roles.is_empty() {
            problems.push("auth.key_roles must name at least one role".into());
        }
        if !self.contact_grant_key.is_empty()
            && super::decode_key(self.contact_grant_key.expose()).is_err()
        {
            problems.push("auth.contact_grant_key must be base64 of 32 bytes".into());
        }
        for (i, key) in self.contact_grant_verifying_keys.iter().enumerate() {
            if super::decode_key(key).is_err() {
                problems.push(format!(
                    "auth.contact_grant_verifying_keys[{i}] must be base64 of 32 bytes"
                ));
            }
        }
        if !(1..=60).contains(&self.contact_grant_minutes) {
            problems.push("auth.contact_grant_minutes must be between 1 and 60".into());
        }
        if !(1..=24 * 60).contains(&self.volunteer_access_token_minutes) {
            problems.push("auth.volunteer_access_token_minutes must be between 1 and 1440".into());
        }
        if self.volunteer_session_days == 0 {
            problems.push("auth.volunteer_session_days must be positive".into());
        }
        for (i, provider) in self.oidc.iter().enumerate() {
            provider.validate(&format!("auth.oidc[{i}]"), &self.issuer, problems);
            if self.oidc[..i].iter().any(|p| p.issuer == provider.issuer) {
                problems.push(format!("auth.oidc[{i}].issuer is listed twice"));
            }
        }
    }
}

impl OidcProvider {
    fn validate(&self, at: &str, own_issuer: &str, problems: &mut Vec<String>) {
        let scheme_ok = self.issuer.starts_with("https://")
            || (self.allow_http && self.issuer.starts_with("http://"));
        if !scheme_ok {
            problems.push(format!(
                "{at}.issuer must be an https:// URL (http:// only with allow_http)"
            ));
        }
        if self.issuer == own_issuer {
            problems.push(format!("{at}.issuer must differ from auth.issuer"));
        }
        if self.roles.is_empty() {
            problems.push(format!("{at}.roles must name at least one role"));
        }
        if self.roles.contains(&Role::Volunteer) {
            problems.push(format!(
                "{at}.roles must not include volunteer: volunteers get their tokens from registration"
            ));
        }
        if self.role_claim.is_empty() {
            problems.push(format!("{at}.role_claim must not be empty"));
        }
        if self.organisation_claim.is_empty() {
            problems.push(format!("{at}.organisation_claim must not be empty"));
        }
        if self.max_token_lifetime_minutes == 0 || self.max_token_lifetime_minutes > 24 * 60 {
            problems.push(format!(
                "{at}.max_token_lifetime_minutes must be between 1 and 1440"
            ));
        }
        if self.jwks_max_age_seconds == 0 {
            problems.push(format!("{at}.jwks_max_age_seconds must be positive"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How `SPONTAN_AUTH__OIDC` and `SPONTAN_AUTH__KEY_ROLES` are written in an environment.
    #[test]
    fn providers_and_roles_come_from_one_environment_variable_each() {
        let env = r#"[{issuer="https://id.example.org/realms/spontan", roles=["coordinator","admin"], role_claim="realm_access.roles"}]"#;
        let value: figment::value::Value = env.parse().expect("figment value");
        let providers: Vec<OidcProvider> = value.deserialize().expect("providers");
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].issuer, "https://id.example.org/realms/spontan");
        assert_eq!(providers[0].roles, [Role::Coordinator, Role::Admin]);
        assert_eq!(providers[0].role_claim, "realm_access.roles");
        assert_eq!(
            providers[0].organisation_claim, "org",
            "unset fields keep defaults"
        );
        let roles: figment::value::Value = r#"["volunteer","dashboard"]"#.parse().expect("value");
        let roles: Vec<Role> = roles.deserialize().expect("roles");
        assert_eq!(roles, [Role::Volunteer, Role::Dashboard]);
    }

    #[test]
    fn a_provider_is_checked_before_it_is_trusted() {
        let config = AuthConfig {
            signing_key: Secret::new(super::super::generate_signing_key()),
            oidc: vec![
                OidcProvider {
                    issuer: "http://id.example.org".into(),
                    roles: vec![Role::Volunteer],
                    max_token_lifetime_minutes: 0,
                    ..OidcProvider::default()
                },
                OidcProvider {
                    issuer: "spontan".into(),
                    ..OidcProvider::default()
                },
            ],
            ..AuthConfig::default()
        };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        for expected in [
            "auth.oidc[0].issuer must be an https:// URL",
            "auth.oidc[0].roles must not include volunteer",
            "auth.oidc[0].max_token_lifetime_minutes",
            "auth.oidc[1].issuer must differ from auth.issuer",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} missing from {problems:?}"
            );
        }
        assert_eq!(config.audience_for("task"), "spontan-task");
    }
}
