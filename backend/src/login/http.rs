//! `GET /auth/login` starts a portal sign-in, `GET /auth/callback` finishes it and
//! `POST /auth/logout` ends it; every refusal is a message page that says why.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, middleware, web};
use clavis_shared::portal::{LogoutResponse, safe_return_path};
use serde::Deserialize;

use super::attempt::PendingSignIn;
use super::oidc::{LoginError, Retry};
use super::{LoginService, SignIn, SignInRefusal, is_error_code, sign_in, state_matches};
use crate::db::{self, Database};
use crate::error::{Error, Result};
use crate::session::{self, csrf};
use crate::site;

/// The sign-in endpoints; signing out is a state change, so it needs the CSRF token.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/login", web::get().to(login))
        .route("/auth/callback", web::get().to(callback))
        .service(
            web::resource("/auth/logout")
                .wrap(middleware::from_fn(csrf::protect))
                .route(web::post().to(logout)),
        );
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    /// Set by the links of a refusal page: start afresh at the provider.
    retry: Option<Retry>,
}

/// Sends the browser to the provider, remembering how to finish in a sealed cookie (nothing is
/// written to the database).
async fn login(
    query: web::Query<LoginQuery>,
    service: web::Data<LoginService>,
) -> Result<HttpResponse> {
    let Some(provider) = &service.provider else {
        return Ok(not_configured());
    };
    let started = match provider.start(query.retry).await {
        Ok(started) => started,
        Err(error) => return Ok(provider_unreachable(&error)),
    };
    let pending = PendingSignIn::new(
        started.state,
        started.nonce,
        started.pkce_verifier,
        safe_return_path(query.return_to.as_deref()),
        db::now(),
    );
    let cookie = service.attempts.seal(&pending)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

/// The authorization response (RFC 6749 §4.1.2 and §4.1.2.1). `error_description` is not
/// read: its text comes from outside and is never shown.
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes the sign-in. Every answer makes the browser forget its pending sign-in.
async fn callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    service: web::Data<LoginService>,
    db: web::Data<Database>,
) -> Result<HttpResponse> {
    let mut response = finish(&req, query.into_inner(), &service, &db).await?;
    response
        .add_cookie(&service.attempts.removal())
        .map_err(|e| Error::Internal(format!("cannot clear the sign-in cookie: {e}")))?;
    Ok(response)
}

/// Checks, in this order: the sign-in this browser started (its sealed cookie), that the
/// answer's `state` is that sign-in's, then the provider's error if any; only then exchanges
/// the code, verifies the ID token, enforces MFA and roles, and opens a session.
async fn finish(
    req: &HttpRequest,
    query: CallbackQuery,
    service: &web::Data<LoginService>,
    db: &Database,
) -> Result<HttpResponse> {
    let Some(provider) = &service.provider else {
        return Ok(not_configured());
    };
    let Some(pending) = service.attempts.open(req, db::now()) else {
        return Ok(refusal(
            400,
            "This sign-in link has expired or was already used",
            "Sign-ins must be finished within 10 minutes, in the browser that started them.",
        ));
    };
    if !state_matches(query.state.as_deref(), &pending.state) {
        return Ok(refusal(
            400,
            "This sign-in could not be finished",
            "The answer from the identity provider does not belong to the sign-in this browser \
             started. Start again.",
        ));
    }
    if let Some(error) = query.error {
        return Ok(provider_error(&error));
    }
    let Some(code) = query.code.filter(|code| !code.is_empty()) else {
        return Ok(refusal(
            400,
            "This sign-in could not be finished",
            "The identity provider's answer holds no authorization code. Start again.",
        ));
    };
    let identity = match provider
        .finish(code, pending.pkce_verifier, pending.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(error) => return refused_token(db, error).await,
    };
    let settings = provider.settings().clone();
    let service = service.clone();
    let outcome = db
        .run(move |conn| sign_in(conn, &identity, &settings, &service, db::now()))
        .await?;
    Ok(match outcome {
        SignIn::Refused(refused) => {
            refused_page(&refused, provider.settings().support_contact.as_deref())
        }
        SignIn::Opened(token) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, pending.return_to))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(session::cookie(&token.0, &token.1))
            .finish(),
    })
}

/// The provider refused (RFC 6749 §4.1.2.1): a fixed message with its error code, shown only
/// when it is a well-formed code.
fn provider_error(code: &str) -> HttpResponse {
    tracing::info!(
        error = is_error_code(code).then_some(code),
        "the identity provider answered a sign-in with an error"
    );
    let shown = if is_error_code(code) {
        format!("It answered with the error code \"{code}\".")
    } else {
        "Its answer held no valid error code.".to_owned()
    };
    refusal(
        403,
        "The identity provider did not sign you in",
        &format!(
            "{shown} Try again; if it keeps happening, tell your identity provider's \
             administrator."
        ),
    )
}

