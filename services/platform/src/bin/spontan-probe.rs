//! `spontan-probe HOST:PORT [--service NAME] [--wait SECONDS]`: asks a service's
//! `grpc.health.v1` endpoint whether it is SERVING. Exits 0 if so, 1 if not. With `--wait` it
//! polls until SERVING or the time is up (what the local scripts use after starting services).

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
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--service" => service = args.next().unwrap_or_default(),
            "--wait" => wait = args.next().and_then(|s| s.parse().ok()).unwrap_or(30),
            "-h" | "--help" => {
                println!("usage: spontan-probe HOST:PORT [--service NAME] [--wait SECONDS]");
                return Ok(());
            }
            other => address = Some(other.to_owned()),
        }
    }
    let address = address.ok_or_else(|| anyhow::anyhow!("usage: spontan-probe HOST:PORT"))?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let status = check(&address, &service).await;
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

async fn check(address: &str, service: &str) -> anyhow::Result<ServingStatus> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let mut client = HealthClient::new(endpoint.connect().await?);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}
