//! TLS to PostgreSQL from configuration, against a private cluster that takes TCP connections
//! over TLS only, with a certificate of the test's own CA: `verify-full` with that CA
//! connects (and the server sees an encrypted connection), a client trusting another CA is
//! refused, and `disable` finds no way in.

use spontan_platform::config::{DatabaseConfig, Secret};
use spontan_platform::testkit::postgres::PrivateCluster;
use spontan_platform::testkit::tls::TestCa;

fn config(url: &str, ssl_mode: &str, ssl_root_cert: &str) -> DatabaseConfig {
    DatabaseConfig {
        url: Secret::new(url.to_owned()),
        max_connections: 1,
        acquire_timeout_ms: 5_000,
        statement_timeout_ms: 0,
        ssl_mode: ssl_mode.to_owned(),
        ssl_root_cert: ssl_root_cert.to_owned(),
    }
}

/// Whether the pool's connection is encrypted, as the server sees it.
async fn encrypted(config: &DatabaseConfig) -> Result<bool, sqlx::Error> {
    let pool = spontan_platform::db::pool(config)?;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(ssl)
}

#[tokio::test]
async fn the_database_is_reached_over_verified_tls_only() {
    let ca = TestCa::new("database CA").expect("ca");
    let cluster = PrivateCluster::start_tls_only(&ca).expect("private PostgreSQL with TLS");
    // localhost, as the certificate names it: verify-full checks the host name.
    let url = format!("postgres://postgres@localhost:{}/postgres", cluster.port);
    let ca_file = ca.ca_file().expect("ca file");

    let verified = encrypted(&config(&url, "verify-full", &ca_file))
        .await
        .expect("verify-full with the server's CA connects");
    assert!(verified, "the server sees an encrypted connection");

    let stranger = TestCa::new("another CA").expect("ca");
    let wrong_ca = stranger.ca_file().expect("ca file");
    let refused = encrypted(&config(&url, "verify-full", &wrong_ca)).await;
    assert!(refused.is_err(), "a certificate of another CA is refused");

    let plain = encrypted(&config(&cluster.url(), "disable", "")).await;
    assert!(
        plain.is_err(),
        "the server takes no plain-text TCP connection"
    );
}
