//! The service skeleton's failure rule against a real PostgreSQL and broker: background work
//! that fails stops the whole service, and `run` reports why, so the process exits non-zero
//! and the orchestrator restarts it.

use std::time::Duration;

use spontan_platform::service::Platform;
use spontan_platform::testkit::{self, TestBroker};
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

static NO_SERVICE_MIGRATIONS: Migrator = Migrator::DEFAULT;

#[tokio::test]
async fn failed_background_work_stops_the_service_with_its_cause() {
    testkit::init_logging();
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let database = testkit::fresh_database().await.expect("database");
    let config = testkit::platform_config("skeleton", &database, broker.brokers());
    let shutdown = CancellationToken::new();
    let mut platform =
        Platform::build("skeleton", config, &NO_SERVICE_MIGRATIONS, shutdown.clone())
            .await
            .expect("platform");
    // One task that would run until shutdown, one that fails once the service is ready.
    let quiet = shutdown.clone();
    platform.spawn_when_ready("waiting task", async move { quiet.cancelled().await });
    platform.spawn_when_ready("consumer", async {
        Err::<(), _>(anyhow::anyhow!(
            "topic spontan.nothing.v1 cannot be subscribed"
        ))
    });
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        platform.run(Routes::default(), &[]),
    )
    .await
    .expect("the service stops by itself");
    let error = outcome.expect_err("run reports the failure");
    let text = format!("{error:#}");
    assert!(text.contains("consumer"), "{text}");
    assert!(text.contains("cannot be subscribed"), "{text}");
    assert!(shutdown.is_cancelled(), "every other task was told to stop");
}
