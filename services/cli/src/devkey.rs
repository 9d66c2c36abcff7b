//! Development tokens: signed with the development key of a local stack (`spontan token
//! mint`, `spontan drill`). Production tokens come from the operator's identity provider.

use std::time::Duration;

use anyhow::{Context, bail};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::{AuthConfig, Secret};

/// Where `deploy/local/up.sh` keeps the development key.
pub const KEY_FILE: &str = ".spontan/dev-signing-key";

/// The development key: `key` if given, else the local stack's key file.
pub fn signing_key(key: Option<String>) -> anyhow::Result<String> {
    match key {
        Some(key) => Ok(key),
        None => std::fs::read_to_string(KEY_FILE).map_err(|_| {
            anyhow::anyhow!(
                "no dev signing key configured: set SPONTAN_DEV_SIGNING_KEY or run deploy/local/up.sh \
                 (production tokens come from the identity provider, not from this command)"
            )
        }),
    }
}

/// A token for `subject` in `role`, signed with `key` (base64 Ed25519 seed) for `issuer`.
pub fn mint(
    key: &str,
    issuer: &str,
    subject: &str,
    role: Role,
    organisation: Option<&str>,
    ttl: Duration,
) -> anyhow::Result<String> {
    if matches!(role, Role::Coordinator | Role::Dashboard) && organisation.is_none() {
        bail!("coordinator and dashboard tokens need --organisation");
    }
    let config = AuthConfig {
        issuer: issuer.to_owned(),
        signing_key: Secret::new(key.trim()),
        ..AuthConfig::default()
    };
    let issuer = TokenIssuer::from_config(&config)
        .context("the dev signing key is not base64 of 32 bytes")?;
    Ok(issuer.issue(subject, role, organisation, ttl)?)
}
