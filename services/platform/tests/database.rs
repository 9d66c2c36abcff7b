//! The pool's statement timeout against a real PostgreSQL.

use std::time::{Duration, Instant};

use spontan_platform::error::ApiError;
use spontan_platform::{db, testkit};

#[tokio::test]
async fn a_statement_over_the_timeout_is_cancelled_and_retryable() -> anyhow::Result<()> {
    let url = testkit::fresh_database().await?;
    let mut config = testkit::platform_config("timeouts", &url, "127.0.0.1:9").database;
    config.statement_timeout_ms = 300;
    let pool = db::pool(&config)?;

    let started = Instant::now();
    let error = sqlx::query("SELECT pg_sleep(5)")
        .execute(&pool)
        .await
        .expect_err("a five-second statement outlives a 300 ms timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cancelled after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(ApiError::from(error), ApiError::Unavailable(_)),
        "a cancelled statement is retryable"
    );

    // Migrations are exempt, and the connection keeps its timeout afterwards.
    db::migrate(&pool, &sqlx::migrate::Migrator::DEFAULT).await?;
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&pool)
        .await?;
    assert_eq!(timeout, "300ms");
    Ok(())
}
