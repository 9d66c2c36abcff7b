//! Configuration of the web service: `web` (listener, where the built clients are, the
//! public settings served as `/config.json`, the dev signing key), `auth.issuer` (the same
//! variable the services read), `metrics` and `telemetry`. Loaded with
//! [`spontan_platform::config::load`]: defaults, optional file, `SPONTAN_` environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use spontan_platform::config::{AuthConfig, MetricsConfig, Secret, TelemetryConfig, Validate};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub web: WebConfig,
    pub auth: IssuerConfig,
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
}

impl Default for Config {
    /// Local defaults: the page on 8080, metrics on 9104, the three services on their local
    /// ports, the clients as `npm run build` leaves them in the repository, no dev sign-in.
    fn default() -> Self {
        Self {
            web: WebConfig::default(),
            auth: IssuerConfig::default(),
            metrics: MetricsConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 9104)),
            },
            telemetry: TelemetryConfig::default(),
        }
    }
}

impl Config {
    /// The signing configuration of dev sign-in, `None` when it is off. It is the services'
    /// [`AuthConfig`] with the dev key as signing key and the shared issuer, exactly what
    /// `spontan token mint` builds, so that the services accept what this one mints.
    pub fn dev_auth(&self) -> Option<AuthConfig> {
        if self.web.dev_signing_key.is_empty() {
            return None;
        }
        Some(AuthConfig {
            issuer: self.auth.issuer.clone(),
            signing_key: self.web.dev_signing_key.clone(),
            ..AuthConfig::default()
        })
    }
}

impl Validate for Config {
    fn validate(&self, problems: &mut Vec<String>) {
        self.web.validate(problems);
        if self.auth.issuer.trim().is_empty() {
            problems.push("auth.issuer must not be empty".into());
        }
        if !matches!(self.telemetry.log_format.as_str(), "json" | "pretty") {
            problems.push("telemetry.log_format must be \"json\" or \"pretty\"".into());
        }
    }
}

/// Only the issuer of the services' `auth` section: read from the same variable
/// (`SPONTAN_AUTH__ISSUER`), so that tokens minted by dev sign-in carry the `iss` the
/// services expect whenever the deployment changes it. The services' other `auth` keys, if
/// present in a shared environment, are ignored here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerConfig {
    pub issuer: String,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: AuthConfig::default().issuer,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebConfig {
    /// Address of the page server (HTTP/1.1; the ingress terminates TLS).
    pub listen: SocketAddr,
    /// The Vite build: `index.html`, `console/`, `dashboard/`, `assets/`, `sw.js`, ...
    pub assets_dir: PathBuf,
    /// Public base URLs of the three services' gRPC-Web endpoints, as browsers reach them.
    /// Behind one ingress host they are that host's origin (`https://spontan.example.org`).
    pub registration_url: String,
    pub task_url: String,
    pub matching_url: String,
    /// The consent text version the registration service accepts now; must equal its
    /// `privacy.consent_text_version`, or every registration is refused.
    pub consent_text_version: String,
    pub map: MapConfig,
    pub oidc: OidcConfig,
    /// Base64 of a 32-byte Ed25519 seed accepted by the services (their
    /// `auth.signing_key` or one of `auth.verifying_keys`' seeds). When set, `/dev/sign-in`
    /// mints coordinator, dashboard and admin tokens for anyone who can reach this server:
    /// for local stacks only. Empty, the default, turns the route off.
    pub dev_signing_key: Secret,
    /// VAPID public key for Web Push (base64url of the uncompressed P-256 point); empty
    /// turns push off in the clients.
    pub vapid_public_key: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            assets_dir: PathBuf::from("services/web/app/dist"),
            registration_url: "http://127.0.0.1:50051".into(),
            task_url: "http://127.0.0.1:50052".into(),
            matching_url: "http://127.0.0.1:50053".into(),
            consent_text_version: "2025-06-de".into(),
            map: MapConfig::default(),
            oidc: OidcConfig::default(),
            dev_signing_key: Secret::default(),
            vapid_public_key: String::new(),
        }
    }
}

impl WebConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        for (name, url) in [
            ("web.registration_url", &self.registration_url),
            ("web.task_url", &self.task_url),
            ("web.matching_url", &self.matching_url),
        ] {
            if let Err(problem) = origin_of(url) {
                problems.push(format!("{name} {problem}"));
            }
        }
        if self.consent_text_version.trim().is_empty() {
            problems.push("web.consent_text_version must not be empty".into());
        }
        if !self.map.style_url.is_empty()
            && let Err(problem) = origin_of(&self.map.style_url)
        {
            problems.push(format!(
                "web.map.style_url {problem} (or empty for the built-in style)"
            ));
        }
        self.oidc.validate(problems);
        if !self.dev_signing_key.is_empty()
            && spontan_platform::auth::decode_key(self.dev_signing_key.expose()).is_err()
        {
            problems.push(
                "web.dev_signing_key must be base64 of 32 bytes (or empty to turn dev sign-in off)"
                    .into(),
            );
        }
        if !self.vapid_public_key.is_empty() && !is_vapid_public_key(&self.vapid_public_key) {
            problems.push(
                "web.vapid_public_key must be the unpadded base64url of an uncompressed P-256 \
                 public key (65 bytes), or empty to turn push off"
                    .into(),
            );
        }
    }
}

