//! Client authentication with a client_id and a client secret, or with a client assertion
//! signed by one of the client's registered keys ([`super::assertion`]).
//!
//! The stored secret row is read for every request (so deletion, expiry and disabling apply
//! at once, on every instance), by the batching [`CredentialLookup`]. The argon2id check, about 18 ms of CPU, runs only the first
//! time an instance sees a value: afterwards a keyed digest of the value, kept in memory per
//! secret, proves it in microseconds. argon2id work is bounded to one job per core.

use argon2::Block;
use chrono::{DateTime, Utc};
use clavis_shared::client_auth::{CertificateSubject, ClientAuthMethod};
use clavis_shared::validate::ClientId;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::assertion::{self, AssertionVerifier};
pub use super::authentication::{AuthFailure, Credential};
use super::device::{DeviceCredentials, ProvenDevice};
use super::error::OAuthError;
use super::federated::FederatedVerifier;
use super::lookup::CredentialLookup;
use super::mtls::{self, ClientCertificate};
use super::replay::JtiLedger;
use super::request::{AuthMethod, CertificateCredentials, ClientAssertion, ClientCredentials};
use super::throttle::{RetryAfter, Throttle};
use crate::apps::{self, TokenGrant};
use crate::client_keys::{KeyedClient, StoredKey, public_key};
use crate::db::Database;
use crate::devices::{self, StoredDeviceSecret};
use crate::key_sets::{KeySource, RemoteKeySets};
use crate::secrets::hash::{self, SecretHash};
use crate::secrets::{ClientApplication, StoredCredential, value};
use crate::telemetry;
use crate::tls::{self, ChainRefusal, ClientCa};

/// Beyond this many remembered secrets the cache starts over (each entry is ~100 bytes).
const MAX_REMEMBERED: usize = 200_000;
/// Requests allowed to queue for an argon2id slot before new ones are turned away.
const MAX_QUEUED_PER_CORE: usize = 64;
/// The throttle's allowances, as the metrics name them.
const GUESSES: &str = "guesses";
const JUNK: &str = "junk";

/// A client that proved itself, with what the token endpoint needs to know about it.
pub struct AuthenticatedClient {
    pub application: ClientApplication,
    pub credential: Credential,
    pub grants: Vec<TokenGrant>,
    /// When the credential presented stops being valid, if that limits the tokens issued
    /// on it: a federated token's `exp`.
    pub valid_until: Option<DateTime<Utc>>,
    /// The SHA-256 thumbprint of the certificate the client proved itself with over mutual
    /// TLS, which binds its tokens (RFC 8705 §3).
    pub certificate_sha256: Option<String>,
}

/// The outcome of an authentication attempt.
pub enum Outcome {
    /// Boxed: far larger than a refusal, which floods of bad requests return.
    Authenticated(Box<AuthenticatedClient>),
    Refused {
        refusal: AuthFailure,
        error: OAuthError,
    },
}

pub struct ClientAuthenticator {
    /// Keys the digests, so remembered digests are useless outside this process.
    digest_key: Zeroizing<[u8; 32]>,
    remembered: RwLock<HashMap<String, [u8; 32]>>,
    argon2_slots: Semaphore,
    argon2_capacity: usize,
    /// Working memory for argon2id, one buffer per slot, reused.
    argon2_memory: Mutex<Vec<Vec<Block>>>,
    queued: AtomicUsize,
    max_queued: usize,
    lookup: CredentialLookup,
    assertions: AssertionVerifier,
    federated: FederatedVerifier,
    remote_keys: Arc<RemoteKeySets>,
    jtis: JtiLedger,
    /// The CAs of `tls_client_auth` (`CLAVIS_MTLS_CA_FILE`), if configured.
    client_ca: Option<ClientCa>,
    pub throttle: Throttle,
}

