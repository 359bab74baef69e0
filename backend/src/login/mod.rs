//! Portal sign-in through the organisation's OpenID Connect provider, with MFA enforced:
//! `GET /auth/login` starts it, `GET /auth/callback` finishes it, `POST /auth/logout` ends it.

pub mod attempt;
pub mod csrf;
pub mod oidc;
pub mod policy;
pub mod session;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, middleware, web};
use clavis_shared::portal::LogoutResponse;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, AuditEvent};
use crate::config::{Config, LoginSettings, SessionSettings};
use crate::db::{self, Database, DbConn};
use crate::error::{Error, Result};
use crate::users::{self, access::Roles};
use crate::{orgs, site};
use oidc::{Identity, LoginError, Provider};
use session::{SESSION_COOKIE, SessionRole};

/// What sign-in and sessions need, shared by every worker.
pub struct LoginService {
    provider: Option<Provider>,
    pub sessions: SessionSettings,
    bootstrap_admins: Vec<String>,
    /// The portal's origin (scheme, host, port): state-changing requests must come from it.
    pub public_origin: String,
}

impl LoginService {
    pub fn new(config: &Config) -> Result<Self> {
        let provider = config
            .login
            .clone()
            .map(Provider::new)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self {
            provider,
            sessions: config.sessions.clone(),
            bootstrap_admins: config.bootstrap_admins.clone(),
            public_origin: config.public_url.origin().ascii_serialization(),
        })
    }
}

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
}

/// Sends the browser to the provider, remembering (server-side) how to finish.
async fn login(
    query: web::Query<LoginQuery>,
    service: web::Data<LoginService>,
    db: web::Data<Database>,
) -> Result<HttpResponse> {
    let Some(provider) = &service.provider else {
        return Ok(not_configured());
    };
    let started = match provider.start().await {
        Ok(started) => started,
        Err(error) => return Ok(provider_unreachable(&error)),
    };
    let return_to = safe_return_to(query.return_to.as_deref());
    let secure = service.sessions.secure_cookie;
    let cookie = db
        .run(move |conn| {
            attempt::begin(
                conn,
                &started.state,
                &started.nonce,
                &started.pkce_verifier,
                &return_to,
                secure,
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes the login: checks state, exchanges the code, verifies the ID token, enforces
/// MFA and roles, then opens a session.
async fn callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    service: web::Data<LoginService>,
    db: web::Data<Database>,
) -> Result<HttpResponse> {
    let Some(provider) = &service.provider else {
        return Ok(not_configured());
    };
    let attempt = match req.cookie(attempt::ATTEMPT_COOKIE) {
        Some(cookie) => {
            let value = cookie.value().to_owned();
            db.run(move |conn| attempt::take(conn, &value, db::now()))
                .await?
        }
        None => None,
    };
    let Some(attempt) = attempt else {
        return Ok(refusal(
            400,
            "This sign-in link has expired or was already used",
            "Sign-ins must be finished within 10 minutes, in the browser that started them.",
        ));
    };
    let query = query.into_inner();
    if let Some(error) = query.error {
        let said = query.error_description.unwrap_or(error);
        return Ok(refusal(
            403,
            "The identity provider did not sign you in",
            &format!("It answered: {said}"),
        ));
    }
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|state| bool::from(state.as_bytes().ct_eq(attempt.state.as_bytes())));
    let Some(code) = query.code.filter(|_| state_matches) else {
        return Ok(refusal(
            400,
            "This sign-in could not be finished",
            "The answer from the identity provider does not belong to the sign-in this browser \
             started. Start again.",
        ));
    };
    let identity = match provider
        .finish(code, attempt.pkce_verifier, attempt.nonce)
        .await
    {
        Ok(identity) => identity,
        Err(error) => return refused_token(&db, error).await,
    };
    let settings = provider.settings().clone();
    let service = service.clone();
    let outcome = db
        .run(move |conn| sign_in(conn, &identity, &settings, &service, db::now()))
        .await?;
    Ok(match outcome {
        SignIn::Refused(reason) => reason.page(),
        SignIn::Opened(token) => {
            let sessions = &token.1;
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, attempt.return_to))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(session::cookie(&token.0, sessions))
                .cookie(attempt::removal_cookie())
                .finish()
        }
    })
}

enum SignIn {
    Opened(Box<(session::SessionToken, SessionSettings)>),
    Refused(Refusal),
}

