//! TLS of the alerts' own connections, to the SMTP relay and to the messaging gateway: whom
//! they trust (the webpki roots, plus the PEM file of a private CA when one is configured),
//! which hosts may be reached in clear (loopback only), and how a refused handshake is told
//! apart from an unreachable host.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the trusted roots could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    Empty { path: String },
    #[error("{path} holds a certificate that is not valid as a trust anchor: {source}")]
    Invalid { path: String, source: rustls::Error },
    #[error("tls set-up failed: {0}")]
    Setup(#[from] rustls::Error),
}

/// The certificates of a PEM file of extra roots; none for an empty path.
pub fn extra_roots(path: &str) -> Result<Vec<CertificateDer<'static>>, RootsError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let pem = std::fs::read(path).map_err(|source| RootsError::Read {
        path: path.to_owned(),
        source,
    })?;
    // Blocks that are not certificates (a key pasted by mistake) are skipped; unreadable
    // PEM is not.
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| RootsError::Empty {
            path: path.to_owned(),
        })?;
    if certs.is_empty() {
        return Err(RootsError::Empty {
            path: path.to_owned(),
        });
    }
    // A certificate webpki cannot use as an anchor fails here, at start, not at the first send.
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|source| RootsError::Invalid {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(certs)
}

/// A client configuration (ring, TLS 1.2 and 1.3) that trusts the webpki roots and the
/// certificates of `ca_file` (none when empty).
pub fn client_config(ca_file: &str) -> Result<rustls::ClientConfig, RootsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots(ca_file)? {
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(config)
}

/// Whether `host` (a name, an IP address, or an IPv6 address in brackets) is this machine's
/// loopback: the only place where alerts may travel in clear.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a send failed because the TLS handshake did (an untrusted or mismatched
/// certificate, no common protocol), anywhere in the error's chain. An `std::io::Error`
/// hides the error it carries from `source()` (and connectors wrap one in another), so it is
/// opened by hand.
pub fn is_handshake_failure(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<rustls::Error>() {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => error.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_counts_as_loopback() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.1",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "smtp.example.org",
            "10.0.0.1",
            "0.0.0.0",
            "[::]",
            "localhost.example.org",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        assert!(extra_roots("").expect("no file, no roots").is_empty());
        assert!(matches!(
            extra_roots("/nonexistent/ca.pem"),
            Err(RootsError::Read { .. })
        ));
        let dir = std::env::temp_dir().join(format!("spontan-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("empty.pem");
        std::fs::write(&file, "no certificate here\n").expect("write");
        let found = extra_roots(&file.to_string_lossy());
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert!(matches!(found, Err(RootsError::Empty { .. })), "{found:?}");
    }

    #[test]
    fn a_handshake_failure_is_found_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert!(is_handshake_failure(&io));
        // As hyper-rustls hands it to hyper-util.
        let wrapped = std::io::Error::other(io);
        assert!(is_handshake_failure(&wrapped));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_handshake_failure(&refused));
    }
}
