//! A certificate authority made on the spot, and certificates it signs: what
//! the main job and the tests use so every link runs TLS without a hospital's
//! PKI. A hospital brings its own authority instead (docs/node.md, "Transport
//! security"); nothing else in the project depends on where a certificate
//! came from.

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::TlsError;
use crate::files::write_private;

/// A certificate authority with its signing key in memory.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
}

/// A certificate chain (the certificate, then the authority's) and its
/// private key, in PEM.
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: zeroize::Zeroizing<String>,
}

/// The files a certificate was written to.
#[derive(Clone, Debug)]
pub struct IdentityFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

fn refused(e: rcgen::Error) -> TlsError {
    TlsError::Config(format!("cannot make a certificate: {e}"))
}

/// From the start of last year to the start of the year after next: long
/// enough for a run or a test, short enough that a leaked run CA expires.
fn validity(params: &mut CertificateParams) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let year = 1970 + (seconds / 31_556_952) as i32;
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 2, 1, 1);
}

impl Authority {
    /// A new authority named `name` (the organisation in its subject).
    pub fn new(name: &str) -> Result<Authority, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(refused)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::OrganizationName, name);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let key = KeyPair::generate().map_err(refused)?;
        let certificate = params.self_signed(&key).map_err(refused)?;
        Ok(Authority {
            certificate_pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// A certificate for `name` valid for the host names and IP addresses in
    /// `hosts`, usable both to serve and to authenticate as a client (a
    /// service is both: the gateway serves browsers and calls its node).
    pub fn issue(&self, name: &str, hosts: &[&str]) -> Result<Issued, TlsError> {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let mut params = CertificateParams::new(hosts).map_err(refused)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params);
        let key = KeyPair::generate().map_err(refused)?;
        let certificate = params.signed_by(&key, &self.issuer).map_err(refused)?;
        Ok(Issued {
            // The chain up to the authority, as servers send it: a client
            // that pins the authority's key (a browser told so) finds it.
            certificate_pem: format!("{}{}", certificate.pem(), self.certificate_pem),
            key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
        })
    }

    /// Writes the authority's certificate (never its key) to `path`.
    pub fn write_certificate(&self, path: &Path) -> Result<(), TlsError> {
        std::fs::write(path, &self.certificate_pem).map_err(|e| TlsError::Read {
            what: "certificate authority",
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        })
    }
}

impl Issued {
    /// Writes `<dir>/<name>.pem` and `<dir>/<name>.key` (the key readable by
    /// its owner only).
    pub fn write(&self, dir: &Path, name: &str) -> Result<IdentityFiles, TlsError> {
        let files = IdentityFiles {
            certificate: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        let cannot = |path: &Path, e: String| TlsError::Read {
            what: "certificate",
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        };
        std::fs::write(&files.certificate, &self.certificate_pem)
            .map_err(|e| cannot(&files.certificate, e.to_string()))?;
        write_private(&files.key, self.key_pem.as_bytes())
            .map_err(|e| cannot(&files.key, e.to_string()))?;
        Ok(files)
    }
}
