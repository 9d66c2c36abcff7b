//! Configuration of the registration service: the platform's sections, with this service's
//! local defaults (gRPC on 50051, metrics on 9101, database `spontan_registration`), plus
//! `privacy` (encryption and lookup keys, consent text version), `register_limit` (the
//! per-client rate limit of `Register`), `register_commit` (the group commit of new
//! registrations) and `alerts` (where offers are sent: gateway, SMTP relay, Web Push).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spontan_platform::config::{PlatformConfig, Secret, Validate};

use crate::alerts::tls::is_loopback;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    pub privacy: PrivacyConfig,
    pub register_limit: RateLimitConfig,
    pub register_commit: CommitConfig,
    pub alerts: AlertsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            platform: PlatformConfig::for_service(super::NAME, 50051, 9101),
            privacy: PrivacyConfig::default(),
            register_limit: RateLimitConfig::default(),
            register_commit: CommitConfig::default(),
            alerts: AlertsConfig::default(),
        }
    }
}

impl Config {
    /// This platform configuration with freshly generated privacy keys and default limits:
    /// what tests and throw-away local stacks use.
    pub fn with_generated_keys(platform: PlatformConfig) -> Self {
        Self {
            platform,
            privacy: PrivacyConfig::generate(),
            register_limit: RateLimitConfig::default(),
            register_commit: CommitConfig::default(),
            alerts: AlertsConfig::default(),
        }
    }
}

impl Validate for Config {
    fn validate(&self, problems: &mut Vec<String>) {
        self.platform.validate(problems);
        self.privacy.validate(problems);
        self.register_limit.validate(problems);
        self.register_commit
            .validate(self.platform.database.max_connections, problems);
        self.alerts.validate(problems);
    }
}

/// Keys that protect volunteers' personal data. Both are required: the service refuses to
/// start without them rather than store contact data in clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrivacyConfig {
    /// Base64 of 32 random bytes: wraps every volunteer's data key (XChaCha20-Poly1305).
    pub master_key: Secret,
    /// Name of `master_key`, stored next to every wrapped key so that a later rotation knows
    /// which key unwraps which volunteer.
    pub master_key_id: String,
    /// Master keys that only unwrap, by id (base64 of 32 bytes each): during a rotation the
    /// previous key, which still opens data keys wrapped under it until the re-wrap sweep has
    /// moved every row to `master_key`, or the next key, announced before it becomes current.
    /// They never wrap. Remove an entry once no row carries its id (docs/operations.md).
    pub previous_master_keys: BTreeMap<String, Secret>,
    /// Base64 of 32 random bytes: HMAC-SHA256 key of the phone / e-mail duplicate lookup and
    /// of the idempotency fingerprints. Changing it breaks duplicate detection, not data.
    pub lookup_key: Secret,
    /// The consent text version the app currently shows; `Register` accepts only this one.
    pub consent_text_version: String,
    /// Volunteers with no activity (profile change, token, match) for this many days are
    /// erased automatically; 0 turns retention off.
    pub retention_days: u32,
    /// A volunteer reaches matching (and so receives offers) only once they confirmed a
    /// phone number or e-mail address with a one-time code (SendContactCode,
    /// ConfirmContact). On by default: it makes every fake sign-up cost a real phone or
    /// mailbox. Off, anyone who passes the Register limits is matched at once (the local
    /// demo and load tests, which register volunteers in bulk).
    pub require_confirmed_contact: bool,
    /// How often the retention sweep (and the yearly republish of every live volunteer) runs.
    pub retention_sweep_secs: u64,
    /// Data keys re-wrapped per transaction by the key-rotation sweep.
    pub rewrap_batch: u32,
    /// How often the service looks for data keys under a previous master key and re-wraps
    /// them; 0 leaves that to `spontan-registration rewrap-keys`.
    pub rewrap_sweep_secs: u64,
}

impl Default for PrivacyConfig {
    /// No keys: the service refuses to start until they are configured.
    fn default() -> Self {
        Self {
            master_key: Secret::default(),
            master_key_id: String::new(),
            previous_master_keys: BTreeMap::new(),
            lookup_key: Secret::default(),
            consent_text_version: String::new(),
            retention_days: 730,
            require_confirmed_contact: true,
            retention_sweep_secs: 3600,
            rewrap_batch: 200,
            rewrap_sweep_secs: 600,
        }
    }
}

