//! spontan-probe against a TLS port: with flags, and from `SPONTAN_GRPC__TLS__*` alone (the
//! image's HEALTHCHECK, which passes no flags); a missing or foreign CA fails.

use spontan_platform::config::GrpcTlsConfig;
use spontan_platform::service::Platform;
use spontan_platform::testkit::tls::TestCa;
use spontan_platform::testkit::{self, TestBroker};
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

static NO_SERVICE_MIGRATIONS: Migrator = Migrator::DEFAULT;

async fn serve(tls: GrpcTlsConfig) -> (std::net::SocketAddr, tokio_util::sync::DropGuard) {
    testkit::init_logging();
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let database = testkit::fresh_database().await.expect("database");
    let mut config = testkit::platform_config("tls", &database, broker.brokers());
    config.grpc.tls = tls;
    let shutdown = CancellationToken::new();
    let platform = Platform::build("tls", config, &NO_SERVICE_MIGRATIONS, shutdown.clone())
        .await
        .expect("platform");
    let addr = platform.grpc_addr();
    tokio::spawn(platform.run(Routes::default(), &[]));
    (addr, shutdown.drop_guard())
}

async fn probe(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_spontan-probe"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SPONTAN_") {
            command.env_remove(name);
        }
    }
    let out = command
        .envs(env.iter().copied())
        .args(args)
        .output()
        .await
        .expect("probe runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprintln!("probe {args:?} {env:?}: {text}");
    (out.status.success(), text)
}

#[tokio::test]
async fn probe_follows_flags_and_environment() {
    let ca = TestCa::new("CA").expect("ca");
    let both = ca.client("both", "spontan-task").expect("client");
    let srv = ca.server("srv2").expect("server");
    let ca_file = ca.ca_file().expect("ca file");
    let (addr, _stop) = serve(GrpcTlsConfig {
        cert_file: srv.cert_file.clone(),
        key_file: srv.key_file.clone(),
        client_ca_file: ca_file.clone(),
    })
    .await;
    let address = addr.to_string();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    // Flags, as the k8s readiness probe.
    let (ok, text) = probe(
        &[],
        &[
            &address,
            "--wait",
            "10",
            "--tls-ca",
            &ca_file,
            "--tls-cert",
            &both.cert_file,
            "--tls-key",
            &both.key_file,
        ],
    )
    .await;
    assert!(ok, "{text}");
    // Plain text against TLS: fails.
    let (ok, text) = probe(&[], &[&address]).await;
    assert!(!ok, "{text}");
    // Environment: the server's own certificate lacks client auth (TestCa::server is server
    // auth only), so use the client cert as "the service's certificate" files to prove the
    // client side; the CA from CLIENT_CA_FILE.
    let (ok, text) = probe(
        &[
            ("SPONTAN_GRPC__TLS__CERT_FILE", both.cert_file.as_str()),
            ("SPONTAN_GRPC__TLS__KEY_FILE", both.key_file.as_str()),
            ("SPONTAN_GRPC__TLS__CLIENT_CA_FILE", ca_file.as_str()),
        ],
        &[&address],
    )
    .await;
    assert!(ok, "{text}");
    // No CA: a clear message.
    let (ok, text) = probe(
        &[
            ("SPONTAN_GRPC__TLS__CERT_FILE", both.cert_file.as_str()),
            ("SPONTAN_GRPC__TLS__KEY_FILE", both.key_file.as_str()),
        ],
        &[&address],
    )
    .await;
    assert!(!ok && text.contains("no CA"), "{text}");
    // Another CA: refused.
    let other = TestCa::new("other").expect("other");
    let other_ca = other.write("o.crt", &other.ca_pem()).expect("file");
    let (ok, text) = probe(
        &[
            ("SPONTAN_GRPC__TLS__CERT_FILE", both.cert_file.as_str()),
            ("SPONTAN_GRPC__TLS__KEY_FILE", both.key_file.as_str()),
            ("SPONTAN_GRPC__TLS__CLIENT_CA_FILE", other_ca.as_str()),
        ],
        &[&address],
    )
    .await;
    assert!(!ok, "{text}");
    // Flags without --tls-ca.
    let (ok, text) = probe(&[], &[&address, "--tls-domain", "x"]).await;
    assert!(!ok && text.contains("need --tls-ca"), "{text}");
}