/// A fresh sign-in with another account (or the same one, typed in again).
const ANOTHER_ACCOUNT: (&str, &str) = ("/auth/login?retry=account", "Use another account");

/// Why a verified login got no session, and what to do about it. Both pages start the next
/// sign-in afresh (`retry`): a plain one would be answered from the provider's session, with
/// the same identity and factors, and end on the same refusal.
fn refused_page(refused: &SignInRefusal, support_contact: Option<&str>) -> HttpResponse {
    let status = StatusCode::FORBIDDEN;
    match refused {
        SignInRefusal::NoSecondFactor => site::message_page(
            status,
            "Sign-in refused: no second factor",
            "Clavis requires multi-factor authentication, and your identity provider reports \
             that this sign-in used only one factor (such as a password). Sign in again and \
             confirm with your authenticator app or security key; if you have none, ask your \
             identity provider's administrator to set one up.",
            &[
                (
                    "/auth/login?retry=second_factor",
                    "Sign in again with a second factor",
                ),
                ANOTHER_ACCOUNT,
            ],
        ),
        SignInRefusal::NoRole { email } => {
            let write_to = support_contact
                .and_then(contact_address)
                .map(|address| (format!("mailto:{address}"), format!("Write to {address}")));
            let mut links = vec![ANOTHER_ACCOUNT];
            if let Some((href, text)) = &write_to {
                links.insert(0, (href.as_str(), text.as_str()));
            }
            site::message_page(
                status,
                "Sign-in refused: no access to Clavis yet",
                &format!(
                    "You signed in{}, but you have no role in Clavis. Ask {} to make you a \
                     credential manager or viewer of your organisation. If you have another \
                     account with access, use that one.",
                    email
                        .as_deref()
                        .map(|email| format!(" as {email}"))
                        .unwrap_or_default(),
                    support_contact.unwrap_or("a platform admin"),
                ),
                &links,
            )
        }
    }
}

/// The e-mail address in a support contact such as "the API team <api@example.org>", so
/// the refusal page can offer to write to it; `None` when it names none.
fn contact_address(contact: &str) -> Option<lettre::Address> {
    contact
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| "<>()[],;:.\"'".contains(c)))
        .find_map(|word| word.parse().ok())
}

/// An ID token that failed verification (or a code the provider refused): no session, and
/// an audit event with the real reason.
async fn refused_token(db: &Database, error: LoginError) -> Result<HttpResponse> {
    tracing::warn!(%error, "a portal sign-in failed");
    let (status, title) = match &error {
        LoginError::Discovery(_) => return Ok(provider_unreachable(&error)),
        LoginError::CodeExchange(_) => (502, "The identity provider did not finish the sign-in"),
        LoginError::InvalidIdToken(_) => {
            (403, "Sign-in refused: the identity could not be verified")
        }
    };
    let reason = error.to_string();
    db.run(move |conn| super::record_unverified(conn, &reason, db::now()))
        .await?;
    Ok(refusal(
        status,
        title,
        "The answer from your identity provider did not pass Clavis's checks, so you were not \
         signed in. Try again; if it keeps happening, tell your Clavis administrator.",
    ))
}

/// Ends the Clavis session and says where to end the provider's session too.
async fn logout(
    req: HttpRequest,
    service: web::Data<LoginService>,
    db: web::Data<Database>,
) -> Result<HttpResponse> {
    if let Some(cookie) = req.cookie(session::cookie_name(&service.sessions)) {
        let token = cookie.value().to_owned();
        db.run(move |conn| super::sign_out(conn, &token, db::now()))
            .await?;
    }
    let end_session_url = match &service.provider {
        Some(provider) => provider.end_session_url().await,
        None => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::removal_cookie(&service.sessions))
        .json(LogoutResponse { end_session_url }))
}

fn not_configured() -> HttpResponse {
    refusal(
        503,
        "Sign-in is not set up",
        "This Clavis has no identity provider configured. Its operator must set \
         CLAVIS_OIDC_ISSUER, CLAVIS_OIDC_CLIENT_ID and CLAVIS_OIDC_CLIENT_SECRET (see the README).",
    )
}

fn provider_unreachable(error: &LoginError) -> HttpResponse {
    tracing::error!(%error, "the identity provider is unavailable");
    refusal(
        503,
        "The identity provider cannot be reached",
        "Clavis could not contact your organisation's identity provider. Try again in a few \
         minutes.",
    )
}

/// A page that says why the person is not signed in, with a way to start again.
fn refusal(status: u16, title: &str, explanation: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    site::message_page(
        status,
        title,
        explanation,
        &[("/auth/login", "Sign in again")],
    )
}
