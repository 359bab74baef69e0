//! A login between the redirect to the provider and its callback: state, nonce and PKCE
//! verifier, kept server-side and bound to the browser by a short-lived cookie.

use actix_web::cookie::{Cookie, SameSite, time};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::session::{random_token, token_hash};
use crate::db::{self, DbConn, schema::login_attempts};
use crate::error::Result;

pub const ATTEMPT_COOKIE: &str = "clavis_login";

/// A login must come back from the provider within this time.
pub const ATTEMPT_LIFETIME: Duration = Duration::minutes(10);

/// What the callback needs to finish the login it started.
#[derive(Queryable)]
pub struct Attempt {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    created_at: chrono::NaiveDateTime,
}

/// Stores the attempt; returns the cookie that binds it to this browser.
pub fn begin(
    conn: &mut DbConn,
    state: &str,
    nonce: &str,
    pkce_verifier: &str,
    return_to: &str,
    secure: bool,
    now: DateTime<Utc>,
) -> Result<Cookie<'static>> {
    let token = random_token();
    diesel::insert_into(login_attempts::table)
        .values((
            login_attempts::id_hash.eq(token_hash(&token)),
            login_attempts::state.eq(state),
            login_attempts::nonce.eq(nonce),
            login_attempts::pkce_verifier.eq(pkce_verifier),
            login_attempts::return_to.eq(return_to),
            login_attempts::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(Cookie::build(ATTEMPT_COOKIE, token)
        .path("/auth")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::seconds(ATTEMPT_LIFETIME.num_seconds()))
        .finish())
}

/// Takes the attempt the cookie names: each can be finished once, and only in time.
pub fn take(conn: &mut DbConn, cookie_value: &str, now: DateTime<Utc>) -> Result<Option<Attempt>> {
    let id_hash = token_hash(cookie_value);
    let attempt: Option<Attempt> = login_attempts::table
        .find(&id_hash)
        .select((
            login_attempts::state,
            login_attempts::nonce,
            login_attempts::pkce_verifier,
            login_attempts::return_to,
            login_attempts::created_at,
        ))
        .first(conn)
        .optional()?;
    diesel::delete(login_attempts::table.find(&id_hash)).execute(conn)?;
    Ok(attempt.filter(|attempt| db::utc(attempt.created_at) + ATTEMPT_LIFETIME > now))
}

/// Forgets attempts that were never finished.
pub fn prune(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize> {
    Ok(diesel::delete(
        login_attempts::table
            .filter(login_attempts::created_at.le((now - ATTEMPT_LIFETIME).naive_utc())),
    )
    .execute(conn)?)
}

/// A cookie that makes the browser forget the attempt.
pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(ATTEMPT_COOKIE, "").path("/auth").finish();
    cookie.make_removal();
    cookie
}