impl PrivacyConfig {
    /// Random keys, and volunteers matched without a confirmed contact: for tests and
    /// drills that register volunteers in bulk (tests of confirmation turn it on).
    pub fn generate() -> Self {
        Self {
            master_key: Secret::new(spontan_platform::auth::generate_signing_key()),
            master_key_id: "k1".into(),
            lookup_key: Secret::new(spontan_platform::auth::generate_signing_key()),
            consent_text_version: "2025-06-de".into(),
            require_confirmed_contact: false,
            ..Self::default()
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        for (name, key) in [
            ("privacy.master_key", &self.master_key),
            ("privacy.lookup_key", &self.lookup_key),
        ] {
            if spontan_platform::auth::decode_key(key.expose()).is_err() {
                problems.push(format!("{name} must be base64 of 32 random bytes"));
            }
        }
        if self.master_key_id.trim().is_empty() || self.master_key_id.len() > 64 {
            problems.push("privacy.master_key_id must be 1 to 64 characters".into());
        }
        for (id, key) in &self.previous_master_keys {
            if id == &self.master_key_id {
                problems.push(format!(
                    "privacy.previous_master_keys.{id} has the id of the current master_key"
                ));
            }
            if id.trim().is_empty() || id.len() > 64 {
                problems.push("privacy.previous_master_keys ids must be 1 to 64 characters".into());
            }
            if spontan_platform::auth::decode_key(key.expose()).is_err() {
                problems.push(format!(
                    "privacy.previous_master_keys.{id} must be base64 of 32 random bytes"
                ));
            }
        }
        if self.rewrap_batch == 0 || self.rewrap_batch > 10_000 {
            problems.push("privacy.rewrap_batch must be 1 to 10000".into());
        }
        if self.consent_text_version.trim().is_empty() {
            problems.push("privacy.consent_text_version must not be empty".into());
        }
        if self.retention_sweep_secs == 0 {
            problems.push("privacy.retention_sweep_secs must be positive".into());
        }
    }
}

/// Token buckets for `Register` ([`crate::ratelimit`]): one per client (an IPv4 address or an
/// IPv6 /64, behind `grpc.trusted_proxies`) and one for all clients of a replica together.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Requests a client may send at once.
    pub burst: u32,
    /// Requests per minute refilled into the client's bucket.
    pub per_minute: u32,
    /// Requests all clients together may send at once, per replica.
    pub global_burst: u32,
    /// Requests per minute, all clients together, per replica: the admission limit.
    pub global_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // A family sharing one phone, or a few behind one carrier NAT, still get through;
        // a script does not. All together: 6,000 a minute per replica is 360,000 an hour, far
        // above the busiest day known (3,000 a day in the Ahr valley, 2,500 an hour at one
        // point in Valencia), and a bound on what a botnet can pour in.
        Self {
            burst: 20,
            per_minute: 30,
            global_burst: 1_000,
            global_per_minute: 6_000,
        }
    }
}

impl RateLimitConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if self.burst == 0 || self.per_minute == 0 {
            problems.push("register_limit.burst and per_minute must be positive".into());
        }
        if self.global_burst == 0 || self.global_per_minute == 0 {
            problems
                .push("register_limit.global_burst and global_per_minute must be positive".into());
        }
    }
}

/// The group commit of new registrations ([`crate::commit`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitConfig {
    /// Writer tasks, each with one database connection while it writes: how many batches are
    /// in flight at once. More than one keeps PostgreSQL busy while a batch commits.
    pub writers: u32,
    /// The most registrations one transaction takes. Batches are formed from what has queued
    /// while the writers were busy: at low load they hold one registration.
    pub max_batch: u32,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            writers: 4,
            max_batch: 64,
        }
    }
}

impl CommitConfig {
    fn validate(&self, max_connections: u32, problems: &mut Vec<String>) {
        if self.writers == 0 || self.writers >= max_connections {
            problems.push(format!(
                "register_commit.writers must be between 1 and database.max_connections - 1 ({})",
                max_connections.saturating_sub(1)
            ));
        }
        if !(1..=1000).contains(&self.max_batch) {
            problems.push("register_commit.max_batch must be between 1 and 1000".into());
        }
    }
}

