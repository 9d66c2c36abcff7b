//! TLS on the gRPC port with real handshakes against certificates of the test's own CA: a
//! client that trusts the CA is served, a plain-text client and one trusting another CA are
//! not; with client certificates required, only a client holding one from the configured CA
//! gets an answer. A bad certificate file stops the start with a clear problem.

use std::time::Duration;

use spontan_platform::config::{GrpcTlsConfig, PlatformConfig, Validate};
use spontan_platform::service::Platform;
use spontan_platform::testkit::tls::TestCa;
use spontan_platform::testkit::{self, TestBroker};
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

static NO_SERVICE_MIGRATIONS: Migrator = Migrator::DEFAULT;

/// A running skeleton service with `tls`; its address. Stops when the token is dropped.
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

/// Asks the health service over `endpoint`; any answer means the handshake and the call
/// went through.
async fn answered(endpoint: Endpoint) -> Result<(), String> {
    let endpoint = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

fn https(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(tls.domain_name("localhost"))
        .expect("tls config")
}

fn trusting(ca: &TestCa) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.ca_pem()))
}

#[tokio::test]
async fn the_grpc_port_speaks_tls_to_clients_that_trust_its_ca_only() {
    let ca = TestCa::new("Spontan test CA").expect("ca");
    let server = ca.server("grpc").expect("server certificate");
    let (addr, _stop) = serve(GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: server.key_file.clone(),
        client_ca_file: String::new(),
    })
    .await;

    answered(https(addr, trusting(&ca)))
        .await
        .expect("a client trusting the CA is served");
    let plain = Endpoint::from_shared(format!("http://{addr}")).expect("endpoint");
    assert!(
        answered(plain).await.is_err(),
        "plain text is not answered on a TLS port"
    );
    let stranger = TestCa::new("another CA").expect("ca");
    assert!(
        answered(https(addr, trusting(&stranger))).await.is_err(),
        "a client that does not trust the server's CA refuses it"
    );
}

#[tokio::test]
async fn with_client_certificates_required_only_holders_from_the_client_ca_get_in() {
    let ca = TestCa::new("server CA").expect("ca");
    let server = ca.server("grpc").expect("server certificate");
    let clients = TestCa::new("client CA").expect("client ca");
    let (addr, _stop) = serve(GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: server.key_file.clone(),
        client_ca_file: clients.ca_file().expect("client ca file"),
    })
    .await;

    let ingress = clients
        .client("ingress", "ingress-nginx")
        .expect("client cert");
    let identity = Identity::from_pem(&ingress.cert_pem, &ingress.key_pem);
    answered(https(addr, trusting(&ca).identity(identity)))
        .await
        .expect("a client with a certificate from the client CA is served");
    assert!(
        answered(https(addr, trusting(&ca))).await.is_err(),
        "a client without a certificate is refused"
    );
    let intruder = ca
        .client("intruder", "intruder")
        .expect("cert of the wrong CA");
    let wrong = Identity::from_pem(&intruder.cert_pem, &intruder.key_pem);
    assert!(
        answered(https(addr, trusting(&ca).identity(wrong)))
            .await
            .is_err(),
        "a certificate of another CA is refused"
    );
}

#[test]
fn tls_files_that_do_not_load_are_a_configuration_problem() {
    let ca = TestCa::new("CA").expect("ca");
    let server = ca.server("grpc").expect("server certificate");
    let other = ca.server("other").expect("another certificate");
    let problems = |tls: GrpcTlsConfig| {
        let mut config = PlatformConfig::local_defaults("tls", 0, 0);
        config.grpc.tls = tls;
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems.join("; ")
    };
    let mismatched = problems(GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: other.key_file.clone(),
        client_ca_file: String::new(),
    });
    assert!(mismatched.contains("do not match"), "{mismatched}");
    let missing = problems(GrpcTlsConfig {
        cert_file: "/nonexistent/tls.crt".into(),
        key_file: server.key_file.clone(),
        client_ca_file: String::new(),
    });
    assert!(missing.contains("/nonexistent/tls.crt"), "{missing}");
    let half = problems(GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: String::new(),
        client_ca_file: String::new(),
    });
    assert!(half.contains("go together"), "{half}");
    let plain = problems(GrpcTlsConfig::default());
    assert!(!plain.contains("grpc.tls"), "no TLS is no problem: {plain}");
}
