//! The CA certificates that issue client certificates for `tls_client_auth` (RFC 8705
//! §2.1), from `CLAVIS_MTLS_CA_FILE`, and the check of a presented chain against them.
//!
//! The chain is checked per request rather than in the handshake, so the same handshake
//! also accepts the self-signed certificates of `self_signed_tls_client_auth`, and a chain
//! forwarded by a proxy (RFC 9440) is checked the same way. rustls's webpki verifier does the
//! work: path building to a configured CA, signatures, validity times, and the clientAuth
//! extended key usage when the certificate states usages.

use chrono::{DateTime, Utc};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use std::path::Path;
use std::sync::Arc;

/// Why a presented chain does not lead to a configured CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainRefusal {
    /// The certificate's `notAfter` (or an intermediate's) has passed.
    Expired,
    /// The certificate's `notBefore` (or an intermediate's) has not come.
    NotYetValid,
    /// The certificate is not for client authentication: its extended key usage names
    /// others only (a server certificate, say).
    WrongPurpose,
    /// The chain leads to no configured CA, or does not verify.
    Untrusted,
}

/// The configured client CAs, ready to verify chains.
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCa")
    }
}

impl ClientCa {
    /// Reads every certificate of the PEM file at `path`.
    ///
    /// # Errors
    /// A sentence naming the setting and the file: unreadable, not PEM, holding no
    /// certificate, or holding one webpki cannot use as a trust anchor.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let named = || format!("mtls_ca_file (CLAVIS_MTLS_CA_FILE) {}", path.display());
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| anyhow::anyhow!("{}: {error}", named()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| anyhow::anyhow!("{}: not PEM: {error}", named()))?;
        if certificates.is_empty() {
            anyhow::bail!("{}: holds no PEM certificate", named());
        }
        let mut roots = RootCertStore::empty();
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| anyhow::anyhow!("{}: {error}", named()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|error| anyhow::anyhow!("{}: {error}", named()))?;
        Ok(Self { verifier })
    }

    /// Whether `end_entity`, with the `intermediates` the client sent, chains to a configured
    /// CA at `now`.
    ///
    /// # Errors
    /// The [`ChainRefusal`] saying why not.
    pub fn verify(
        &self,
        end_entity: &[u8],
        intermediates: &[Vec<u8>],
        now: DateTime<Utc>,
    ) -> Result<(), ChainRefusal> {
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let seconds = u64::try_from(now.timestamp()).unwrap_or_default();
        self.verifier
            .verify_client_cert(
                &CertificateDer::from(end_entity),
                &intermediates,
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
            )
            .map(|_| ())
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
                | rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
                    ..
                }) => ChainRefusal::Expired,
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet)
                | rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidYetContext { .. },
                ) => ChainRefusal::NotYetValid,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::InvalidPurpose
                    | rustls::CertificateError::InvalidPurposeContext { .. },
                ) => ChainRefusal::WrongPurpose,
                _ => ChainRefusal::Untrusted,
            })
    }
}
