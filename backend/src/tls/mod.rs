//! HTTPS served by Clavis itself (issue 14 §1): rustls with the aws-lc-rs provider, TLS 1.3
//! and 1.2 only, HTTP/2 and HTTP/1.1 by ALPN.
//!
//! The certificate is renewed without a restart: every handshake asks [`CurrentCertificate`]
//! for the certificate, and [`ServedCertificate::keep_current`] swaps in the renewed one on
//! SIGHUP or when the files change. Connections already open keep the certificate they were
//! established with, so none is dropped. A renewal that cannot be loaded leaves the previous
//! certificate in service and is logged with the file and the problem.

mod client_ca;
mod client_certificate;
mod expiry;
mod files;
pub mod subject;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::Signal;

pub use client_ca::{ChainRefusal, ClientCa};
pub use client_certificate::{PresentedChain, keep_presented_chain};
pub use files::{TlsFile, TlsFileError};

/// What this Clavis can check of client certificates (mutual TLS, RFC 8705), as those who
/// set an application's client authentication need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutualTlsReach {
    /// Client certificates reach Clavis: through its own TLS, or from proxies sending
    /// `Client-Cert`.
    pub sees_certificates: bool,
    /// CA certificates for `tls_client_auth` are configured (`CLAVIS_MTLS_CA_FILE`).
    pub ca_configured: bool,
}

impl MutualTlsReach {
    /// `settings` with what this Clavis can check.
    pub fn describe(
        self,
        settings: clavis_shared::client_auth::SetClientAuthentication,
    ) -> clavis_shared::client_auth::ClientAuthentication {
        clavis_shared::client_auth::ClientAuthentication {
            settings,
            mutual_tls: self.sees_certificates,
            tls_client_auth_ca: self.ca_configured,
        }
    }
}

/// The certificate and private key Clavis serves HTTPS with (PEM files, re-read on renewal).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The certificate, optionally followed by its chain.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// How often the files are read to see whether they were renewed.
///
/// Reading them is chosen over file-system notifications (`notify`) because it sees every way a
/// renewal replaces files alike: certbot re-pointing the symlinks in `live/`, Kubernetes
/// swapping the `..data` symlink of a mounted Secret, an editor or `cp` writing in place, and
/// network file systems that send no notifications at all. It costs two small reads and a
/// SHA-256 every few seconds; a renewal is served at most this late (SIGHUP is immediate).
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How often the expiry warning is repeated while it applies.
const WARNING_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The certificate handed to each new TLS handshake; swapped when the files are renewed.
pub struct CurrentCertificate(ArcSwap<CertifiedKey>);

/// Names the type only: the key inside is never printed.
impl std::fmt::Debug for CurrentCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCertificate")
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// What a check last saw in the files, so an unchanged file is not reloaded (nor its problem
/// logged) again on every check.
#[derive(PartialEq, Eq)]
enum Seen {
    /// SHA-256 of both files' contents.
    Contents([u8; 32]),
    Problem(String),
}

/// Why the files are being read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// SIGHUP: reload even if the files look unchanged.
    Hangup,
    /// The periodic check; reloads only when the contents changed.
    Check,
}

/// The certificate and key files, and the certificate loaded from them.
pub struct ServedCertificate {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: Arc<CurrentCertificate>,
    not_after: DateTime<Utc>,
    seen: Seen,
}

impl ServedCertificate {
    /// Loads both files at start-up and warns if the certificate has expired or expires within
    /// 14 days (`expiry::WARN_BEFORE`).
    ///
    /// Errors: a missing or unreadable file, one that is not PEM or holds no certificate or no
    /// private key, or a key that does not match the certificate ([`TlsFileError`], one line).
    pub fn load(settings: &TlsSettings) -> Result<Self, TlsFileError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let read = files::read(settings)?;
        let loaded = files::load(settings, &read, &provider)?;
        tracing::info!(
            cert_file = %settings.cert_file.display(),
            serial = %loaded.serial,
            not_after = %loaded.not_after,
            "serving HTTPS with this certificate"
        );
        expiry::warn_if_due(&settings.cert_file, loaded.not_after, Utc::now());
        Ok(Self {
            settings: settings.clone(),
            provider,
            current: Arc::new(CurrentCertificate(ArcSwap::new(loaded.certified_key))),
            not_after: loaded.not_after,
            seen: Seen::Contents(read.digest),
        })
    }

    /// The rustls settings to serve with: TLS 1.3 and 1.2 only (RFC 8996 deprecates 1.0 and
    /// 1.1), a client certificate asked for but not required (mutual TLS client
    /// authentication, RFC 8705 §2; see [`client_certificate`]), and the current
    /// certificate. actix-http adds the ALPN protocols `h2` and `http/1.1` itself.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let client_certificates = client_certificate::OptionalClientCertificate::new(
            self.provider.signature_verification_algorithms,
        );
        rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the aws-lc-rs provider supports TLS 1.2 and 1.3")
            .with_client_cert_verifier(Arc::new(client_certificates))
            .with_cert_resolver(self.current.clone())
    }

    /// Runs for as long as the server: reloads on SIGHUP (`hangup`, registered before the
    /// server starts so an early signal does not end the process) and when the files change,
    /// and repeats the expiry warning daily.
    pub async fn keep_current(mut self, mut hangup: Signal) {
        let mut check = tokio::time::interval(CHECK_INTERVAL);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut daily = tokio::time::interval_at(
            tokio::time::Instant::now() + WARNING_INTERVAL,
            WARNING_INTERVAL,
        );
        loop {
            tokio::select! {
                Some(()) = hangup.recv() => self.reload(Trigger::Hangup),
                _ = check.tick() => self.reload(Trigger::Check),
                _ = daily.tick() => {
                    expiry::warn_if_due(&self.settings.cert_file, self.not_after, Utc::now());
                }
            }
        }
    }

    /// Reads the files and serves the certificate in them, unless nothing changed since the
    /// last check; a problem, or an expired certificate replacing a valid one, keeps the
    /// certificate served so far and is logged once per change.
    fn reload(&mut self, trigger: Trigger) {
        let read = files::read(&self.settings);
        let seen = match &read {
            Ok(read) => Seen::Contents(read.digest),
            Err(problem) => Seen::Problem(problem.to_string()),
        };
        if trigger == Trigger::Check && seen == self.seen {
            return;
        }
        self.seen = seen;
        let now = Utc::now();
        match read.and_then(|read| files::load(&self.settings, &read, &self.provider)) {
            // A renewal that went wrong (an old backup restored, a failed issuance) must not
            // take down a certificate clients still accept.
            Ok(loaded) if loaded.not_after <= now && self.not_after > now => tracing::error!(
                ?trigger,
                serial = %loaded.serial,
                "the TLS certificate was not reloaded, the previous one is still served: the \
                 certificate in {} expired on {}, and the one served is valid until {}",
                self.settings.cert_file.display(),
                loaded.not_after.format("%Y-%m-%d %H:%M UTC"),
                self.not_after.format("%Y-%m-%d %H:%M UTC")
            ),
            Ok(loaded) => {
                tracing::info!(
                    ?trigger,
                    serial = %loaded.serial,
                    not_after = %loaded.not_after,
                    "reloaded the TLS certificate from {}",
                    self.settings.cert_file.display()
                );
                expiry::warn_if_due(&self.settings.cert_file, loaded.not_after, now);
                self.not_after = loaded.not_after;
                self.current.0.store(loaded.certified_key);
            }
            Err(problem) => tracing::error!(
                ?trigger,
                "the TLS certificate was not reloaded, the previous one is still served: {problem}"
            ),
        }
    }
}
