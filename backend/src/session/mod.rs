//! Portal sessions, stored in the database so every instance shares them. The browser holds
//! a random token in an HttpOnly cookie; the database holds only its SHA-256. Sign-in
//! (`login`) opens them; every portal request is authenticated here.

pub mod csrf;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use clavis_shared::dto::Role;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{self, Database, DbConn, schema::sessions};
use crate::error::{Error, Result};

/// How long a portal session lasts, and how its cookie is set.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Ends after this long without a request.
    pub idle_timeout: chrono::Duration,
    /// Ends this long after sign-in, whatever the activity.
    pub lifetime: chrono::Duration,
    /// Whether the session cookie is marked Secure (the public URL is https).
    pub secure_cookie: bool,
    /// The portal's origin (scheme, host, port): state-changing requests must come from it.
    pub public_origin: String,
}

/// The session cookie's name over plain http (loopback and development).
pub const SESSION_COOKIE: &str = "clavis_session";
/// Its name when the public URL is https: `__Host-` makes browsers insist on Secure, Path=/
/// and no Domain, so no sibling host can plant or overwrite it (RFC 6265bis §4.1.3.2).
const HOST_NAME: &str = "__Host-clavis_session";

/// The session cookie's name under these settings.
pub fn cookie_name(settings: &SessionSettings) -> &'static str {
    if settings.secure_cookie {
        HOST_NAME
    } else {
        SESSION_COOKIE
    }
}

/// A session's activity is written at most this often, not on every request.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The random value in the session cookie. Never printed; wiped from memory on drop.
#[derive(Debug)]
pub struct SessionToken(SecretString);

impl SessionToken {
    fn generate() -> Self {
        Self(SecretString::from(random_token()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// 32 bytes from the OS CSPRNG, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a cookie value: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The CSRF token of a session: derived from the session token, which only the browser's
/// HttpOnly cookie holds, so another site can neither read nor compute it.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("clavis-csrf:{session_token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A role the ID token granted at sign-in, kept for the session's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRole {
    pub organisation_id: String,
    pub role: Role,
}

/// A signed-in person's live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub claimed_roles: Vec<SessionRole>,
    pub expires_at: DateTime<Utc>,
    pub csrf_token: String,
}

/// Opens a session for `user_id`; the returned token goes into the cookie.
pub fn create(
    conn: &mut DbConn,
    user_id: &str,
    claimed_roles: &[SessionRole],
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<(SessionToken, DateTime<Utc>)> {
    let token = SessionToken::generate();
    let expires_at = now + settings.lifetime;
    let claimed = serde_json::to_string(claimed_roles)
        .map_err(|e| Error::Internal(format!("cannot store the session's roles: {e}")))?;
    diesel::insert_into(sessions::table)
        .values((
            sessions::id_hash.eq(token_hash(token.expose())),
            sessions::user_id.eq(user_id),
            sessions::claimed_roles.eq(claimed),
            sessions::created_at.eq(now.naive_utc()),
            sessions::last_seen_at.eq(now.naive_utc()),
            sessions::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok((token, expires_at))
}

/// The live session the token opens, after recording the activity; `None` when it never
/// existed, was ended, sat idle too long or reached its absolute lifetime (it is then
/// deleted).
pub fn find(
    conn: &mut DbConn,
    token: &str,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    let id_hash = token_hash(token);
    let found: Option<(String, String, chrono::NaiveDateTime, chrono::NaiveDateTime)> =
        sessions::table
            .find(&id_hash)
            .select((
                sessions::user_id,
                sessions::claimed_roles,
                sessions::last_seen_at,
                sessions::expires_at,
            ))
            .first(conn)
            .optional()?;
    let Some((user_id, claimed, last_seen_at, expires_at)) = found else {
        return Ok(None);
    };
    let (last_seen_at, expires_at) = (db::utc(last_seen_at), db::utc(expires_at));
    if expires_at <= now || last_seen_at + settings.idle_timeout <= now {
        diesel::delete(sessions::table.find(&id_hash)).execute(conn)?;
        return Ok(None);
    }
    if now - last_seen_at >= TOUCH_EVERY {
        diesel::update(sessions::table.find(&id_hash))
            .set(sessions::last_seen_at.eq(now.naive_utc()))
            .execute(conn)?;
    }
    let claimed_roles = serde_json::from_str(&claimed)
        .map_err(|e| Error::Internal(format!("a session's stored roles are unreadable: {e}")))?;
    Ok(Some(Session {
        user_id,
        claimed_roles,
        expires_at,
        csrf_token: csrf_token(token),
    }))
}

/// Ends the session the token opens (if any); returns its user.
pub fn end(conn: &mut DbConn, token: &str) -> Result<Option<String>> {
    let id_hash = token_hash(token);
    let user_id = sessions::table
        .find(&id_hash)
        .select(sessions::user_id)
        .first::<String>(conn)
        .optional()?;
    diesel::delete(sessions::table.find(&id_hash)).execute(conn)?;
    Ok(user_id)
}

/// Sessions that have ended by neither timeout (nor been signed out of).
pub fn active_count(
    conn: &mut DbConn,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<i64> {
    let idle_since = (now - settings.idle_timeout).naive_utc();
    Ok(sessions::table
        .filter(sessions::expires_at.gt(now.naive_utc()))
        .filter(sessions::last_seen_at.gt(idle_since))
        .count()
        .get_result(conn)?)
}

/// Deletes sessions that have ended by either timeout.
pub fn prune(conn: &mut DbConn, settings: &SessionSettings, now: DateTime<Utc>) -> Result<usize> {
    let idle_since = (now - settings.idle_timeout).naive_utc();
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now.naive_utc())
                .or(sessions::last_seen_at.le(idle_since)),
        ),
    )
    .execute(conn)?)
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure and `__Host-` over https, gone when the
/// session reaches its absolute lifetime.
pub fn cookie(token: &SessionToken, settings: &SessionSettings) -> Cookie<'static> {
    Cookie::build(cookie_name(settings), token.expose().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookie)
        .max_age(time::Duration::seconds(settings.lifetime.num_seconds()))
        .finish()
}

/// A cookie that makes the browser forget the session cookie.
pub fn removal_cookie(settings: &SessionSettings) -> Cookie<'static> {
    let mut cookie = Cookie::build(cookie_name(settings), "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookie)
        .finish();
    cookie.make_removal();
    cookie
}

/// Authentication, in one place: a handler that takes a [`Session`] answers 401 to
/// anybody without a live one.
impl FromRequest for Session {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let db = req.app_data::<web::Data<Database>>().cloned();
        let settings = req.app_data::<web::Data<SessionSettings>>().cloned();
        let token = settings.as_ref().and_then(|settings| {
            req.cookie(cookie_name(settings))
                .map(|c| c.value().to_owned())
        });
        Box::pin(async move {
            let (Some(db), Some(settings)) = (db, settings) else {
                return Err(Error::Internal("sessions are not configured".to_owned()));
            };
            let Some(token) = token.filter(|token| !token.is_empty()) else {
                return Err(Error::Unauthenticated(
                    "You are not signed in. Sign in to use the portal.".to_owned(),
                ));
            };
            db.run(move |conn| find(conn, &token, &settings, db::now()))
                .await?
                .ok_or_else(|| {
                    Error::Unauthenticated(
                        "Your session has ended. Sign in again to continue.".to_owned(),
                    )
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_session_token() {
        let token = SessionToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
