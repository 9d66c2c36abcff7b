//! `spontan-probe HOST:PORT [--service NAME] [--wait SECONDS] [--tls-ca FILE]
//! [--tls-domain NAME] [--tls-cert FILE --tls-key FILE]`: asks a service's `grpc.health.v1`
//! endpoint whether it is SERVING. Exits 0 if so, 1 if not. With `--wait` it polls until
//! SERVING or the time is up (what the local scripts use after starting services). With
//! `--tls-ca` it speaks TLS, checking the server's certificate for `--tls-domain` (default
//! `localhost`), and with `--tls-cert`/`--tls-key` it shows a client certificate: what a
//! Kubernetes exec probe needs when the gRPC port requires TLS (`grpc.tls`).

use std::time::{Duration, Instant};

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut address = None;
    let mut service = String::new();
    let mut wait = 0u64;
    let mut tls = Tls::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--service" => service = args.next().unwrap_or_default(),
            "--wait" => wait = args.next().and_then(|s| s.parse().ok()).unwrap_or(30),
            "--tls-ca" => tls.ca = args.next(),
            "--tls-domain" => tls.domain = args.next(),
            "--tls-cert" => tls.cert = args.next(),
            "--tls-key" => tls.key = args.next(),
            "-h" | "--help" => {
                println!(
                    "usage: spontan-probe HOST:PORT [--service NAME] [--wait SECONDS] \
                     [--tls-ca FILE] [--tls-domain NAME] [--tls-cert FILE --tls-key FILE]"
                );
                return Ok(());
            }
            other => address = Some(other.to_owned()),
        }
    }
    let address = address.ok_or_else(|| anyhow::anyhow!("usage: spontan-probe HOST:PORT"))?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let status = check(&address, &service, &tls).await;
        match &status {
            Ok(ServingStatus::Serving) => {
                println!("{address} {service}: SERVING");
                return Ok(());
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(250)).await,
            Ok(other) => {
                println!("{address} {service}: {}", other.as_str_name());
                std::process::exit(1);
            }
            Err(error) => {
                println!("{address} {service}: unreachable ({error:#})");
                std::process::exit(1);
            }
        }
    }
}

/// The TLS flags: none, or a CA (and perhaps a client certificate).
#[derive(Default)]
struct Tls {
    ca: Option<String>,
    domain: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

async fn check(address: &str, service: &str, tls: &Tls) -> anyhow::Result<ServingStatus> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let scheme = if tls.ca.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    if let Some(ca) = &tls.ca {
        let domain = tls.domain.clone().unwrap_or_else(|| "localhost".to_owned());
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(ca)?))
            .domain_name(domain);
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            config = config.identity(Identity::from_pem(
                std::fs::read(cert)?,
                std::fs::read(key)?,
            ));
        }
        endpoint = endpoint.tls_config(config)?;
    }
    let mut client = HealthClient::new(endpoint.connect().await?);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}
