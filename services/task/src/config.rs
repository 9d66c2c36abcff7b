//! Configuration of the task service: the platform's sections, with this service's
//! local defaults (gRPC on 50052, metrics on 9102, database `spontan_task`).

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
            platform: PlatformConfig::for_service(super::NAME, 50052, 9102),
        }
    }
}

impl Validate for Config {
    fn validate(&self, problems: &mut Vec<String>) {
        self.platform.validate(problems);
    }
}
