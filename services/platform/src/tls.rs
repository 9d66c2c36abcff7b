//! TLS for the gRPC port: the server's certificate from PEM files, optionally client
//! certificates (mutual TLS), handshakes accepted concurrently so that a slow client holds
//! up nobody, and the files read again when they change (cert-manager renews certificates
//! in place), so that a service never serves an expired one.
//!
//! ALPN offers `h2` (gRPC) and `http/1.1` (gRPC-Web from a browser or a proxy that speaks
//! HTTP/1.1), as the plain-text port accepts both.

use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::GrpcTlsConfig;

/// How often the certificate files are looked at for a change.
const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them.
const BACKLOG: usize = 128;

/// The server's rustls configuration from the files of `config`.
pub fn server_config(config: &GrpcTlsConfig) -> anyhow::Result<ServerConfig> {
    let chain = CertificateDer::pem_file_iter(&config.cert_file)
        .with_context(|| format!("reading {}", config.cert_file))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("certificates in {}", config.cert_file))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", config.cert_file);
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .with_context(|| format!("private key in {}", config.key_file))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS versions")?;
    let builder = if config.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&config.client_ca_file)
            .with_context(|| format!("reading {}", config.client_ca_file))?
        {
            roots
                .add(cert.with_context(|| format!("certificate in {}", config.client_ca_file))?)
                .context("client CA certificate")?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .context("certificate and key do not match")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

/// The newest modification time of the configured files, to notice a renewal.
fn modified(config: &GrpcTlsConfig) -> Option<SystemTime> {
    [&config.cert_file, &config.key_file, &config.client_ca_file]
        .into_iter()
        .filter(|f| !f.is_empty())
        .filter_map(|f| {
            std::fs::metadata(Path::new(f))
                .and_then(|m| m.modified())
                .ok()
        })
        .max()
}

/// Accepts TCP connections on `listener` and hands out those that completed a handshake,
/// until `shutdown`. Failed handshakes (a plain-text client, an unknown client certificate)
/// are counted and logged, never fatal.
pub fn incoming(
    listener: TcpListener,
    config: GrpcTlsConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio_stream::wrappers::ReceiverStream<io::Result<TlsStream<TcpStream>>>> {
    let current = Arc::new(RwLock::new(Arc::new(server_config(&config)?)));
    tokio::spawn(reload(config, current.clone(), shutdown.clone()));
    let (tx, rx) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = match current.read() {
                Ok(config) => TlsAcceptor::from(config.clone()),
                Err(_) => break,
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(error)) => {
                        metrics::counter!("grpc_tls_handshake_failures_total").increment(1);
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                    }
                    Err(_) => {
                        metrics::counter!("grpc_tls_handshake_failures_total").increment(1);
                        tracing::debug!(%peer, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Reads the files again whenever one of them changed; a renewal that does not parse (a
/// half-written Secret) keeps the previous configuration and is tried again next time.
async fn reload(
    config: GrpcTlsConfig,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    shutdown: CancellationToken,
) {
    let mut seen = modified(&config);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RELOAD_EVERY) => {}
        }
        let now = modified(&config);
        if now == seen {
            continue;
        }
        match server_config(&config) {
            Ok(fresh) => {
                if let Ok(mut slot) = current.write() {
                    *slot = Arc::new(fresh);
                }
                seen = now;
                tracing::info!("gRPC TLS certificate reloaded");
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "gRPC TLS files changed but do not load; keeping the previous certificate"
                );
            }
        }
    }
}
