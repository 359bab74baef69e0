//! Key sets Clavis fetches from elsewhere: an application's `jwks_uri` (RFC 7591 §2).
//!
//! A set is fetched over HTTPS only, without following redirects, within [`FETCH_TIMEOUT`]
//! and [`MAX_SET_BYTES`], and kept in memory. On the request path it is fetched only when
//! none is kept yet or an assertion names a `kid` it lacks, and then at most once per
//! `refetch` (a minute unless configured) per URL; a kept set older than [`FRESH_FOR`] is
//! refreshed in the
//! background while the kept one answers. A failed fetch keeps the previous set and never
//! becomes a 5xx: the assertion is refused as signed by an unknown key.

use jsonwebtoken::jwk::JwkSet;
use openidconnect::reqwest;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::client_keys::public_key::{self, VerifyingKey};

/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A larger answer is no key set of one client.
const MAX_SET_BYTES: usize = 64 * 1024;
/// A kept set older than this is refreshed in the background.
const FRESH_FOR: Duration = Duration::from_secs(15 * 60);

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
    last_attempt: Option<Instant>,
}

/// One URL's kept set. Its lock is held across a fetch, so requests that arrive meanwhile
/// wait for it rather than find no keys (after a restart, say).
type Shared = Arc<tokio::sync::Mutex<Kept>>;

/// The fetched sets, by URL.
pub struct RemoteKeySets {
    http: reqwest::Client,
    kept: Mutex<HashMap<String, Shared>>,
    /// The least time between two fetches of one URL.
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

    /// The keys of the set at `url` for an assertion naming `kid`: the kept set, fetched
    /// first when there is none or it lacks `kid`, within the limits above. Empty when the
    /// set cannot be had.
    pub async fn keys(&self, url: &str, kid: Option<&str>) -> Arc<Vec<RemoteKey>> {
        let shared = Arc::clone(
            self.kept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(url.to_owned())
                .or_default(),
        );
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
            kept.last_attempt = Some(now);
            refresh(&self.http, url, &mut kept).await;
        } else if stale {
            kept.last_attempt = Some(now);
            let (http, url, shared) = (self.http.clone(), url.to_owned(), Arc::clone(&shared));
            actix_web::rt::spawn(async move {
                refresh(&http, &url, &mut *shared.lock().await).await;
            });
        }
        Arc::clone(&kept.keys)
    }
}

/// Fetches the set into `kept`; when that fails, the previous set stays.
async fn refresh(http: &reqwest::Client, url: &str, kept: &mut Kept) {
    match fetch(http, url).await {
        Ok(keys) => {
            kept.keys = Arc::new(keys);
            kept.fetched_at = Some(Instant::now());
        }
        Err(error) => {
            metrics::counter!(crate::telemetry::KEY_SET_FETCH_FAILURES).increment(1);
            tracing::warn!(%url, error = %format!("{error:#}"), "cannot fetch a key set; keeping the previous one");
        }
    }
}

/// One GET of a key set: every key Clavis accepts of it (others are skipped).
async fn fetch(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<RemoteKey>> {
    let mut response = http
        .get(url)
        .header("accept", "application/json, application/jwk-set+json")
        .send()
        .await?;
    if !response.status().is_success() {
        anyhow::bail!("the server answered {}", response.status());
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_SET_BYTES as u64)
    {
        anyhow::bail!("the key set is larger than {MAX_SET_BYTES} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_SET_BYTES {
            anyhow::bail!("the key set is larger than {MAX_SET_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    let set: JwkSet = serde_json::from_slice(&body)?;
    Ok(set.keys.iter().filter_map(remote_key).collect())
}

/// A key of a set as Clavis would register it: the same types and sizes, public only.
fn remote_key(jwk: &jsonwebtoken::jwk::Jwk) -> Option<RemoteKey> {
    let text = serde_json::to_string(jwk).ok()?;
    Some(RemoteKey {
        kid: jwk.common.key_id.clone(),
        thumbprint: public_key::read(&text).ok()?.thumbprint,
        verifying: Arc::new(VerifyingKey::of_jwk(&text).ok()?),
    })
}
