//! The PostgreSQL pool and migrations.
//!
//! Every service database holds the platform's tables (the outbox, processed events) and the
//! service's own. Platform migrations are numbered from 0001, service migrations from 0100, and
//! both are applied by one migrator so that `_sqlx_migrations` tells the whole history.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseConfig;

static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// A pool that connects on first use, so that a service starts (and reports NOT_SERVING)
/// while its database is still coming up.
pub fn pool(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.url.expose().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_lazy_with(options.application_name("spontan")))
}

/// Applies the platform's and the service's migrations, in version order.
pub async fn migrate(pool: &PgPool, service: &Migrator) -> Result<(), MigrateError> {
    let mut migrations: Vec<_> = PLATFORM_MIGRATIONS
        .iter()
        .chain(service.iter())
        .cloned()
        .collect();
    migrations.sort_by_key(|m| m.version);
    let migrator = Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    };
    migrator.run(pool).await
}

/// Reports pool use to the metrics recorder: connections open, idle and the configured limit.
pub fn record_pool_metrics(pool: &PgPool) {
    metrics::gauge!("db_pool_connections").set(f64::from(pool.size()));
    metrics::gauge!("db_pool_idle_connections").set(pool.num_idle() as f64);
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
}
