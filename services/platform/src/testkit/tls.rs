//! A certificate authority of the test's own: certificates for `localhost` and 127.0.0.1 (a
//! server) or for a name (a client), written as PEM files into a folder that lives as long
//! as the CA, so that tests make real TLS handshakes without any certificate in the
//! repository.

use std::path::PathBuf;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA and the folder its files go to.
pub struct TestCa {
    key: KeyPair,
    cert: Certificate,
    dir: tempfile::TempDir,
}

/// A certificate and its key, as PEM text and as files.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_file: String,
    pub key_file: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        let dir = tempfile::tempdir()?;
        Ok(Self { key, cert, dir })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate as a file.
    pub fn ca_file(&self) -> anyhow::Result<String> {
        self.write("ca.crt", &self.ca_pem())
    }

    /// A server certificate for `localhost` and 127.0.0.1, saved as `<stem>.crt`/`.key`.
    pub fn server(&self, stem: &str) -> anyhow::Result<Issued> {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(stem, params)
    }

    /// A client certificate for `name`, saved as `<stem>.crt`/`.key`.
    pub fn client(&self, stem: &str, name: &str) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(stem, params)
    }

    fn issue(&self, stem: &str, params: CertificateParams) -> anyhow::Result<Issued> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        Ok(Issued {
            cert_file: self.write(&format!("{stem}.crt"), &cert_pem)?,
            key_file: self.write(&format!("{stem}.key"), &key_pem)?,
            cert_pem,
            key_pem,
        })
    }

    /// Writes `text` to `name` in the CA's folder; the path.
    pub fn write(&self, name: &str, text: &str) -> anyhow::Result<String> {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path.to_string_lossy().into_owned())
    }
}