/// Where the map's style (and with it tiles, glyphs and sprites) comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MapConfig {
    /// A MapLibre style URL; empty means the clients' built-in style (no tile server).
    /// Its origin is allowed in the Content-Security-Policy.
    pub style_url: String,
    /// Attribution text the tile source requires, shown on the map.
    pub attribution: String,
}

/// The identity provider of the coordinator console (authorization code with PKCE).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcConfig {
    /// Issuer URL; empty means no identity provider (`oidc: null` in `/config.json`).
    /// Its origin is allowed in `connect-src`: the console fetches discovery and tokens.
    pub issuer: String,
    pub client_id: String,
    pub scope: String,
    /// Where the access token names the role and the organisation, exactly as in the
    /// services' `auth.oidc` entry for this issuer: the pages read them to show who is signed
    /// in (the services verify; the pages only display).
    pub role_claim: String,
    pub role_prefix: String,
    pub organisation_claim: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            scope: "openid profile".into(),
            role_claim: "roles".into(),
            role_prefix: String::new(),
            organisation_claim: "org".into(),
        }
    }
}

impl OidcConfig {
    pub fn is_configured(&self) -> bool {
        !self.issuer.is_empty()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if !self.is_configured() {
            if !self.client_id.is_empty() {
                problems.push("web.oidc.client_id is set but web.oidc.issuer is empty".into());
            }
            return;
        }
        if let Err(problem) = origin_of(&self.issuer) {
            problems.push(format!("web.oidc.issuer {problem}"));
        }
        if self.client_id.trim().is_empty() {
            problems.push("web.oidc.client_id must be set when web.oidc.issuer is".into());
        }
        if !self.scope.split_whitespace().any(|s| s == "openid") {
            problems.push("web.oidc.scope must include \"openid\"".into());
        }
    }
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, as a CSP source; the
/// error completes a sentence that starts with the field's name.
pub fn origin_of(url: &str) -> Result<String, &'static str> {
    const NOT_A_URL: &str = "must be an absolute http:// or https:// URL without query or fragment";
    if url.contains(['#', ' ']) {
        return Err(NOT_A_URL);
    }
    let uri: http::Uri = url.parse().map_err(|_| NOT_A_URL)?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            s.to_ascii_lowercase()
        }
        _ => return Err(NOT_A_URL),
    };
    let authority = uri.authority().ok_or(NOT_A_URL)?;
    if authority.as_str().contains('@') {
        return Err("must not contain user information");
    }
    if authority.host().is_empty() || uri.query().is_some() {
        return Err(NOT_A_URL);
    }
    let host = authority.host().to_ascii_lowercase();
    Ok(match authority.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// A VAPID application server key: an uncompressed P-256 point, base64url without padding.
fn is_vapid_public_key(text: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .is_ok_and(|key| key.len() == 65 && key[0] == 0x04)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(config: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    #[test]
    fn the_defaults_are_valid_and_without_dev_sign_in() {
        let config = Config::default();
        assert_eq!(problems(&config), Vec::<String>::new());
        assert!(config.dev_auth().is_none());
        assert!(!config.web.oidc.is_configured());
    }

    #[test]
    fn origins_keep_scheme_host_and_explicit_port_only() {
        assert_eq!(
            origin_of("https://Spontan.example.org/api/").as_deref(),
            Ok("https://spontan.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:50051").as_deref(),
            Ok("http://127.0.0.1:50051")
        );
        for bad in [
            "",
            "spontan.example.org",
            "/relative",
            "ftp://example.org",
            "https://user:pw@example.org",
            "https://example.org/?q=1",
            "https://example.org/#x",
        ] {
            assert!(origin_of(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_bad_setting_is_named_at_once() {
        let mut config = Config::default();
        config.web.task_url = "task:50052".into();
        config.web.map.style_url = "tiles.example.org/style.json".into();
        config.web.oidc.issuer = "https://id.example.org/realms/spontan".into();
        config.web.oidc.scope = "profile".into();
        config.web.dev_signing_key = Secret::new("c2hvcnQ=");
        config.web.vapid_public_key = "not-a-key".into();
        config.web.consent_text_version = " ".into();
        let found = problems(&config);
        for field in [
            "web.task_url",
            "web.map.style_url",
            "web.oidc.client_id",
            "web.oidc.scope",
            "web.dev_signing_key",
            "web.vapid_public_key",
            "web.consent_text_version",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(field)),
                "{field} not reported: {found:?}"
            );
        }
        assert_eq!(found.len(), 7, "{found:?}");
    }

    #[test]
    fn a_vapid_key_is_an_uncompressed_point() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        assert!(is_vapid_public_key(&URL_SAFE_NO_PAD.encode(&point)));
        point[0] = 0x02;
        assert!(!is_vapid_public_key(&URL_SAFE_NO_PAD.encode(&point)));
    }

    #[test]
    fn the_dev_key_never_prints() {
        let mut config = Config::default();
        config.web.dev_signing_key = Secret::new(spontan_platform::auth::generate_signing_key());
        let printed = format!("{config:?}");
        assert!(!printed.contains(config.web.dev_signing_key.expose()));
    }
}
