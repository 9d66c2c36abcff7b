//! `spontan-probe HOST:PORT [--service NAME] [--wait SECONDS] [--tls-ca FILE]
//! [--tls-domain NAME] [--tls-cert FILE --tls-key FILE]`: asks a service's `grpc.health.v1`
//! endpoint whether it is SERVING. Exits 0 if so, 1 if not. With `--wait` it polls until
//! SERVING or the time is up (what the local scripts use after starting services). With
//! `--tls-ca` it speaks TLS, checking the server's certificate for `--tls-domain` (default
//! `localhost`), and with `--tls-cert`/`--tls-key` it shows a client certificate: what a
//! Kubernetes exec probe needs when the gRPC port requires TLS (`grpc.tls`).
//!
//! Without any `--tls-*` flag it follows the service's own configuration in its
//! environment, so that the image's `HEALTHCHECK` works whether or not the port speaks TLS:
//! when `SPONTAN_GRPC__TLS__CERT_FILE` is set it speaks TLS, shows that certificate (with
//! `…__KEY_FILE`) as its client certificate, and checks that the server's certificate chains
//! to the CA of `…__CLIENT_CA_FILE` or to a CA certificate that follows the leaf in
//! `…__CERT_FILE`. It does not check the name: it asks its own container, on the address it
//! is given, with the server's own files.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use spontan_platform::client_tls::ClientTlsFiles;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The service's TLS settings (`grpc.tls`, docs/configuration.md).
const CERT_FILE: &str = "SPONTAN_GRPC__TLS__CERT_FILE";
const KEY_FILE: &str = "SPONTAN_GRPC__TLS__KEY_FILE";
const CLIENT_CA_FILE: &str = "SPONTAN_GRPC__TLS__CLIENT_CA_FILE";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut address = None;
    let mut service = String::new();
    let mut wait = 0u64;
    let mut flags = ClientTlsFiles::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--service" => service = args.next().unwrap_or_default(),
            "--wait" => wait = args.next().and_then(|s| s.parse().ok()).unwrap_or(30),
            "--tls-ca" => flags.ca = args.next(),
            "--tls-domain" => flags.domain = args.next(),
            "--tls-cert" => flags.cert = args.next(),
            "--tls-key" => flags.key = args.next(),
            "-h" | "--help" => {
                println!(
                    "usage: spontan-probe HOST:PORT [--service NAME] [--wait SECONDS] \
                     [--tls-ca FILE] [--tls-domain NAME] [--tls-cert FILE --tls-key FILE]\n\
                     Without --tls-* flags: TLS when {CERT_FILE} is set (the service's own \
                     certificate, checked against {CLIENT_CA_FILE})."
                );
                return Ok(());
            }
            other => address = Some(other.to_owned()),
        }
    }
    let address = address.ok_or_else(|| anyhow::anyhow!("usage: spontan-probe HOST:PORT"))?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        // The files are read on every attempt: while waiting, they may appear or change.
        let status = match endpoint(&address, &flags) {
            Ok(endpoint) => check(endpoint, &service)
                .await
                .map_err(|error| anyhow::anyhow!("unreachable ({error:#})")),
            Err(error) => Err(error),
        };
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
                println!("{address} {service}: {error:#}");
                std::process::exit(1);
            }
        }
    }
}

/// Plain text, TLS as the flags say, or TLS as the service's environment says.
fn endpoint(address: &str, flags: &ClientTlsFiles) -> anyhow::Result<Endpoint> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let scheme = if flags.is_empty() && env(CERT_FILE).is_none() {
        "http"
    } else {
        "https"
    };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    if !flags.is_empty() {
        anyhow::ensure!(
            flags.ca.is_some(),
            "--tls-domain, --tls-cert and --tls-key need --tls-ca"
        );
        let domain = flags
            .domain
            .clone()
            .unwrap_or_else(|| "localhost".to_owned());
        let tls = ClientTlsFiles {
            domain: Some(domain),
            ..flags.clone()
        }
        .load()?;
        return Ok(endpoint.tls_config(tls.tonic([]))?);
    }
    let Some(cert) = env(CERT_FILE) else {
        return Ok(endpoint);
    };
    let identity = ClientTlsFiles {
        cert: Some(cert.clone()),
        key: env(KEY_FILE),
        ..ClientTlsFiles::default()
    }
    .load()
    .with_context(|| format!("{CERT_FILE} and {KEY_FILE}"))?;
    let verifier = ChainOnly::new(env(CLIENT_CA_FILE).as_deref(), &cert)?;
    Ok(endpoint.tls_config_with_verifier(identity.tonic([]), Arc::new(verifier))?)
}

async fn check(endpoint: Endpoint, service: &str) -> anyhow::Result<ServingStatus> {
    let mut client = HealthClient::new(endpoint.connect().await?);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

/// Checks that the server's certificate chains to one of the roots, and not its name.
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl ChainOnly {
    /// The roots: the certificates of `ca_file`, and those after the first in `cert_file`
    /// (a chain file whose issuers follow the leaf).
    fn new(ca_file: Option<&str>, cert_file: &str) -> anyhow::Result<Self> {
        let read = |path: &str| -> anyhow::Result<Vec<CertificateDer<'static>>> {
            CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read {path}"))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("certificates in {path}"))
        };
        let mut roots = RootCertStore::empty();
        let ca = ca_file.map(read).transpose()?.unwrap_or_default();
        let issuers = read(cert_file)?.into_iter().skip(1);
        for cert in ca.into_iter().chain(issuers) {
            roots.add(cert).context("a CA certificate is not usable")?;
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "no CA to check the server's certificate against: set {CLIENT_CA_FILE}, \
             or pass --tls-ca and --tls-domain"
        );
        Ok(Self {
            roots,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        })
    }
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
