//! A sign-in between the redirect to the provider and its callback: state, nonce, PKCE
//! verifier and where to return, sealed (XChaCha20-Poly1305, under a key derived from the
//! master key) into a short-lived HttpOnly cookie. Nothing is stored server-side, so anonymous
//! `GET /auth/login` requests cannot fill the database, and any instance sharing the master
//! key can finish a sign-in another one started.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{Keys, MasterKey};

/// The cookie's name over plain http (loopback and development).
const PLAIN_NAME: &str = "clavis_login";
/// Its name when the public URL is https: `__Host-` makes browsers insist on Secure, Path=/
/// and no Domain, so no sibling host can plant or overwrite it (RFC 6265bis §4.1.3.2).
const HOST_NAME: &str = "__Host-clavis_login";

/// The purpose label of the key that seals these cookies (see [`MasterKey::derive`]).
const KEY_PURPOSE: &str = "clavis login attempt cookie v1";
/// Bound into every sealed value, so nothing else sealed with that key opens as an attempt.
const SEAL_CONTEXT: &str = "login attempt";

/// A sign-in must come back from the provider within this time.
pub const ATTEMPT_LIFETIME: Duration = Duration::minutes(10);

/// What the callback needs to finish the sign-in it started. Holds secrets (the PKCE
/// verifier), so it has no `Debug`.
#[derive(Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A portal path (already checked by `safe_return_to`).
    pub return_to: String,
    /// When `GET /auth/login` answered, in seconds since the Unix epoch.
    started_at: i64,
}

impl PendingSignIn {
    pub fn new(
        state: String,
        nonce: String,
        pkce_verifier: String,
        return_to: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            state,
            nonce,
            pkce_verifier,
            return_to,
            started_at: now.timestamp(),
        }
    }

    fn is_current(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() - self.started_at < ATTEMPT_LIFETIME.num_seconds()
    }
}

/// Seals pending sign-ins into cookies and opens them again.
pub struct AttemptCookies {
    key: MasterKey,
    /// The public URL is https: the cookie is Secure and `__Host-` prefixed.
    https: bool,
}

impl AttemptCookies {
    pub fn new(keys: &Keys, https: bool) -> Self {
        Self {
            key: keys.derive_key(KEY_PURPOSE),
            https,
        }
    }

    pub fn name(&self) -> &'static str {
        if self.https { HOST_NAME } else { PLAIN_NAME }
    }

    /// The cookie that carries `pending` until the callback, gone after [`ATTEMPT_LIFETIME`].
    pub fn seal(&self, pending: &PendingSignIn) -> Result<Cookie<'static>> {
        let json = serde_json::to_vec(pending)
            .map_err(|e| Error::Internal(format!("cannot encode a pending sign-in: {e}")))?;
        let sealed = self.key.seal(&json, SEAL_CONTEXT)?;
        Ok(self
            .build(sealed)
            .max_age(time::Duration::seconds(ATTEMPT_LIFETIME.num_seconds()))
            .finish())
    }

    /// The pending sign-in this browser's cookie holds: `None` without a cookie, or when it
    /// was altered, sealed by another key, or is older than [`ATTEMPT_LIFETIME`].
    pub fn open(&self, req: &HttpRequest, now: DateTime<Utc>) -> Option<PendingSignIn> {
        let cookie = req.cookie(self.name())?;
        let json = self.key.open(cookie.value(), SEAL_CONTEXT)?;
        serde_json::from_slice::<PendingSignIn>(&json)
            .ok()
            .filter(|pending| pending.is_current(now))
    }

    /// A cookie that makes the browser forget the attempt: each is finished at most once.
    pub fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.build(String::new()).finish();
        cookie.make_removal();
        cookie
    }

    fn build(&self, value: String) -> actix_web::cookie::CookieBuilder<'static> {
        // Lax: the provider's redirect back to /auth/callback is a top-level GET from its site.
        Cookie::build(self.name(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.https)
    }
}
