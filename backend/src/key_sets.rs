//! Key sets Clavis fetches from elsewhere: an application's `jwks_uri` (RFC 7591 §2), and a
//! trusted issuer's keys, found through its discovery document (OpenID Connect Discovery
//! 1.0 §4) for federated credentials.
//!
//! Everything is fetched over HTTPS only, without following redirects, within
//! [`FETCH_TIMEOUT`] and [`MAX_DOCUMENT_BYTES`] per document, and kept in memory. On the
//! request path a set is fetched only when none is kept yet or an assertion names a `kid` it
//! lacks, and then at most once per `refetch` (a minute unless configured) per source,
//! counted from the end of the previous attempt; a kept set older than [`FRESH_FOR`] is
//! refreshed in the background while the kept one answers. A failed fetch keeps the
//! previous set and never becomes a 5xx: the assertion is refused as signed by an unknown
//! key.
//!
//! Only public signing keys of the types Clavis accepts for registered keys are kept: a key
//! with private members (a publisher's mistake), an encryption key (`"use": "enc"`) or a
//! refused type is skipped and logged.

use openidconnect::reqwest;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::client_keys::public_key::{self, VerifyingKey};

/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A larger key set or discovery document is not one Clavis needs.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// A kept set older than this is refreshed in the background.
const FRESH_FOR: Duration = Duration::from_secs(15 * 60);
/// Where an issuer publishes its discovery document, after its identifier.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where a key set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySource {
    /// A key set's own URL: an application's `jwks_uri`.
    JwksUri(String),
    /// An OpenID Connect issuer identifier: its discovery document names its `jwks_uri`.
    Issuer(String),
}

/// One key of a fetched set, ready to check signatures.
pub struct RemoteKey {
    pub kid: Option<String>,
    pub thumbprint: String,
    pub verifying: Arc<VerifyingKey>,
}

#[derive(Default)]
struct Kept {
    keys: Arc<Vec<RemoteKey>>,
    fetched_at: Option<Instant>,
    /// When the last fetch ended, successful or not.
    last_attempt: Option<Instant>,
}

/// One source's kept set. Its lock is held across a fetch, so requests that arrive meanwhile
/// wait for it rather than find no keys (after a restart, say).
type Shared = Arc<tokio::sync::Mutex<Kept>>;

/// The fetched sets, by source.
pub struct RemoteKeySets {
    http: reqwest::Client,
    kept: Mutex<HashMap<KeySource, Shared>>,
    /// The least time between the end of one fetch of a source and the start of the next.
    refetch: Duration,
}

impl RemoteKeySets {
    /// A fetcher that trusts the system's roots and, if given, the CA in `extra_ca` (PEM).
    ///
    /// # Errors
    /// When `extra_ca` cannot be read or holds no certificate, or the HTTP client cannot be
    /// built.
    pub fn new(extra_ca: Option<&Path>, refetch: Duration) -> anyhow::Result<Self> {
        // No redirects: a key set answers where it was registered, or not at all.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(FETCH_TIMEOUT);
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path)
                .map_err(|error| anyhow::anyhow!("outbound_ca_file {}: {error}", path.display()))?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|error| {
                anyhow::anyhow!(
                    "outbound_ca_file {} holds no PEM certificate: {error}",
                    path.display()
                )
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        Ok(Self {
            http: builder.build()?,
            kept: Mutex::new(HashMap::new()),
            refetch,
        })
    }

    /// The keys of `source` for an assertion naming `kid`: the kept set, fetched first when
    /// there is none or it lacks `kid`, within the limits above. Empty when the set cannot
    /// be had.
    pub async fn keys(&self, source: &KeySource, kid: Option<&str>) -> Arc<Vec<RemoteKey>> {
        let shared = self.shared(source);
        let mut kept = shared.lock().await;
        let now = Instant::now();
        let may_fetch = kept
            .last_attempt
            .is_none_or(|at| now.duration_since(at) >= self.refetch);
        if !may_fetch {
            return Arc::clone(&kept.keys);
        }
        let lacking = kept.fetched_at.is_none()
            || kid.is_some_and(|kid| !kept.keys.iter().any(|key| key.kid.as_deref() == Some(kid)));
        let stale = kept
            .fetched_at
            .is_some_and(|at| now.duration_since(at) >= FRESH_FOR);
        if lacking {
            refresh(&self.http, source, &mut kept).await;
        } else if stale {
            // Marked now, so the requests until the background fetch ends do not start more.
            kept.last_attempt = Some(now);
            let (http, source, shared) = (self.http.clone(), source.clone(), Arc::clone(&shared));
            actix_web::rt::spawn(async move {
                refresh(&http, &source, &mut *shared.lock().await).await;
            });
        }
        Arc::clone(&kept.keys)
    }

    /// Fetches `source` now, whatever is kept, and keeps what it found: for an admin who
    /// trusts an issuer and must learn at once whether its discovery works.
    ///
    /// # Errors
    /// Why the discovery document or the key set cannot be had, in words for that admin.
    pub async fn fetch_now(&self, source: &KeySource) -> anyhow::Result<usize> {
        let fetched = fetch(&self.http, source).await?;
        if fetched.private > 0 {
            anyhow::bail!(
                "its key set ({}) publishes {} private key(s), which anyone can now sign with; ask its operators to replace them",
                fetched.jwks_uri,
                fetched.private
            );
        }
        let keys = fetched.keys;
        let count = keys.len();
        let shared = self.shared(source);
        let mut kept = shared.lock().await;
        kept.keys = Arc::new(keys);
        kept.fetched_at = Some(Instant::now());
        kept.last_attempt = kept.fetched_at;
        Ok(count)
    }

