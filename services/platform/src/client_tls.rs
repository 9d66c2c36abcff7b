//! TLS of a client of the services' gRPC port, from PEM files: the CA to check the server's
//! certificate against, the name to check it for, and a client certificate for mutual TLS.
//! `spontan-probe` and the `spontan` CLI read their files here, so both accept the same
//! files and both say which file is wrong before they connect.

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Where a client's TLS settings come from; every part optional.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsFiles {
    /// PEM certificates of the CA the server's certificate must chain to.
    pub ca: Option<String>,
    /// The name the server's certificate must carry (else the address's host).
    pub domain: Option<String>,
    /// The client certificate (PEM, leaf first) for mutual TLS; needs `key`.
    pub cert: Option<String>,
    /// The client certificate's private key (PEM); needs `cert`.
    pub key: Option<String>,
}

/// The files read and checked: every certificate file holds a certificate, the key file a
/// key, a certificate comes with its key.
#[derive(Debug, Clone)]
pub struct ClientTls {
    ca_pem: Option<Vec<u8>>,
    domain: Option<String>,
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl ClientTlsFiles {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.domain.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// Reads the files.
    pub fn load(&self) -> anyhow::Result<ClientTls> {
        let ca_pem = match &self.ca {
            Some(path) => {
                let pem = read(path, "CA certificate")?;
                certificates(&pem, path)?;
                Some(pem)
            }
            None => None,
        };
        let identity_pem = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let cert_pem = read(cert, "client certificate")?;
                certificates(&cert_pem, cert)?;
                let key_pem = read(key, "client key")?;
                private_key(&key_pem, key)?;
                Some((cert_pem, key_pem))
            }
            (Some(cert), None) => anyhow::bail!(
                "the client certificate {cert} needs its private key (--tls-key) as well"
            ),
            (None, Some(key)) => {
                anyhow::bail!("the client key {key} needs its certificate (--tls-cert) as well")
            }
            (None, None) => None,
        };
        Ok(ClientTls {
            ca_pem,
            domain: self.domain.clone(),
            identity_pem,
        })
    }
}

impl ClientTls {
    /// The name the server's certificate is checked for, if not the address's host.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Whether a client certificate is shown.
    pub fn has_identity(&self) -> bool {
        self.identity_pem.is_some()
    }

    /// tonic's configuration (HTTP/2, native gRPC). The server's certificate must chain to
    /// the CA file, or, without one, to `default_roots` (the CLI passes the webpki roots).
    pub fn tonic(
        &self,
        default_roots: impl IntoIterator<Item = TrustAnchor<'static>>,
    ) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.trust_anchors(default_roots),
        };
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        if let Some((cert, key)) = &self.identity_pem {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }

    /// The same as a rustls configuration (ring, TLS 1.2 and 1.3), for clients that are not
    /// tonic's channel (gRPC-Web over HTTP/1.1). ALPN and the name are the caller's.
    pub fn rustls(
        &self,
        default_roots: impl IntoIterator<Item = TrustAnchor<'static>>,
    ) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                for cert in certificates(pem, "the CA file")? {
                    roots
                        .add(cert)
                        .context("the CA certificate is not usable")?;
                }
            }
            None => roots.extend(default_roots),
        }
        let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots);
        Ok(match &self.identity_pem {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    certificates(cert, "the client certificate")?,
                    private_key(key, "the client key")?,
                )
                .context("the client certificate and key do not match")?,
            None => builder.with_no_client_auth(),
        })
    }
}

fn read(path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {path}"))
}

fn certificates(pem: &[u8], path: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{path} is not PEM"))?;
    anyhow::ensure!(!certs.is_empty(), "no PEM certificate in {path}");
    Ok(certs)
}

fn private_key(pem: &[u8], path: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).with_context(|| format!("no PEM private key in {path}"))
}