impl ClientAuthenticator {
    pub fn new(
        lookup: CredentialLookup,
        assertions: AssertionVerifier,
        remote_keys: Arc<RemoteKeySets>,
        jtis: JtiLedger,
        client_ca: Option<ClientCa>,
        throttle: Throttle,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut digest_key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(digest_key.as_mut());
        Self {
            digest_key,
            remembered: RwLock::new(HashMap::new()),
            argon2_slots: Semaphore::new(cores),
            argon2_capacity: cores,
            argon2_memory: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
            max_queued: cores * MAX_QUEUED_PER_CORE,
            lookup,
            assertions,
            federated: FederatedVerifier::default(),
            remote_keys,
            jtis,
            client_ca,
            throttle,
        }
    }

    /// Whether CA-issued client certificates can be checked (`tls_client_auth`).
    pub fn checks_ca_issued_certificates(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Requests waiting for an argon2id slot now, and checks running now (for the metrics).
    pub fn argon2_load(&self) -> (usize, usize) {
        let running = self.argon2_capacity - self.argon2_slots.available_permits();
        (self.queued.load(Ordering::Relaxed), running)
    }

    /// Checks the credentials presented from `source` (the client's address).
    ///
    /// The order is the throttle's guarantees: a value this instance already proved is
    /// accepted before any throttle (only the fresh row decides); values that cannot be a
    /// guess count only against `source`'s junk allowance; a real guess needs a place in
    /// both the client_id's and `source`'s guess windows, decided the same way whether or
    /// not its secret exists. Throttled requests are answered `429` after the tarpit.
    pub async fn authenticate(
        &self,
        db: &Database,
        credentials: &ClientCredentials,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Outcome, OAuthError> {
        let Some(secret_id) = value::secret_id_of(credentials.secret.expose_secret()) else {
            return self
                .junk(db, credentials, source, AuthFailure::MalformedSecret)
                .await;
        };
        let secret_id = secret_id.to_string();
        let digest = self.digest(credentials.secret.expose_secret());
        if self.is_remembered(&secret_id, &digest) {
            let stored = self.lookup.find(&credentials.client_id, secret_id).await?;
            return match usable(stored, now) {
                Ok(stored) => Ok(authenticated(stored)),
                Err(refusal) => self.junk(db, credentials, source, refusal).await,
            };
        }
        let client_id = &credentials.client_id;
        self.unless_throttled(self.throttle.check_guess(source, client_id), GUESSES)
            .await?;
        let stored = match usable(self.lookup.find(client_id, secret_id).await?, now) {
            Ok(stored) => stored,
            Err(refusal) => return self.junk(db, credentials, source, refusal).await,
        };
        // Reserved only now, so values that cannot be a guess never create or fill a
        // client_id's window (guarantee 2), nor push a real client's window out of the cache.
        let reservation = self
            .unless_throttled(self.throttle.reserve_guess(source, client_id), GUESSES)
            .await?;
        if !self
            .argon2_verify(&credentials.secret, &stored.secret_hash)
            .await?
        {
            reservation.fail();
            return Ok(refused(credentials, AuthFailure::WrongSecret));
        }
        drop(reservation);
        self.remember(&stored.secret_id, digest);
        Ok(authenticated(stored))
    }

    /// Checks a client assertion presented from `source`: `private_key_jwt`, or a
    /// federated token ([`Self::authenticate_federated`]).
    ///
    /// A signature check costs microseconds, so unlike a secret no value is remembered, and
    /// no place is reserved before it: a client sending many good assertions at once is not
    /// guessing. The throttle treats a failed assertion as a failed secret: refused while
    /// the client_id's or `source`'s guess window is full, and counted in both when it fails.
    /// An assertion that is not even a JWT counts against `source`'s junk allowance only.
    pub async fn authenticate_assertion(
        &self,
        db: &Database,
        presented: &ClientAssertion,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Outcome, OAuthError> {
        let client_id = &presented.client_id;
        let header = match jsonwebtoken::decode_header(presented.assertion.as_str()) {
            Ok(_) if assertion::has_critical_extensions(&presented.assertion) => {
                return self
                    .junk_proof(db, client_id, source, AuthFailure::MalformedAssertion)
                    .await;
            }
            Ok(header) => header,
            Err(_) => {
                let refusal = assertion::unreadable_header(&presented.assertion)
                    .unwrap_or(AuthFailure::MalformedAssertion);
                return self.junk_proof(db, client_id, source, refusal).await;
            }
        };
        self.unless_throttled(self.throttle.check_guess(source, client_id), GUESSES)
            .await?;
        if let Some(issuer) = &presented.federated_issuer {
            return self
                .authenticate_federated(db, presented, &header, issuer, source, now)
                .await;
        }
        let client = match self
            .enabled_keyed_client(db, client_id, source, AuthFailure::UnknownKey)
            .await?
        {
            Ok(client) => client,
            Err(refused) => return Ok(refused),
        };
        // Found for its certificate subject alone: no key can sign for it, so the assertion
        // cannot be a guess, and must not fill the client_id's window a certificate needs.
        if client.keys.is_empty() && client.jwks_uri.is_none() {
            return self
                .junk_proof(db, client_id, source, AuthFailure::UnknownKey)
                .await;
        }
        if !client.application.accepts(ClientAuthMethod::PrivateKeyJwt) {
            return self
                .junk_proof(db, client_id, source, AuthFailure::MethodNotAllowed)
                .await;
        }
        let remote = match &client.jwks_uri {
            // A registered key named by the kid needs no fetch.
            Some(url) if !client.has_key_named(header.kid.as_deref()) => {
                self.remote_keys
                    .keys(&KeySource::JwksUri(url.clone()), header.kid.as_deref())
                    .await
            }
            _ => Arc::default(),
        };
        let verified =
            match self
                .assertions
                .verify(&presented.assertion, &header, &client, &remote, now)
            {
                Ok(verified) => verified,
                Err(refusal) => return Ok(self.failed_guess(source, client_id, refusal)),
            };
        if !self
            .jtis
            .first_use(client_id, &verified.jti, verified.valid_until)
            .await?
        {
            return Ok(self.failed_guess(source, client_id, AuthFailure::ReplayedAssertion));
        }
        Ok(Outcome::Authenticated(Box::new(AuthenticatedClient {
            credential: verified.credential,
            application: client.application,
            grants: client.grants,
            valid_until: None,
            certificate_sha256: None,
        })))
    }

    /// Checks a federated token from `issuer` (its unverified `iss`), after the throttle's
    /// check. A token verified before is accepted again without its signature while its
    /// credential exists and its key is still published (see [`super::federated`]); the
    /// credential and application are read fresh for every request, as a secret's are.
    async fn authenticate_federated(
        &self,
        db: &Database,
        presented: &ClientAssertion,
        header: &jsonwebtoken::Header,
        issuer: &str,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Outcome, OAuthError> {
        let client_id = &presented.client_id;
        let Some(client) = self.lookup.federated_of(client_id).await? else {
            return self
                .junk_proof(db, client_id, source, AuthFailure::UntrustedIssuer)
                .await;
        };
        if !client.application.enabled {
            return self
                .junk_proof(db, client_id, source, AuthFailure::DisabledApplication)
                .await;
        }
        if !client
            .application
            .accepts(ClientAuthMethod::FederatedCredential)
        {
            return self
                .junk_proof(db, client_id, source, AuthFailure::MethodNotAllowed)
                .await;
        }
        if !client
            .credentials
            .iter()
            .any(|credential| credential.issuer == issuer)
        {
            return Ok(self.failed_guess(source, client_id, AuthFailure::UntrustedIssuer));
        }
        let source_of_keys = KeySource::Issuer(issuer.to_owned());
        let keys = self
            .remote_keys
            .keys(&source_of_keys, header.kid.as_deref())
            .await;
        let digest = self.federated.digest(&presented.assertion);
        let remembered = self
            .federated
            .remembered(&digest, &client, now)
            .filter(|verified| keys.iter().any(|key| key.thumbprint == verified.thumbprint));
        let verified = match remembered {
            Some(verified) => verified,
            None => match self.federated.verify(
                &presented.assertion,
                header,
                issuer,
                &client,
                &keys,
                now,
            ) {
                Ok(verified) => {
                    let verified = Arc::new(verified);
                    self.federated.remember(digest, Arc::clone(&verified));
                    verified
                }
                Err(refusal) => return Ok(self.failed_guess(source, client_id, refusal)),
            },
        };
        Ok(Outcome::Authenticated(Box::new(AuthenticatedClient {
            credential: verified.credential(),
            application: client.application,
            grants: client.grants,
            valid_until: Some(verified.expires_at),
            certificate_sha256: None,
        })))
    }

    /// Checks the certificate a client presented over mutual TLS (RFC 8705 §2): one of the
    /// certificates registered to it, matched by SHA-256 thumbprint
    /// (`self_signed_tls_client_auth`, §2.2), or one whose chain leads to a configured CA and
    /// that names the subject it registered (`tls_client_auth`, §2.1), each when the
    /// application accepts that method. Like an assertion's signature, the check costs
    /// a signature or a chain's few: nothing is remembered, and the throttle treats a failure
    /// as a failed assertion.
    pub async fn authenticate_certificate(
        &self,
        db: &Database,
        presented: &CertificateCredentials,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Outcome, OAuthError> {
        let client_id = &presented.client_id;
        self.unless_throttled(self.throttle.check_guess(source, client_id), GUESSES)
            .await?;
        let client = match self
            .enabled_keyed_client(db, client_id, source, AuthFailure::UnknownCertificate)
            .await?
        {
            Ok(client) => client,
            Err(refused) => return Ok(refused),
        };
        let certificate = &presented.certificate;
        let thumbprint = public_key::certificate_sha256(&certificate.der);
        let registered = client
            .keys
            .iter()
            .find(|key| key.certificate_sha256.as_deref() == Some(thumbprint.as_str()));
        let application = &client.application;
        let subject = application.tls_client_auth();
        let checked = match (registered, subject) {
            (Some(key), _) if application.accepts(ClientAuthMethod::SelfSignedTlsClientAuth) => {
                registered_certificate(key, certificate, now)
            }
            (_, Some(subject)) if application.accepts(ClientAuthMethod::TlsClientAuth) => self
                .ca_issued_certificate(subject, certificate, now)
                // A registered certificate whose method the application turned off is not
                // a CA's that failed: say which.
                .map_err(|refusal| match registered {
                    Some(_) => AuthFailure::MethodNotAllowed,
                    None => refusal,
                }),
            (Some(_), _) | (_, Some(_)) => Err(AuthFailure::MethodNotAllowed),
            (None, None) => Err(AuthFailure::UnknownCertificate),
        };
        let credential = match checked {
            Ok(credential) => credential,
            Err(refusal) => return Ok(self.failed_guess(source, client_id, refusal)),
        };
        Ok(Outcome::Authenticated(Box::new(AuthenticatedClient {
            credential,
            application: client.application,
            grants: client.grants,
            valid_until: None,
            certificate_sha256: Some(thumbprint),
        })))
    }

    /// `tls_client_auth` (RFC 8705 §2.1): the chain leads to a configured CA at `now`, and
    /// the certificate names the `subject` the application registered.
    fn ca_issued_certificate(
        &self,
        subject: CertificateSubject,
        certificate: &ClientCertificate,
        now: DateTime<Utc>,
    ) -> Result<Credential, AuthFailure> {
        let ca = self
            .client_ca
            .as_ref()
            .ok_or(AuthFailure::UntrustedCertificate)?;
        ca.verify(&certificate.der, &certificate.intermediates, now)
            .map_err(|refusal| match refusal {
                ChainRefusal::Expired => AuthFailure::CertificateExpired,
                ChainRefusal::NotYetValid => AuthFailure::CertificateNotYetValid,
                ChainRefusal::WrongPurpose => AuthFailure::WrongCertificatePurpose,
                ChainRefusal::Untrusted => AuthFailure::UntrustedCertificate,
            })?;
        if !tls::subject::names(&certificate.der, &subject) {
            return Err(AuthFailure::WrongCertificateSubject);
        }
        Ok(Credential::CaIssuedCertificate {
            field: subject.field.as_str().to_owned(),
            value: subject.value,
        })
    }

    /// Checks the device a request presented for an application of `organisation_id` that
    /// requires one. A device secret is a client secret in all but owner: the same value
    /// format, argon2id once per instance and value, then the keyed digest; the same
    /// throttle, with the device's id (`device:<id>`) in place of the client_id. Read fresh
    /// for every request, in the batches of [`CredentialLookup`], so disabling or deleting
    /// applies at once.
    ///
    /// `fetched` is what [`Self::fetch_device_secret`] read for `presented`: read while the
    /// client authenticated, so that the device costs no second wait for a batch.
    pub async fn authenticate_device(
        &self,
        db: &Database,
        presented: &DeviceCredentials,
        fetched: Option<StoredDeviceSecret>,
        organisation_id: &str,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Result<ProvenDevice, AuthFailure>, OAuthError> {
        let secret = presented.secret.expose_secret();
        let (Some(secret_id), Ok(device_id)) = (
            value::secret_id_of(secret),
            ClientId::parse(&presented.device_id),
        ) else {
            return self.junk_device(source, AuthFailure::UnknownDevice).await;
        };
        let (secret_id, device_id) = (secret_id.to_string(), device_id.to_string());
        let window = format!("device:{device_id}");
        let digest = self.digest(secret);
        let remembered = self.is_remembered(&secret_id, &digest);
        if !remembered {
            self.unless_throttled(self.throttle.check_guess(source, &window), GUESSES)
                .await?;
        }
        let Some(stored) = fetched else {
            // Past the source's junk allowance, no further read to word the audit reason.
            if self.throttle.count_junk(source).is_err() {
                metrics::counter!(telemetry::THROTTLED, "limit" => JUNK).increment(1);
                self.throttle.tarpit().await;
                return Ok(Err(AuthFailure::UnknownDevice));
            }
            let id = device_id.clone();
            let exists = db.run(move |conn| devices::exists(conn, &id)).await?;
            return Ok(Err(if exists {
                AuthFailure::WrongDeviceSecret
            } else {
                AuthFailure::UnknownDevice
            }));
        };
        let standing = DeviceStanding {
            not_before: None,
            expires_at: stored.expires_at,
            enabled: stored.enabled,
            organisation_id: &stored.organisation_id,
        };
        if let Some(refusal) =
            standing.refusal(organisation_id, now, AuthFailure::ExpiredDeviceSecret)
        {
            return self.junk_device(source, refusal).await;
        }
        let proven = ProvenDevice {
            device_id: stored.device_id,
            credential: Credential::DeviceSecret {
                id: stored.secret_id,
            },
            certificate_sha256: None,
        };
        if remembered {
            return Ok(Ok(proven));
        }
        let reservation = self
            .unless_throttled(self.throttle.reserve_guess(source, &window), GUESSES)
            .await?;
        if !self
            .argon2_verify(&presented.secret, &stored.secret_hash)
            .await?
        {
            reservation.fail();
            return Ok(Err(AuthFailure::WrongDeviceSecret));
        }
        drop(reservation);
        self.remember(&secret_id, digest);
        Ok(Ok(proven))
    }

    /// The stored device secret that `presented` names, if its ids are well formed and it
    /// exists: one read in the batches of [`CredentialLookup`], which the token endpoint
    /// makes while the client authenticates. Deciding anything is
    /// [`Self::authenticate_device`]'s.
    ///
    /// # Errors
    /// `503` when the database cannot be read.
    pub async fn fetch_device_secret(
        &self,
        presented: &DeviceCredentials,
    ) -> Result<Option<StoredDeviceSecret>, OAuthError> {
        let (Some(secret_id), Ok(device_id)) = (
            value::secret_id_of(presented.secret.expose_secret()),
            ClientId::parse(&presented.device_id),
        ) else {
            return Ok(None);
        };
        Ok(self
            .lookup
            .device_secret(device_id.to_string(), secret_id.to_string())
            .await?)
    }

    /// Checks the client certificate of the connection (`certificate_sha256`, its
    /// thumbprint) as a device's, for an application of `organisation_id` that requires a
    /// device and got no `X-Device-Authorization`. The TLS handshake (or the trusted proxy)
    /// proved the private key, so this is no guess: nothing is throttled.
    pub async fn authenticate_device_certificate(
        &self,
        db: &Database,
        certificate_sha256: &str,
        organisation_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<ProvenDevice, AuthFailure>, OAuthError> {
        let thumbprint = certificate_sha256.to_owned();
        let Some(stored) = db
            .run(move |conn| devices::certificates::by_thumbprint(conn, &thumbprint))
            .await?
        else {
            return Ok(Err(AuthFailure::UnknownDeviceCertificate));
        };
        let standing = DeviceStanding {
            not_before: stored.not_before,
            expires_at: stored.expires_at,
            enabled: stored.enabled,
            organisation_id: &stored.organisation_id,
        };
        Ok(
            match standing.refusal(organisation_id, now, AuthFailure::ExpiredDeviceCertificate) {
                Some(refusal) => Err(refusal),
                None => Ok(ProvenDevice {
                    device_id: stored.device_id,
                    credential: Credential::DeviceCertificate {
                        id: stored.certificate_id,
                    },
                    certificate_sha256: Some(certificate_sha256.to_owned()),
                }),
            },
        )
    }

    /// A device credential that cannot be a guess (unknown, expired, disabled, of another
    /// organisation), counted against `source`'s junk allowance as such a client secret is;
    /// past it, refused after the tarpit, but not with `429`, which would tell which devices
    /// are active (a device's full guess window does answer `429`, as a client's does).
    async fn junk_device(
        &self,
        source: IpAddr,
        refusal: AuthFailure,
    ) -> Result<Result<ProvenDevice, AuthFailure>, OAuthError> {
        if self.throttle.count_junk(source).is_err() {
            metrics::counter!(telemetry::THROTTLED, "limit" => JUNK).increment(1);
            self.throttle.tarpit().await;
        }
        Ok(Err(refusal))
    }

    /// The keys of `client_id` for an assertion or a certificate, if it has any and is
    /// enabled; otherwise the refusal of a value that cannot be a guess, `without_keys`
    /// naming what was missing.
    async fn enabled_keyed_client(
        &self,
        db: &Database,
        client_id: &str,
        source: IpAddr,
        without_keys: AuthFailure,
    ) -> Result<Result<KeyedClient, Outcome>, OAuthError> {
        let Some(client) = self.lookup.keys_of(client_id).await? else {
            return self
                .junk_proof(db, client_id, source, without_keys)
                .await
                .map(Err);
        };
        if !client.application.enabled {
            return self
                .junk_proof(db, client_id, source, AuthFailure::DisabledApplication)
                .await
                .map(Err);
        }
        Ok(Ok(client))
    }

    /// Counts a failed assertion in the client_id's and `source`'s guess windows (when they
    /// have room; a full window already refuses the next one) and refuses it.
    fn failed_guess(&self, source: IpAddr, client_id: &str, refusal: AuthFailure) -> Outcome {
        if let Ok(reservation) = self.throttle.reserve_guess(source, client_id) {
            reservation.fail();
        }
        refused_assertion(refusal)
    }

    /// An assertion or certificate that cannot be a guess (not a JWT, or for a client
    /// without keys), as [`Self::junk`] treats such a secret.
    async fn junk_proof(
        &self,
        db: &Database,
        client_id: &str,
        source: IpAddr,
        refusal: AuthFailure,
    ) -> Result<Outcome, OAuthError> {
        if let Err(retry_after) = self.throttle.count_junk(source) {
            if refusal == AuthFailure::MalformedAssertion {
                return self.unless_throttled(Err(retry_after), JUNK).await;
            }
            metrics::counter!(telemetry::THROTTLED, "limit" => JUNK).increment(1);
            self.throttle.tarpit().await;
            return Ok(refused_assertion(refusal));
        }
        let refusal = match refusal {
            AuthFailure::UnknownKey
            | AuthFailure::UntrustedIssuer
            | AuthFailure::UnknownCertificate => self.unknown_or(db, client_id, refusal).await?,
            other => other,
        };
        Ok(refused_assertion(refusal))
    }

    /// A throttle's refusal becomes a `429` after the tarpit, the same for every cause;
    /// `limit` names the allowance that ran out, for the metrics.
    async fn unless_throttled<T>(
        &self,
        decision: Result<T, RetryAfter>,
        limit: &'static str,
    ) -> Result<T, OAuthError> {
        match decision {
            Ok(admitted) => Ok(admitted),
            Err(retry_after) => {
                metrics::counter!(telemetry::THROTTLED, "limit" => limit).increment(1);
                self.throttle.tarpit().await;
                Err(OAuthError::throttled(retry_after))
            }
        }
    }

    /// Refuses a request that cannot be a guess, counted against its source address only.
    ///
    /// Once the address has used up its allowance, a malformed value gets `429`; a
    /// well-formed value for a secret that is unknown, expired or disabled still gets the
    /// `401` of any failed authentication. A `429` there, beside the `401` a wrong value for
    /// an active secret gets from the same address (its guess is let through, guarantee 3),
    /// would tell which secret ids exist and are active (guarantee 6). Such a value costs one
    /// batched row read, never argon2id, skips the audit trail's extra lookup, and waits in
    /// the tarpit like a throttled request.
    async fn junk(
        &self,
        db: &Database,
        credentials: &ClientCredentials,
        source: IpAddr,
        refusal: AuthFailure,
    ) -> Result<Outcome, OAuthError> {
        if let Err(retry_after) = self.throttle.count_junk(source) {
            if refusal == AuthFailure::MalformedSecret {
                return self.unless_throttled(Err(retry_after), JUNK).await;
            }
            // The tarpit still slows the flood down: it is what keeps a flooder from sending
            // its next value at once.
            metrics::counter!(telemetry::THROTTLED, "limit" => JUNK).increment(1);
            self.throttle.tarpit().await;
            return Ok(refused(credentials, refusal));
        }
        let refusal = match refusal {
            AuthFailure::MalformedSecret | AuthFailure::UnknownSecret => {
                self.unknown_or(db, &credentials.client_id, refusal).await?
            }
            other => other,
        };
        Ok(refused(credentials, refusal))
    }

    /// Distinguishes an unknown client from a bad secret, for the audit trail only.
    async fn unknown_or(
        &self,
        db: &Database,
        client_id: &str,
        refusal: AuthFailure,
    ) -> Result<AuthFailure, OAuthError> {
        let client_id = client_id.to_owned();
        let exists = db
            .run(move |conn| apps::client_id_exists(conn, &client_id))
            .await?;
        Ok(if exists {
            refusal
        } else {
            AuthFailure::UnknownClient
        })
    }

    fn digest(&self, presented: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.digest_key.as_ref())
            .expect("HMAC takes any key length");
        mac.update(presented.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn is_remembered(&self, secret_id: &str, digest: &[u8; 32]) -> bool {
        let remembered = self.remembered.read().unwrap_or_else(|p| p.into_inner());
        remembered
            .get(secret_id)
            .is_some_and(|known| bool::from(known.ct_eq(digest)))
    }

    fn remember(&self, secret_id: &str, digest: [u8; 32]) {
        let mut remembered = self.remembered.write().unwrap_or_else(|p| p.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(secret_id.to_owned(), digest);
    }

    /// argon2id on a blocking thread, at most one per core; sheds load when the queue is full.
    async fn argon2_verify(
        &self,
        presented: &SecretString,
        stored_hash: &SecretHash,
    ) -> Result<bool, OAuthError> {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!(telemetry::ARGON2_SHED).increment(1);
            return Err(OAuthError::overloaded());
        }
        let waiting = Instant::now();
        let slot = self.argon2_slots.acquire().await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        metrics::histogram!(telemetry::ARGON2_WAIT).record(waiting.elapsed().as_secs_f64());
        let _slot = slot.map_err(|_| OAuthError::unavailable(1))?;
        let (presented, stored_hash) = (presented.clone(), stored_hash.clone());
        let mut memory = self
            .argon2_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let (matches, memory) = actix_web::web::block(move || {
            let matches =
                hash::verify_with_memory(presented.expose_secret(), &stored_hash, &mut memory);
            (matches, memory)
        })
        .await
        .map_err(|_| OAuthError::unavailable(1))?;
        self.argon2_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
        Ok(matches)
    }
}

/// `self_signed_tls_client_auth` (RFC 8705 §2.2): `key`, the registration with the presented
/// certificate's thumbprint, is unexpired, and the certificate's `notBefore` has come.
fn registered_certificate(
    key: &StoredKey,
    certificate: &ClientCertificate,
    now: DateTime<Utc>,
) -> Result<Credential, AuthFailure> {
    if key.expires_at <= now {
        return Err(AuthFailure::ExpiredKey);
    }
    mtls::check_not_before(certificate, now)?;
    Ok(Credential::Key {
        id: key.id.clone(),
        kind: key.kind,
    })
}

/// The stored secret if it may be used now: it exists for this client, has not expired, its
/// application is enabled and accepts client secrets.
fn usable(
    stored: Option<StoredCredential>,
    now: DateTime<Utc>,
) -> Result<StoredCredential, AuthFailure> {
    let stored = stored.ok_or(AuthFailure::UnknownSecret)?;
    if stored.expires_at <= now {
        return Err(AuthFailure::ExpiredSecret);
    }
    if !stored.application.enabled {
        return Err(AuthFailure::DisabledApplication);
    }
    if !stored.application.accepts(ClientAuthMethod::ClientSecret) {
        return Err(AuthFailure::MethodNotAllowed);
    }
    Ok(stored)
}

fn authenticated(stored: StoredCredential) -> Outcome {
    Outcome::Authenticated(Box::new(AuthenticatedClient {
        application: stored.application,
        credential: Credential::Secret {
            id: stored.secret_id,
        },
        grants: stored.grants,
        valid_until: None,
        certificate_sha256: None,
    }))
}

/// The same `invalid_client` whatever the reason.
fn refused(credentials: &ClientCredentials, refusal: AuthFailure) -> Outcome {
    Outcome::Refused {
        refusal,
        error: OAuthError::invalid_client(credentials.method == AuthMethod::ClientSecretBasic),
    }
}

/// The same `invalid_client` for every refused assertion (no Basic challenge: the client did
/// not use Basic).
fn refused_assertion(refusal: AuthFailure) -> Outcome {
    Outcome::Refused {
        refusal,
        error: OAuthError::invalid_client(false),
    }
}

/// What decides whether a device credential found by its id may prove the device: its own
/// validity, and its device's enabled flag and organisation.
struct DeviceStanding<'a> {
    /// A certificate's `notBefore` (a secret is valid from its creation).
    not_before: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    enabled: bool,
    organisation_id: &'a str,
}

impl DeviceStanding<'_> {
    /// Why the credential proves no device for an application of `organisation_id` at `now`,
    /// if it does not; `expired` is the refusal for its kind (secret or certificate). One
    /// order for both kinds: an expired credential is refused as such even when its device
    /// is also disabled.
    fn refusal(
        &self,
        organisation_id: &str,
        now: DateTime<Utc>,
        expired: AuthFailure,
    ) -> Option<AuthFailure> {
        if self.expires_at <= now {
            Some(expired)
        } else if self.not_before.is_some_and(|start| start > now) {
            Some(AuthFailure::CertificateNotYetValid)
        } else if !self.enabled {
            Some(AuthFailure::DisabledDevice)
        } else if self.organisation_id != organisation_id {
            Some(AuthFailure::DeviceOfAnotherOrganisation)
        } else {
            None
        }
    }
}