/// Where offer alerts go, and how they get there: to the messaging gateway over HTTPS (signed
/// when a secret is set), to the SMTP relay over STARTTLS or implicit TLS (with AUTH when a
/// username is set). Clear text only towards loopback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsConfig {
    /// `https://host[:port]/path` of the messaging gateway that delivers SMS, Signal,
    /// Telegram, WhatsApp and push alerts; `http://` only to loopback; empty disables those
    /// channels (alerts stay pending).
    pub webhook_url: String,
    /// Key of the `X-Spontan-Signature` HMAC on every gateway request (docs/api.md,
    /// "Alerts"); empty sends unsigned requests.
    pub webhook_secret: Secret,
    /// PEM file of extra roots the gateway's certificate may chain to (a private CA); empty:
    /// the webpki roots only.
    pub webhook_ca_file: String,
    /// SMTP relay for e-mail alerts, `host:port`; empty disables e-mail.
    pub smtp_server: String,
    /// How the connection to the relay is encrypted.
    pub smtp_tls: SmtpTls,
    /// AUTH user name at the relay; empty: no AUTH.
    pub smtp_username: String,
    /// AUTH password, with `smtp_username`.
    pub smtp_password: Secret,
    /// PEM file of extra roots the relay's certificate may chain to (a private CA); empty:
    /// the webpki roots only.
    pub smtp_ca_file: String,
    /// Sender address of alert e-mails.
    pub smtp_from: String,
    /// Attempts per alert before it is given up as failed.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt up to 5 minutes.
    pub retry_base_ms: u64,
    /// Deadline of one send.
    pub send_timeout_ms: u64,
    /// Web Push to the volunteer app (APP_PUSH with a browser subscription as push token).
    pub web_push: WebPushConfig,
    /// Messages an organisation may send to one incident's volunteers per hour
    /// (SendVolunteerMessage; 1 to 1000).
    pub messages_per_hour: u32,
    /// How long before a task starts its accepted volunteers get a reminder, in minutes
    /// (0: no reminders; at most 2880).
    pub reminder_lead_minutes: u32,
    /// How often due reminders are looked for, in seconds.
    pub reminder_scan_secs: u64,
}

/// Encryption of the connection to the SMTP relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which the relay must offer (port 587 or 25).
    #[default]
    Starttls,
    /// TLS from the first byte, SMTPS (port 465).
    Implicit,
    /// No encryption: only for a relay on loopback (a local sidecar).
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starttls => "starttls",
            Self::Implicit => "implicit",
            Self::None => "none",
        }
    }
}

/// Web Push (VAPID) for offers to the installed web app. The web service hands the matching
/// public key to the app as `vapidPublicKey` (`web.vapid_public_key`), and the app subscribes
/// with it; the push services accept our messages only when they are signed with this key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebPushConfig {
    /// Base64url (no padding) of the raw 32-byte P-256 private key, the usual VAPID key
    /// format (`spontan vapid generate` makes a pair). Empty turns Web Push off: subscriptions
    /// then go to the messaging gateway like other push tokens.
    pub vapid_private_key: Secret,
    /// Contact of the operator for the push services (`mailto:` or `https:`), sent in every
    /// VAPID token; required with a key.
    pub subject: String,
    /// Accept `http://` subscription endpoints. Browsers only ever hand out `https://` ones;
    /// this exists for tests against a local mock push service and stays off elsewhere.
    pub allow_http_endpoints: bool,
}

impl WebPushConfig {
    pub fn enabled(&self) -> bool {
        !self.vapid_private_key.is_empty()
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if !self.enabled() {
            return;
        }
        if crate::alerts::web_push::vapid_key(self.vapid_private_key.expose()).is_err() {
            problems.push(
                "alerts.web_push.vapid_private_key must be the unpadded base64url of a raw 32-byte \
                 P-256 private key (spontan vapid generate)"
                    .into(),
            );
        }
        let subject = self.subject.trim();
        let contact = subject
            .strip_prefix("mailto:")
            .or_else(|| subject.strip_prefix("https://"))
            .unwrap_or_default();
        if contact.is_empty() || subject.contains(char::is_whitespace) {
            problems.push(
                "alerts.web_push.subject must be a mailto: or https: contact of the operator \
                 when a VAPID key is set"
                    .into(),
            );
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook_url: String::new(),
            webhook_secret: Secret::default(),
            webhook_ca_file: String::new(),
            smtp_server: String::new(),
            smtp_tls: SmtpTls::default(),
            smtp_username: String::new(),
            smtp_password: Secret::default(),
            smtp_ca_file: String::new(),
            smtp_from: "alerts@spontan.invalid".into(),
            max_attempts: 8,
            retry_base_ms: 2_000,
            send_timeout_ms: 10_000,
            web_push: WebPushConfig::default(),
            messages_per_hour: 20,
            reminder_lead_minutes: 120,
            reminder_scan_secs: 60,
        }
    }
}

/// The shortest `alerts.webhook_secret` taken (`openssl rand -hex 32` makes 64 characters).
const MIN_WEBHOOK_SECRET: usize = 16;

