//! `/config.json`: the deployment's public settings, in the shape the clients read
//! (`AppConfig` in services/web/app/src/lib/config.ts). Nothing about a deployment is
//! compiled into the bundle, so one build serves every environment.

use bytes::Bytes;
use serde::Serialize;

use crate::config::Config;

/// `AppConfig` of config.ts, field for field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppConfig<'a> {
    registration_url: &'a str,
    task_url: &'a str,
    matching_url: &'a str,
    consent_text_version: &'a str,
    map: MapConfig<'a>,
    /// `null` when no identity provider is configured.
    oidc: Option<OidcConfig<'a>>,
    dev_sign_in: bool,
    vapid_public_key: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MapConfig<'a> {
    style_url: &'a str,
    attribution: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OidcConfig<'a> {
    issuer: &'a str,
    client_id: &'a str,
    scope: &'a str,
    role_claim: &'a str,
    role_prefix: &'a str,
    organisation_claim: &'a str,
}

/// The body of `/config.json`, rendered once at start: the settings do not change while the
/// process runs.
pub fn render(config: &Config) -> Result<Bytes, serde_json::Error> {
    let web = &config.web;
    let body = AppConfig {
        registration_url: &web.registration_url,
        task_url: &web.task_url,
        matching_url: &web.matching_url,
        consent_text_version: &web.consent_text_version,
        map: MapConfig {
            style_url: &web.map.style_url,
            attribution: &web.map.attribution,
        },
        oidc: web.oidc.is_configured().then_some(OidcConfig {
            issuer: &web.oidc.issuer,
            client_id: &web.oidc.client_id,
            scope: &web.oidc.scope,
            role_claim: &web.oidc.role_claim,
            role_prefix: &web.oidc.role_prefix,
            organisation_claim: &web.oidc.organisation_claim,
        }),
        dev_sign_in: config.dev_auth().is_some(),
        vapid_public_key: &web.vapid_public_key,
    };
    serde_json::to_vec(&body).map(Bytes::from)
}
