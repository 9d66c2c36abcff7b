//! The PostgreSQL pool and migrations.
//!
//! TLS to the database comes from `database.ssl_mode` and `database.ssl_root_cert` (or the
//! URL's `sslmode` and `sslrootcert`); production uses `verify-full`.
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
    let mut options: PgConnectOptions = config.url.expose().parse()?;
    if !config.ssl_mode.is_empty() {
        options = options.ssl_mode(config.ssl_mode.parse()?);
    }
    if !config.ssl_root_cert.is_empty() {
        options = options.ssl_root_cert(&config.ssl_root_cert);
    }
    // Requests run short statements: compiling one (PostgreSQL's JIT starts at an estimated
    // cost of 100,000, which a misestimated batch reaches) takes far longer than running it.
    options = options.options([("jit", "off")]);
    if config.statement_timeout_ms > 0 {
        options = options.options([(
            "statement_timeout",
            format!("{}ms", config.statement_timeout_ms),
        )]);
    }
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
    // An index build on a large table may take longer than requests are allowed to: the
    // migrations get one connection of their own without the statement timeout.
    let options = (*pool.connect_options())
        .clone()
        .options([("statement_timeout", "0")]);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let outcome = migrator.run(&own).await;
    own.close().await;
    outcome
}

/// Reports pool use to the metrics recorder: connections open, in use, idle and the
/// configured limit, labelled with the database name (one pool per service, so one database
/// per process in production; several when tests run the suite in one process).
pub fn record_pool_metrics(pool: &PgPool) {
    let database = database_label(pool);
    let size = pool.size();
    // Read one after the other, so a connection opened in between could count as idle
    // without counting as open.
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
    metrics::gauge!("db_pool_connections", "database" => database.clone()).set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections", "database" => database.clone())
        .set(f64::from(idle));
    metrics::gauge!("db_pool_in_use_connections", "database" => database.clone())
        .set(f64::from(size - idle));
    metrics::gauge!("db_pool_max_connections", "database" => database)
        .set(f64::from(pool.options().get_max_connections()));
}

/// The name of the database `pool` connects to, for metric labels.
pub fn database_label(pool: &PgPool) -> String {
    pool.connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned()
}
