//! Reading the certificate chain and private key from their PEM files, with errors that name
//! the file, its setting, and what is wrong with it.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

use super::TlsSettings;

/// Which of the two files a problem is about; displays as the setting that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Certificate,
    PrivateKey,
}

impl std::fmt::Display for TlsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Certificate => "tls_cert_file (CLAVIS_TLS_CERT_FILE)",
            Self::PrivateKey => "tls_key_file (CLAVIS_TLS_KEY_FILE)",
        })
    }
}

/// Why the certificate and key cannot be served. One line, naming the setting and the file;
/// never any key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("{file} {}: no such file", .path.display())]
    Missing { file: TlsFile, path: PathBuf },
    #[error("{file} {}: not readable: {reason}", .path.display())]
    Unreadable {
        file: TlsFile,
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{file} {}: not PEM ({reason})", .path.display())]
    NotPem {
        file: TlsFile,
        path: PathBuf,
        reason: &'static str,
    },
    #[error("{} {}: holds no certificate", TlsFile::Certificate, .path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} {}: holds no private key (PKCS#8, PKCS#1 or SEC1, unencrypted)", TlsFile::PrivateKey, .path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{} {}: the private key cannot sign TLS handshakes: {reason}", TlsFile::PrivateKey, .path.display())]
    UnusableKey {
        path: PathBuf,
        reason: rustls::Error,
    },
    #[error("{} {}: the first certificate cannot be parsed as X.509: {reason}", TlsFile::Certificate, .path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error(
        "{} {}: the key does not match the certificate in {}",
        TlsFile::PrivateKey,
        .key.display(),
        .cert.display()
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },
}

/// The two files' contents as read, identified by a digest so a later read can tell whether
/// they changed without keeping the key's bytes around.
pub struct FilesRead {
    chain: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    pub digest: [u8; 32],
}

/// Reads both files; fails on the first one that is missing or unreadable.
pub fn read(settings: &TlsSettings) -> Result<FilesRead, TlsFileError> {
    let chain = read_file(TlsFile::Certificate, &settings.cert_file)?;
    let key = Zeroizing::new(read_file(TlsFile::PrivateKey, &settings.key_file)?);
    let mut hasher = Sha256::new();
    hasher.update((chain.len() as u64).to_be_bytes());
    hasher.update(&chain);
    hasher.update(&*key);
    Ok(FilesRead {
        chain,
        key,
        digest: hasher.finalize().into(),
    })
}

fn read_file(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|reason| match reason.kind() {
        std::io::ErrorKind::NotFound => TlsFileError::Missing {
            file,
            path: path.to_owned(),
        },
        _ => TlsFileError::Unreadable {
            file,
            path: path.to_owned(),
            reason,
        },
    })
}

/// The certificate chain (end-entity first, as RFC 8446 §4.4.2 orders it) and the private key
/// that matches it, ready for handshakes.
fn certified_key(
    settings: &TlsSettings,
    read: &FilesRead,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsFileError> {
    let chain = parse_chain(&settings.cert_file, &read.chain)?;
    let key = parse_key(&settings.key_file, &read.key)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|reason| match reason {
        rustls::Error::InconsistentKeys(_) => TlsFileError::KeyMismatch {
            key: settings.key_file.clone(),
            cert: settings.cert_file.clone(),
        },
        reason => TlsFileError::UnusableKey {
            path: settings.key_file.clone(),
            reason,
        },
    })
}

fn parse_chain(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let chain = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(TlsFile::Certificate, path, bytes, &e))?;
    if chain.is_empty() {
        return Err(match looks_like_pem(bytes) {
            true => TlsFileError::NoCertificate {
                path: path.to_owned(),
            },
            false => not_pem(TlsFile::Certificate, path, bytes, &pem::Error::NoItemsFound),
        });
    }
    Ok(chain)
}

fn parse_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound if looks_like_pem(bytes) => TlsFileError::NoPrivateKey {
            path: path.to_owned(),
        },
        e => not_pem(TlsFile::PrivateKey, path, bytes, &e),
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|window| window == b"-----BEGIN ")
}

/// Says what is wrong in words an operator can act on; the PEM parser's own messages quote
/// raw bytes, which could be key material.
fn not_pem(file: TlsFile, path: &Path, bytes: &[u8], error: &pem::Error) -> TlsFileError {
    let reason = match error {
        _ if !looks_like_pem(bytes) => "no -----BEGIN line; convert DER with openssl",
        pem::Error::MissingSectionEnd { .. } => "a section has no -----END line; cut short?",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "a -----BEGIN line is malformed",
    };
    TlsFileError::NotPem {
        file,
        path: path.to_owned(),
        reason,
    }
}

/// The certificate Clavis presents: the chain and key, and when the certificate expires.
pub struct LoadedCertificate {
    pub certified_key: Arc<CertifiedKey>,
    /// The end-entity certificate's notAfter (RFC 5280 §4.1.2.5).
    pub not_after: chrono::DateTime<chrono::Utc>,
    /// Its serial number, in hex, for the logs.
    pub serial: String,
}

/// Reads, parses and checks both files.
pub fn load(
    settings: &TlsSettings,
    read: &FilesRead,
    provider: &CryptoProvider,
) -> Result<LoadedCertificate, TlsFileError> {
    let certified_key = certified_key(settings, read, provider)?;
    let bad_certificate = |reason: String| TlsFileError::BadCertificate {
        path: settings.cert_file.clone(),
        reason,
    };
    let end_entity = certified_key
        .end_entity_cert()
        .map_err(|e| bad_certificate(e.to_string()))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(end_entity)
        .map_err(|e| bad_certificate(e.to_string()))?;
    let not_after = chrono::DateTime::from_timestamp(parsed.validity().not_after.timestamp(), 0)
        .ok_or_else(|| bad_certificate("notAfter is out of range".to_owned()))?;
    let serial = parsed.raw_serial_as_string();
    Ok(LoadedCertificate {
        certified_key: Arc::new(certified_key),
        not_after,
        serial,
    })
}