    fn shared(&self, source: &KeySource) -> Shared {
        Arc::clone(
            self.kept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(source.clone())
                .or_default(),
        )
    }
}

/// Fetches the set into `kept`; when that fails, the previous set stays.
async fn refresh(http: &reqwest::Client, source: &KeySource, kept: &mut Kept) {
    match fetch(http, source).await {
        Ok(fetched) => {
            kept.keys = Arc::new(fetched.keys);
            kept.fetched_at = Some(Instant::now());
        }
        Err(error) => {
            metrics::counter!(crate::telemetry::KEY_SET_FETCH_FAILURES).increment(1);
            tracing::warn!(?source, error = %format!("{error:#}"), "cannot fetch a key set; keeping the previous one");
        }
    }
    kept.last_attempt = Some(Instant::now());
}

/// The members of a discovery document Clavis reads (OpenID Connect Discovery 1.0 §3).
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A JWK Set (RFC 7517 §5), each member kept as JSON so that nothing is dropped before it
/// is checked; members that are not keys are ignored, as §5 asks.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

/// What one fetch found.
struct Fetched {
    jwks_uri: String,
    keys: Vec<RemoteKey>,
    /// Keys skipped for holding private members: a publisher's mistake worth refusing at
    /// trust time.
    private: usize,
}

/// The keys of `source`: for an issuer, its discovery document first, which must name the
/// same issuer (Discovery §4.3) and an https `jwks_uri`.
async fn fetch(http: &reqwest::Client, source: &KeySource) -> anyhow::Result<Fetched> {
    let jwks_uri = match source {
        KeySource::JwksUri(url) => url.clone(),
        KeySource::Issuer(issuer) => {
            let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
            let discovery: Discovery = serde_json::from_slice(&get(http, &url).await?)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{url} is not an OpenID Connect discovery document (a JSON object with issuer and jwks_uri)"
                    )
                })?;
            if discovery.issuer != *issuer {
                anyhow::bail!(
                    "{url} names the issuer {:?}, not {issuer:?}: tokens would not match",
                    discovery.issuer
                );
            }
            if !discovery.jwks_uri.starts_with("https://") {
                anyhow::bail!(
                    "{url} names the jwks_uri {:?}, which is not https: keys must come over HTTPS",
                    discovery.jwks_uri
                );
            }
            discovery.jwks_uri
        }
    };
    let set: KeySet = serde_json::from_slice(&get(http, &jwks_uri).await?).map_err(|_| {
        anyhow::anyhow!("{jwks_uri} is not a JWK set (a JSON object with a keys array)")
    })?;
    let mut fetched = Fetched {
        jwks_uri,
        keys: Vec::new(),
        private: 0,
    };
    for member in set.keys {
        let serde_json::Value::Object(jwk) = member else {
            continue;
        };
        match remote_key(&fetched.jwks_uri, jwk) {
            Ok(Some(key)) => fetched.keys.push(key),
            Ok(None) => {}
            Err(Private) => fetched.private += 1,
        }
    }
    Ok(fetched)
}

/// One GET of a JSON document, within the size limit.
async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let too_large = || anyhow::anyhow!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes");
    let mut response = http
        .get(url)
        .header("accept", "application/json, application/jwk-set+json")
        .send()
        .await
        .map_err(|error| anyhow::Error::new(error).context(format!("cannot fetch {url}")))?;
    if !response.status().is_success() {
        anyhow::bail!("{url} answered {}", response.status());
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| anyhow::Error::new(error).context(format!("cannot read {url}")))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A key that must not be published: it has private members.
struct Private;

/// A key of a set as Clavis would register it (the same types and sizes, public only), or
/// `None`, logged, for one it skips; [`Private`] for a private key, skipped too.
fn remote_key(
    jwks_uri: &str,
    jwk: serde_json::Map<String, serde_json::Value>,
) -> Result<Option<RemoteKey>, Private> {
    let kid = jwk
        .get("kid")
        .and_then(|kid| kid.as_str())
        .map(str::to_owned);
    if jwk.get("use").and_then(|used| used.as_str()) == Some("enc") {
        return Ok(None);
    }
    let text = serde_json::Value::Object(jwk).to_string();
    if clavis_shared::validate::pasted_key(&text).is_err() {
        tracing::warn!(%jwks_uri, ?kid, "a fetched key set publishes a private key; skipping it");
        return Err(Private);
    }
    let usable =
        public_key::read(&text).and_then(|material| Ok((material, VerifyingKey::of_jwk(&text)?)));
    match usable {
        Ok((material, verifying)) => Ok(Some(RemoteKey {
            kid,
            thumbprint: material.thumbprint,
            verifying: Arc::new(verifying),
        })),
        Err(refusal) => {
            tracing::warn!(%jwks_uri, ?kid, %refusal, "skipping a key of a fetched key set");
            Ok(None)
        }
    }
}