/// Why a verified login still gets no session.
enum Refusal {
    NoSecondFactor,
    NoRole { email: Option<String> },
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Self::NoSecondFactor => "mfa_required",
            Self::NoRole { .. } => "no_role",
        }
    }

    fn page(&self) -> HttpResponse {
        match self {
            Self::NoSecondFactor => refusal(
                403,
                "Sign-in refused: no second factor",
                "Clavis requires multi-factor authentication, and your identity provider reports \
                 that this sign-in used only one factor (such as a password). Sign in again and \
                 confirm with your authenticator app or security key; if you have none, ask your \
                 identity provider's administrator to set one up.",
            ),
            Self::NoRole { email } => refusal(
                403,
                "Sign-in refused: no access to Clavis yet",
                &format!(
                    "You signed in{}, but you have no role in Clavis. Ask a platform admin to make \
                     you a credential manager or viewer of your organisation.",
                    email
                        .as_deref()
                        .map(|email| format!(" as {email}"))
                        .unwrap_or_default()
                ),
            ),
        }
    }
}

/// Records the person, then opens a session if the login used MFA and they have a role.
fn sign_in(
    conn: &mut DbConn,
    identity: &Identity,
    settings: &LoginSettings,
    service: &LoginService,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SignIn> {
    let user = users::record_login(conn, &identity.into(), &service.bootstrap_admins, now)?;
    let actor = Actor::User {
        id: user.id.clone(),
        email: user
            .email
            .clone()
            .unwrap_or_else(|| identity.subject.clone()),
    };
    let mut evidence = serde_json::json!({
        "issuer": identity.issuer, "subject": identity.subject,
        "amr": identity.amr, "acr": identity.acr,
    });
    if !identity.ignored_claims.is_empty() {
        evidence["ignored_claims"] = identity.ignored_claims.clone().into();
    }
    let refused = |conn: &mut DbConn, refusal: Refusal| {
        let mut details = evidence.clone();
        details["reason"] = refusal.reason().into();
        AuditEvent::failure("login", &actor)
            .details(details)
            .record(conn, now)?;
        Ok(SignIn::Refused(refusal))
    };
    if !policy::is_multi_factor(settings, identity) {
        return refused(conn, Refusal::NoSecondFactor);
    }
    let claimed = claimed_session_roles(conn, settings, identity)?;
    let first = claimed.first();
    users::remember_claimed_role(
        conn,
        &user.id,
        first.map(|c| (c.role, c.organisation_id.as_str())),
    )?;
    if !Roles::load(conn, &user.id, &claimed)?.has_any_role() {
        return refused(conn, Refusal::NoRole { email: user.email });
    }
    let (token, _) = session::create(conn, &user.id, &claimed, &service.sessions, now)?;
    AuditEvent::success("login", &actor)
        .details(evidence)
        .record(conn, now)?;
    Ok(SignIn::Opened(Box::new((token, service.sessions.clone()))))
}

/// The role the ID token's claim grants, if its organisation exists.
fn claimed_session_roles(
    conn: &mut DbConn,
    settings: &LoginSettings,
    identity: &Identity,
) -> Result<Vec<SessionRole>> {
    let Some(claimed) = policy::claimed_roles(settings.role_claim.as_ref(), identity) else {
        return Ok(Vec::new());
    };
    match orgs::find(conn, &claimed.organisation) {
        Ok(organisation) => Ok(vec![SessionRole {
            organisation_id: organisation.id,
            role: claimed.role,
        }]),
        Err(Error::NotFound(_)) => {
            tracing::warn!(
                organisation = %claimed.organisation,
                "an ID token's role claim names an organisation Clavis does not know; ignored"
            );
            Ok(Vec::new())
        }
        Err(other) => Err(other),
    }
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
    db.run(move |conn| {
        AuditEvent::failure("login", &Actor::System)
            .details(serde_json::json!({ "reason": reason }))
            .record(conn, db::now())
    })
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
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let token = cookie.value().to_owned();
        db.run(move |conn| {
            let now = db::now();
            if let Some(user_id) = session::end(conn, &token)? {
                let email = users::email_of(conn, &user_id)?.unwrap_or_default();
                AuditEvent::success("logout", &Actor::User { id: user_id, email })
                    .record(conn, now)?;
            }
            Ok(())
        })
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

/// A portal path to return to after sign-in; anything else (another site, a scheme-relative
/// URL, the sign-in routes themselves) becomes the start page.
fn safe_return_to(requested: Option<&str>) -> String {
    match requested {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with("/auth/")
                && path.len() <= 1024
                && !path.chars().any(|c| c.is_control()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
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
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::FORBIDDEN);
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(site::message_page(
            title,
            explanation,
            "/auth/login",
            "Sign in again",
        ))
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn only_portal_paths_are_returned_to() {
        assert_eq!(
            safe_return_to(Some("/applications/x?tab=1")),
            "/applications/x?tab=1"
        );
        for hostile in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/auth/login",
            "relative",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
