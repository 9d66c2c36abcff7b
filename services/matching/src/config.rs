//! Configuration of the matching service: the platform's sections, with this service's
//! local defaults (gRPC on 50053, metrics on 9103, database `spontan_matching`), and the
//! matching settings (`SPONTAN_MATCHING__*`), loaded separately so that `Config` stays the
//! platform's shape for the suite's end-to-end harness.

use serde::{Deserialize, Serialize};
use spontan_platform::config::{PlatformConfig, Validate};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub platform: PlatformConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            platform: PlatformConfig::for_service(super::NAME, 50053, 9103),
        }
    }
}

impl Validate for Config {
    fn validate(&self, problems: &mut Vec<String>) {
        self.platform.validate(problems);
    }
}

/// How matching makes offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchingSettings {
    /// How long a volunteer has to answer an offer before it expires.
    pub offer_timeout_secs: u64,
    /// Offers per needed person: a task that needs k people holds up to ceil(k x factor)
    /// open offers and acceptances (>= 1.0).
    pub over_offer_factor: f64,
    /// How often due offers are expired.
    pub expiry_interval_ms: u64,
    /// How often every open task is matched again, catching up on anything a crash between
    /// applying an event and offering left undone.
    pub sweep_interval_secs: u64,
    /// The most volunteer records applied in one transaction (1 to 10,000). A surge arrives
    /// faster than one commit per record allows, since every replica applies every record;
    /// whatever has arrived is applied together, so under light load a batch holds one.
    pub volunteer_batch: usize,
    /// Bounds on WatchMatchChanges streams (`matching.streams.*`).
    pub streams: crate::streams::StreamSettings,
    /// `OptimizeIncident` plans (`matching.optimizer.*`).
    pub optimizer: OptimizerSettings,
}

/// How optimisation plans are made and kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizerSettings {
    /// What keeping an open offer where it is is worth, in km of travel, when a request names
    /// no `move_cost_km` (0 to 1000): a plan moves an open offer only to save more travel than
    /// this, or to cover more.
    pub move_cost_km: f64,
    /// How long a dry run's plan can be applied (1 to 1440 minutes).
    pub plan_minutes: u64,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        Self {
            move_cost_km: 5.0,
            plan_minutes: 10,
        }
    }
}

impl Default for MatchingSettings {
    fn default() -> Self {
        Self {
            offer_timeout_secs: 15 * 60,
            over_offer_factor: 1.0,
            expiry_interval_ms: 1_000,
            sweep_interval_secs: 60,
            volunteer_batch: 256,
            streams: Default::default(),
            optimizer: Default::default(),
        }
    }
}

/// The `matching` section, on its own for [`spontan_platform::config::load`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SettingsFile {
    #[serde(default)]
    pub matching: MatchingSettings,
}

impl Validate for SettingsFile {
    fn validate(&self, problems: &mut Vec<String>) {
        let s = &self.matching;
        if s.offer_timeout_secs == 0 {
            problems.push("matching.offer_timeout_secs must be at least 1".into());
        }
        if !(1.0..=10.0).contains(&s.over_offer_factor) {
            problems.push("matching.over_offer_factor must be between 1.0 and 10.0".into());
        }
        if s.expiry_interval_ms < 10 {
            problems.push("matching.expiry_interval_ms must be at least 10".into());
        }
        if s.sweep_interval_secs == 0 {
            problems.push("matching.sweep_interval_secs must be at least 1".into());
        }
        if !(1..=10_000).contains(&s.volunteer_batch) {
            problems.push("matching.volunteer_batch must be between 1 and 10000".into());
        }
        s.streams.validate(problems);
        if !(0.0..=1000.0).contains(&s.optimizer.move_cost_km) {
            problems.push("matching.optimizer.move_cost_km must be between 0 and 1000".into());
        }
        if !(1..=1440).contains(&s.optimizer.plan_minutes) {
            problems.push("matching.optimizer.plan_minutes must be between 1 and 1440".into());
        }
    }
}
