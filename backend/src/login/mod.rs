//! Portal sign-in through the organisation's OpenID Connect provider, with MFA enforced:
//! `GET /auth/login` starts it, `GET /auth/callback` finishes it, `POST /auth/logout` ends it.

pub mod attempt;
pub mod oidc;
pub mod policy;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, middleware, web};
use clavis_shared::portal::{LogoutResponse, safe_return_path};
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::access::Actor;
use crate::access::Roles;
use crate::audit::AuditEvent;
use crate::db::{self, Database, DbConn};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::session::{self, SessionRole, SessionSettings, csrf};
use crate::users;
use crate::{orgs, site};
use attempt::{AttemptCookies, PendingSignIn};
use oidc::{Identity, LoginError, Provider};

/// The OpenID Connect relying party: which provider, as which client, and what counts as MFA.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// Discovery starts at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    pub client_secret: Option<SecretString>,
    pub redirect_url: url::Url,
    /// Where the provider sends the browser after signing out: the portal's start page.
    pub post_logout_redirect_url: url::Url,
    pub scopes: Vec<String>,
    /// `amr` values that prove multi-factor authentication alone (default `mfa`); methods of
    /// two RFC 8176 factor classes count too (see `login::policy`)…
    pub mfa_amr: Vec<String>,
    /// …as does an `acr` that is one of these.
    pub mfa_acr: Vec<String>,
    /// Sent as `acr_values` to ask the provider for a strong login, when not empty.
    pub acr_values: Vec<String>,
    pub role_claim: Option<RoleClaim>,
}

/// Roles taken from an ID token claim, on top of the assignments kept in Clavis.
#[derive(Debug, Clone)]
pub struct RoleClaim {
    /// The claim holding a list of role names, such as `roles`.
    pub claim: String,
    /// The role name that makes the person a credential manager.
    pub manager_value: String,
    /// The role name that makes the person a viewer, if any.
    pub viewer_value: Option<String>,
    /// The claim naming the person's organisation (its id or name).
    pub organisation_claim: String,
}

impl From<&Identity> for users::LoginIdentity {
    fn from(identity: &crate::login::oidc::Identity) -> Self {
        Self {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            email_verified: identity.email_verified,
            name: identity.name.clone(),
        }
    }
}

/// What sign-in and sessions need, shared by every worker.
pub struct LoginService {
    provider: Option<Provider>,
    pub sessions: SessionSettings,
    bootstrap_admins: Vec<String>,
    attempts: AttemptCookies,
}

impl LoginService {
    /// Fails when the MFA rule is configured so that one factor would pass
    /// ([`policy::check_settings`]).
    /// `login` is `None` when no provider is configured; `bootstrap_admins` are e-mail
    /// addresses or subjects made platform admins at sign-in.
    pub fn new(
        login: Option<LoginSettings>,
        sessions: SessionSettings,
        bootstrap_admins: Vec<String>,
        keys: &Keys,
    ) -> Result<Self> {
        if let Some(settings) = &login {
            policy::check_settings(settings).map_err(Error::Internal)?;
        }
        let provider = login
            .map(Provider::new)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let attempts = AttemptCookies::new(keys, sessions.secure_cookie);
        Ok(Self {
            provider,
            sessions,
            bootstrap_admins,
            attempts,
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

/// Sends the browser to the provider, remembering how to finish in a sealed cookie (nothing is
/// written to the database).
async fn login(
    query: web::Query<LoginQuery>,
    service: web::Data<LoginService>,
) -> Result<HttpResponse> {
    let Some(provider) = &service.provider else {
        return Ok(not_configured());
    };
    let started = match provider.start().await {
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
        SignIn::Refused(reason) => reason.page(),
        SignIn::Opened(token) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, pending.return_to))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(session::cookie(&token.0, &token.1))
            .finish(),
    })
}

/// Whether the answer's `state` is the one this browser's sign-in sent (constant time).
fn state_matches(answered: Option<&str>, expected: &str) -> bool {
    answered.is_some_and(|state| bool::from(state.as_bytes().ct_eq(expected.as_bytes())))
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

/// An `error` value RFC 6749 §4.1.2.1 allows: printable ASCII without `"` and `\`; at most
/// 64 characters here, which every registered code fits.
fn is_error_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

enum SignIn {
    Opened(Box<(session::SessionToken, SessionSettings)>),
    Refused(SignInRefusal),
}

/// Why a verified login still gets no session.
enum SignInRefusal {
    NoSecondFactor,
    NoRole { email: Option<String> },
}

impl SignInRefusal {
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
    let refused = |conn: &mut DbConn, refusal: SignInRefusal| {
        let mut details = evidence.clone();
        details["reason"] = refusal.reason().into();
        AuditEvent::failure("login", &actor)
            .details(details)
            .record(conn, now)?;
        Ok(SignIn::Refused(refusal))
    };
    if !policy::is_multi_factor(settings, identity) {
        return refused(conn, SignInRefusal::NoSecondFactor);
    }
    let claimed = claimed_session_roles(conn, settings, identity)?;
    let first = claimed.first();
    users::remember_claimed_role(
        conn,
        &user.id,
        first.map(|c| (c.role, c.organisation_id.as_str())),
    )?;
    if !Roles::load(conn, &user.id, &claimed)?.has_any_role() {
        return refused(conn, SignInRefusal::NoRole { email: user.email });
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
    if let Some(cookie) = req.cookie(session::cookie_name(&service.sessions)) {
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
    site::message_page(status, title, explanation, "/auth/login", "Sign in again")
}

#[cfg(test)]
mod tests {
    use super::{is_error_code, state_matches};

    #[test]
    fn only_rfc_6749_error_codes_are_shown() {
        for code in [
            "access_denied",
            "login_required",
            "temporarily_unavailable",
            "x y!",
        ] {
            assert!(is_error_code(code), "{code}");
        }
        for hostile in [
            "",
            "a\"b",
            "a\\b",
            "caf\u{e9}",
            "a\nb",
            "<\u{0}>",
            "x".repeat(65).as_str(),
        ] {
            assert!(!is_error_code(hostile), "{hostile:?}");
        }
    }

    #[test]
    fn state_must_be_present_and_equal() {
        assert!(state_matches(Some("abc"), "abc"));
        assert!(!state_matches(Some("abd"), "abc"));
        assert!(!state_matches(Some(""), "abc"));
        assert!(!state_matches(None, "abc"));
    }
}
