//! Portal sign-in through the organisation's OpenID Connect provider, with MFA enforced: the
//! relying party's settings, the decision to open a session or refuse one, and sign-out. The
//! `/auth/*` endpoints are in `http.rs`.

pub mod attempt;
pub mod http;
pub mod oidc;
pub mod policy;

use secrecy::SecretString;
use subtle::ConstantTimeEq;

use crate::access::Actor;
use crate::access::Roles;
use crate::audit::AuditEvent;
use crate::db::DbConn;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::orgs;
use crate::session::{self, SessionRole, SessionSettings};
use crate::users;
use attempt::AttemptCookies;
use oidc::{Identity, Provider};

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
    /// Whom people without a role should ask for access (`CLAVIS_SUPPORT_CONTACT`), such as
    /// "the API team at api-support@example.org"; without it, "a platform admin".
    pub support_contact: Option<String>,
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

/// Whether the answer's `state` is the one this browser's sign-in sent (constant time).
fn state_matches(answered: Option<&str>, expected: &str) -> bool {
    answered.is_some_and(|state| bool::from(state.as_bytes().ct_eq(expected.as_bytes())))
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

/// What a verified login comes to.
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

/// Ends the session `token` belongs to, if it is still open, and records who signed out.
fn sign_out(conn: &mut DbConn, token: &str, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
    if let Some(user_id) = session::end(conn, token)? {
        let email = users::email_of(conn, &user_id)?.unwrap_or_default();
        AuditEvent::success("logout", &Actor::User { id: user_id, email }).record(conn, now)?;
    }
    Ok(())
}

/// Records a sign-in whose answer from the provider failed Clavis's checks (`reason`: what
/// failed), which no person can be named for.
fn record_unverified(
    conn: &mut DbConn,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    AuditEvent::failure("login", &Actor::System)
        .details(serde_json::json!({ "reason": reason }))
        .record(conn, now)
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
