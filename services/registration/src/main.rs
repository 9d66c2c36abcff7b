//! `spontan-registration`: loads configuration, sets up telemetry, runs the service until
//! SIGTERM or SIGINT.
//!
//! `spontan-registration rewrap-keys` instead re-wraps, once and to completion, every data
//! key still under a previous master key (the running service does the same in the
//! background) and prints how many rows carry each key id, so an operator knows when an old
//! key may be dropped (docs/operations.md).

use anyhow::Context;
use spontan_registration::{Application, Config, NAME, crypto, rotation};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = spontan_platform::config::load(Config::default())?;
    let _telemetry = spontan_platform::telemetry::init(NAME, &config.platform.telemetry)?;
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("rewrap-keys") => return rewrap_keys(&config).await,
        Some(other) => anyhow::bail!("unknown command {other:?}; the only one is rewrap-keys"),
    }
    let shutdown = spontan_platform::shutdown::on_signal();
    Application::build(config, shutdown).await?.run().await
}

async fn rewrap_keys(config: &Config) -> anyhow::Result<()> {
    let vault = crypto::Vault::from_config(&config.privacy).context("privacy keys")?;
    let pool = spontan_platform::db::pool(&config.platform.database).context("database")?;
    let done = rotation::rewrap_all(&pool, &vault, config.privacy.rewrap_batch).await?;
    println!(
        "re-wrapped {} data keys to master key {:?}; {} could not be (see the log)",
        done.rewrapped,
        vault.current_key_id(),
        done.failed.len()
    );
    for (key_id, rows) in rotation::key_usage(&pool).await? {
        println!("key {key_id:?}: {rows} volunteers");
    }
    anyhow::ensure!(
        done.failed.is_empty(),
        "some data keys are under a master key that is not configured"
    );
    Ok(())
}
