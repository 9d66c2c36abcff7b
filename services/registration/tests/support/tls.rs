//! Certificates for the test's receivers: a CA the service is told to trust (its PEM file
//! goes into `alerts.*_ca_file`) and one it is not, each issuing a server certificate for
//! `localhost` and 127.0.0.1, served with tokio-rustls.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use spontan_platform::testkit::tls::TestCa;
use tokio_rustls::TlsAcceptor;

/// A CA and a server certificate it issued.
pub struct Pki {
    /// Kept for its folder, which holds the files below.
    ca: TestCa,
    /// The CA certificate's PEM file, for `alerts.smtp_ca_file` or `webhook_ca_file`.
    pub ca_file: String,
    /// Serves the server certificate.
    pub acceptor: TlsAcceptor,
}

impl Pki {
    /// A new CA named `name` and its server certificate for `localhost` and 127.0.0.1.
    pub fn new(name: &str) -> Pki {
        let ca = TestCa::new(name).expect("ca");
        let ca_file = ca.ca_file().expect("ca file");
        let server = ca.server("server").expect("server certificate");
        let chain = CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate pem");
        let key = PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("key pem");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        Pki {
            ca,
            ca_file,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}
