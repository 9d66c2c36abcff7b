//! The `spontan` binary against a task service that serves gRPC over TLS and requires client
//! certificates of its CA, as in the cluster (docs/operations.md, "gRPC over TLS inside the
//! cluster"), reached as through a port-forward: `https://127.0.0.1:<port>` with the name to
//! check. With the CA and a client certificate of it, commands work, over native gRPC and
//! over gRPC-Web (what the ingress passes on), from flags or from `SPONTAN_TLS_*`; without
//! the client certificate, with a client certificate of another CA, or trusting another CA,
//! they fail with a sentence that says so. Files that cannot be used are refused before any
//! connection.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use spontan_e2e::Suite;
use spontan_platform::auth::Role;
use spontan_platform::client_tls::ClientTlsFiles;
use spontan_platform::config::GrpcTlsConfig;
use spontan_platform::testkit::TestBroker;
use spontan_platform::testkit::tls::TestCa;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const ORG: &str = "thw-ov-ahrweiler";

/// Runs `spontan` with `env` and `args`; nothing else from the environment leaks in.
async fn spontan(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_spontan"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SPONTAN_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().copied())
        .args(args)
        .output()
        .await
        .expect("spontan runs")
}

fn stdout(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "spontan failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The error a failed run printed.
fn refused(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "spontan should have failed: {stderr}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    eprintln!("refused as expected: {stderr}");
    stderr
}

/// Waits until the task service answers its health check over TLS as a client of `ca`.
async fn wait_serving(address: &str, ca: &str, cert: &str, key: &str) {
    let tls = ClientTlsFiles {
        ca: Some(ca.to_owned()),
        domain: Some("localhost".to_owned()),
        cert: Some(cert.to_owned()),
        key: Some(key.to_owned()),
    }
    .load()
    .expect("client TLS files");
    let endpoint = Endpoint::from_shared(address.to_owned())
        .expect("endpoint")
        .tls_config(tls.tonic([]))
        .expect("TLS configuration")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = async {
            let mut client = HealthClient::new(endpoint.connect().await?);
            let request = HealthCheckRequest {
                service: "spontan.v1.TaskService".to_owned(),
            };
            anyhow::Ok(client.check(request).await?.into_inner().status())
        }
        .await;
        if matches!(status, Ok(ServingStatus::Serving)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task service is not SERVING over TLS: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_cli_speaks_mutual_tls_to_a_service_with_the_ca_and_a_client_certificate() {
    let ca = TestCa::new("Spontan internal CA").expect("ca");
    let server = ca.server("spontan-task").expect("server certificate");
    let ca_file = ca.ca_file().expect("ca file");
    let operator = ca
        .client("operator", "operator")
        .expect("client certificate");
    let stranger = TestCa::new("another CA").expect("another ca");
    let stranger_ca = stranger
        .write("stranger-ca.crt", &stranger.ca_pem())
        .expect("another ca file");
    let intruder = stranger
        .client("intruder", "intruder")
        .expect("a client certificate of another CA");

    let broker = TestBroker::shared_or_start().await.expect("broker");
    let tls = GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: server.key_file.clone(),
        client_ca_file: ca_file.clone(),
    };
    let suite = Suite::start_with(broker, |config| config.task.platform.grpc.tls = tls)
        .await
        .expect("suite");
    // As through `kubectl port-forward`: the address is 127.0.0.1, the name the certificate's.
    let task = format!("https://127.0.0.1:{}", suite.task.grpc.port());
    wait_serving(&task, &ca_file, &operator.cert_file, &operator.key_file).await;
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-7", Some(ORG));

    let trusted = [
        "--task",
        task.as_str(),
        "--tls-ca",
        ca_file.as_str(),
        "--tls-domain",
        "localhost",
        "--token",
        coordinator.as_str(),
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        trusted
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    let client_cert = [
        "--tls-cert",
        operator.cert_file.as_str(),
        "--tls-key",
        operator.key_file.as_str(),
    ];
    let open = [
        "--json",
        "incident",
        "open",
        "--name",
        "Hochwasser Ahr",
        "--organisation",
        ORG,
        "--lat",
        "50.5427",
        "--lon",
        "7.1125",
        "--radius-km",
        "25",
    ];

    // The CA and a client certificate of it: native gRPC over mutual TLS.
    let mut args = with(&[]);
    args.extend(client_cert);
    args.extend(open);
    let opened: Value =
        serde_json::from_str(&stdout(&spontan(&[], &args).await)).expect("JSON output");
    let incident = opened[0]["incident_id"]
        .as_str()
        .expect("incident id")
        .to_owned();

    // The same from the environment, over gRPC-Web (HTTP/1.1), as through the ingress.
    let env = [
        ("SPONTAN_TASK_ADDR", task.as_str()),
        ("SPONTAN_TLS_CA", ca_file.as_str()),
        ("SPONTAN_TLS_DOMAIN", "localhost"),
        ("SPONTAN_TLS_CERT", operator.cert_file.as_str()),
        ("SPONTAN_TLS_KEY", operator.key_file.as_str()),
        ("SPONTAN_TOKEN", coordinator.as_str()),
        ("SPONTAN_GRPC_WEB", "true"),
    ];
    let listed: Value = serde_json::from_str(&stdout(
        &spontan(&env, &["--json", "incident", "list"]).await,
    ))
    .expect("JSON output");
    assert!(
        listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|i| i["incident_id"] == incident.as_str()),
        "{listed}"
    );

    // Without a client certificate the service refuses the handshake, on either transport.
    for extra in [
        &["incident", "list"][..],
        &["--grpc-web", "incident", "list"][..],
    ] {
        let error = refused(&spontan(&[], &with(extra)).await);
        assert!(
            error.contains("certificate") && error.contains(&task),
            "a refusal that names the address and the certificate: {error}"
        );
    }

    // A client certificate of another CA is refused too.
    let mut args = with(&[]);
    args.extend([
        "--tls-cert",
        intruder.cert_file.as_str(),
        "--tls-key",
        intruder.key_file.as_str(),
        "incident",
        "list",
    ]);
    let error = refused(&spontan(&[], &args).await);
    assert!(error.contains("certificate"), "{error}");

    // Trusting another CA, the CLI refuses the service's certificate itself.
    let mut args = vec![
        "--task",
        task.as_str(),
        "--tls-ca",
        stranger_ca.as_str(),
        "--tls-domain",
        "localhost",
        "--token",
        coordinator.as_str(),
    ];
    args.extend(client_cert);
    args.extend(["incident", "list"]);
    let error = refused(&spontan(&[], &args).await);
    assert!(
        error.contains("UnknownIssuer") || error.contains("unknown issuer"),
        "the service's certificate is not trusted: {error}"
    );
    // So does the public roots' check, without --tls-ca: the internal CA is not among them.
    let error = refused(
        &spontan(
            &[],
            &[
                "--task",
                &task,
                "--tls-domain",
                "localhost",
                "--tls-cert",
                &operator.cert_file,
                "--tls-key",
                &operator.key_file,
                "incident",
                "list",
            ],
        )
        .await,
    );
    assert!(error.contains("UnknownIssuer"), "{error}");

    suite.stop().await.expect("stopped");
}

#[tokio::test]
async fn tls_options_that_cannot_be_used_are_refused_before_connecting() {
    let ca = TestCa::new("CA").expect("ca");
    let ca_file = ca.ca_file().expect("ca file");
    let client = ca
        .client("operator", "operator")
        .expect("client certificate");
    // Nothing listens here: every refusal below comes before a connection.
    let address = "https://127.0.0.1:9";

    let missing = refused(
        &spontan(
            &[],
            &[
                "--task",
                address,
                "--tls-ca",
                "/nonexistent/ca.crt",
                "incident",
                "list",
            ],
        )
        .await,
    );
    assert!(
        missing.contains("cannot read the CA certificate /nonexistent/ca.crt"),
        "{missing}"
    );

    let not_pem = ca.write("garbage.crt", "not a certificate").expect("file");
    let garbage = refused(
        &spontan(
            &[],
            &["--task", address, "--tls-ca", &not_pem, "incident", "list"],
        )
        .await,
    );
    assert!(garbage.contains("no PEM certificate in"), "{garbage}");

    // A certificate without its key: clap says which option is missing.
    let half = spontan(
        &[],
        &[
            "--task",
            address,
            "--tls-ca",
            &ca_file,
            "--tls-cert",
            &client.cert_file,
            "incident",
            "list",
        ],
    )
    .await;
    assert!(!half.status.success());
    let half = String::from_utf8_lossy(&half.stderr);
    assert!(half.contains("--tls-key"), "{half}");
    // The same from the environment.
    let half = spontan(
        &[
            ("SPONTAN_TASK_ADDR", address),
            ("SPONTAN_TLS_KEY", client.key_file.as_str()),
        ],
        &["incident", "list"],
    )
    .await;
    assert!(!half.status.success());
    let half = String::from_utf8_lossy(&half.stderr);
    assert!(half.contains("--tls-cert"), "{half}");

    let wrong_key = refused(
        &spontan(
            &[],
            &[
                "--task",
                address,
                "--tls-cert",
                &client.cert_file,
                "--tls-key",
                &client.cert_file,
                "incident",
                "list",
            ],
        )
        .await,
    );
    assert!(wrong_key.contains("no PEM private key in"), "{wrong_key}");

    // TLS options with a plain-text address are a mistake, not a silent downgrade.
    let plain = refused(
        &spontan(
            &[("SPONTAN_TLS_CA", ca_file.as_str())],
            &["--task", "http://127.0.0.1:9", "incident", "list"],
        )
        .await,
    );
    assert!(plain.contains("use an https:// address"), "{plain}");
}
