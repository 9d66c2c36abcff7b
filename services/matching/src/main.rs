//! `spontan-matching`: loads configuration, sets up telemetry, runs the service until
//! SIGTERM or SIGINT.

use spontan_matching::config::SettingsFile;
use spontan_matching::{Application, Config, NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = spontan_platform::config::load(Config::default())?;
    let _telemetry = spontan_platform::telemetry::init(NAME, &config.platform.telemetry)?;
    let shutdown = spontan_platform::shutdown::on_signal();
    let settings = spontan_platform::config::load(SettingsFile::default())?.matching;
    Application::build_with(config, settings, shutdown)
        .await?
        .run()
        .await
}