impl AlertsConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        self.validate_webhook(problems);
        self.validate_smtp(problems);
        if !(1..=1000).contains(&self.messages_per_hour) {
            problems.push("alerts.messages_per_hour must be between 1 and 1000".into());
        }
        if self.reminder_lead_minutes > 2880 {
            problems.push("alerts.reminder_lead_minutes must be at most 2880 (two days)".into());
        }
        if self.reminder_scan_secs == 0 {
            problems.push("alerts.reminder_scan_secs must be at least 1".into());
        }
        if self.max_attempts == 0 || self.retry_base_ms == 0 || self.send_timeout_ms == 0 {
            problems.push(
                "alerts.max_attempts, retry_base_ms and send_timeout_ms must be positive".into(),
            );
        }
        self.web_push.validate(problems);
    }

    fn validate_webhook(&self, problems: &mut Vec<String>) {
        if !self.webhook_url.is_empty() {
            let url = self.webhook_url.parse::<http::Uri>().ok();
            let host = url.as_ref().and_then(http::Uri::host).unwrap_or_default();
            match url.as_ref().and_then(http::Uri::scheme_str) {
                _ if host.is_empty() => {
                    problems.push("alerts.webhook_url must be an https:// URL with a host".into())
                }
                Some("https") => {}
                Some("http") if is_loopback(host) => {}
                Some("http") => problems.push(format!(
                    "alerts.webhook_url is http:// to {host}: alerts (names, phone numbers) \
                     would cross the network in clear; use https://, or http:// only to \
                     loopback (127.0.0.1, ::1, localhost)"
                )),
                _ => problems.push("alerts.webhook_url must be an https:// URL".into()),
            }
        }
        let secret = self.webhook_secret.expose();
        if !secret.is_empty() && (secret.len() < MIN_WEBHOOK_SECRET || secret.trim() != secret) {
            problems.push(format!(
                "alerts.webhook_secret must be at least {MIN_WEBHOOK_SECRET} characters without \
                 surrounding spaces (e.g. openssl rand -hex 32)"
            ));
        }
        check_ca_file("alerts.webhook_ca_file", &self.webhook_ca_file, problems);
    }

    fn validate_smtp(&self, problems: &mut Vec<String>) {
        if self.smtp_server.is_empty() {
            return;
        }
        let Some((host, _)) = crate::alerts::smtp::host_and_port(&self.smtp_server) else {
            problems.push("alerts.smtp_server must be host:port".into());
            return;
        };
        if self.smtp_tls == SmtpTls::None && !is_loopback(host) {
            problems.push(format!(
                "alerts.smtp_tls = \"none\" would send e-mail (names, addresses) and the \
                 password to {host} in clear; it is allowed only to a relay on loopback \
                 (127.0.0.1, ::1, localhost): use \"starttls\" or \"implicit\""
            ));
        }
        if self.smtp_username.is_empty() != self.smtp_password.is_empty() {
            problems.push("alerts.smtp_username and alerts.smtp_password go together".into());
        }
        if self.smtp_from.parse::<lettre::Address>().is_err() {
            problems.push("alerts.smtp_from must be an e-mail address".into());
        }
        if self.smtp_tls != SmtpTls::None {
            check_ca_file("alerts.smtp_ca_file", &self.smtp_ca_file, problems);
        }
    }
}

/// A CA file, when one is named, must be readable and hold certificates: found at start,
/// not at the first alert.
fn check_ca_file(key: &str, path: &str, problems: &mut Vec<String>) {
    if let Err(error) = crate::alerts::tls::extra_roots(path) {
        problems.push(format!("{key}: {error}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(web_push: WebPushConfig) -> Vec<String> {
        let mut problems = Vec::new();
        web_push.validate(&mut problems);
        problems
    }

    #[test]
    fn web_push_needs_a_raw_p256_key_and_a_contact() {
        assert!(problems(WebPushConfig::default()).is_empty(), "off is fine");
        let key = Secret::new("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY");
        for subject in ["mailto:ops@example.org", "https://example.org/contact"] {
            let config = WebPushConfig {
                vapid_private_key: key.clone(),
                subject: subject.into(),
                allow_http_endpoints: false,
            };
            assert!(problems(config).is_empty(), "{subject}");
        }
        for subject in ["", "ops@example.org", "mailto:", "http://example.org"] {
            let config = WebPushConfig {
                vapid_private_key: key.clone(),
                subject: subject.into(),
                allow_http_endpoints: false,
            };
            let found = problems(config);
            assert!(
                found.len() == 1 && found[0].contains("alerts.web_push.subject"),
                "{subject}: {found:?}"
            );
        }
        // A PEM, a padded or standard-alphabet key, a key of the wrong length.
        for bad in [
            "-----BEGIN EC PRIVATE KEY-----",
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY=",
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx/PFUXmie9YRcY",
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_P",
        ] {
            let config = WebPushConfig {
                vapid_private_key: Secret::new(bad),
                subject: "mailto:ops@example.org".into(),
                allow_http_endpoints: false,
            };
            let found = problems(config);
            assert!(
                found.len() == 1 && found[0].contains("alerts.web_push.vapid_private_key"),
                "{bad}: {found:?}"
            );
        }
    }
}
