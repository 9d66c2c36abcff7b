//! `spontan-web`: loads configuration, sets up telemetry, serves the web clients until
//! SIGTERM or SIGINT.

use spontan_web::{Application, Config, NAME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = spontan_platform::config::load(Config::default())?;
    let _telemetry = spontan_platform::telemetry::init(NAME, &config.telemetry)?;
    let shutdown = spontan_platform::shutdown::on_signal();
    Application::build(config, shutdown).await?.run().await
}
