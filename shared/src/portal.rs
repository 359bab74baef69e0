//! Request and response bodies of the portal's JSON API under `/api/v1`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

// The audit log's types live in their own module; named here too for older imports.
pub use crate::audit::{AuditEventView, AuditPage, AuditQuery};
use crate::dto::{
    Application, ClientSecretInfo, Environment, Organisation, Role, SigningAlgorithm,
};

/// The header that carries the CSRF token on every state-changing request.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The longest return path kept across a sign-in, in bytes.
const MAX_RETURN_PATH: usize = 1024;

/// Where to send a person after sign-in: `requested` when it is a path of the portal, else
/// the start page `/`. Refused: anything not starting with one `/` (another site, or a
/// scheme-relative `//host` or `/\host` that browsers treat as one), the sign-in routes
/// under `/auth/` (a loop), control characters, and paths over 1024 bytes. The portal's
/// sign-in page and the backend's `/auth/login` apply this same rule.
pub fn safe_return_path(requested: Option<&str>) -> String {
    match requested {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with("/auth/")
                && path.len() <= MAX_RETURN_PATH
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The answer to `POST /auth/logout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutResponse {
    /// Where to send the browser to sign out at the identity provider too, when it offers that.
    pub end_session_url: Option<String>,
}

/// Who is signed in, what they may do, and the token their changes must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user: UserView,
    /// Platform admin: may do everything.
    pub admin: bool,
    /// The person's role in each organisation they belong to (admins see every organisation).
    pub memberships: Vec<Membership>,
    /// Send it back in the `X-CSRF-Token` header of every POST, PATCH and DELETE.
    pub csrf_token: String,
    /// When the session ends at the latest, whatever the activity.
    pub session_expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A person's role in one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub organisation: Organisation,
    pub role: Role,
}

/// An application in a listing, with what a contact needs at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationSummary {
    #[serde(flatten)]
    pub application: Application,
    /// Secrets that have not expired.
    pub active_secrets: i64,
    /// The earliest expiry among the active secrets.
    pub soonest_expiry: Option<DateTime<Utc>>,
}

/// One application as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: Application,
    pub organisation_name: String,
    /// Where the application exchanges its credentials for access tokens.
    pub token_endpoint: String,
}

/// A secret expiring soon, for the dashboard's panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpiringSecret {
    pub secret: ClientSecretInfo,
    pub application_name: String,
    pub client_id: String,
    pub organisation_id: String,
}

/// A new client secret: a name and the last day it works (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    pub name: String,
    /// Valid through the end of this day, UTC; at most one year ahead.
    pub expires_on: NaiveDate,
    /// Optional: what the secret is for (one line, at most 200 characters).
    #[serde(default)]
    pub description: String,
}

/// A public key or certificate to register for `private_key_jwt`: the portal API's body,
/// and what the CLI sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddClientKey {
    pub name: String,
    /// A PEM certificate (`BEGIN CERTIFICATE`), a PEM public key (`BEGIN PUBLIC KEY` or
    /// `BEGIN RSA PUBLIC KEY`), or a JWK as JSON. Never a private key: one is refused.
    pub key: String,
    /// For a public key or JWK: valid through the end of this day, UTC, at most one year
    /// ahead. A certificate expires at its own `notAfter`, so leave this out for one.
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
}

/// Adds a federated credential to an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddFederatedCredential {
    pub name: String,
    /// A trusted issuer's identifier, as `GET /api/v1/issuers` lists it.
    pub issuer: String,
    /// The exact `sub` to accept; no wildcards.
    pub subject: String,
    /// The `aud` the token must carry; Clavis's issuer identifier when left out.
    #[serde(default)]
    pub audience: Option<String>,
}

/// An application's `jwks_uri`, and the hosts one may name on this Clavis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwksUriSetting {
    pub jwks_uri: Option<String>,
    /// The hosts a `jwks_uri` may name (none: no `jwks_uri` is accepted).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// Sets an application's `jwks_uri`; `null` or empty removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetJwksUri {
    pub jwks_uri: Option<String>,
}

/// A new organisation: the portal API's body, and what the CLI and `orgs::create` take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrganisation {
    pub name: String,
    /// ISO 3166-1 alpha-2, such as NL.
    pub country: String,
    #[serde(default)]
    pub sandbox: bool,
    /// A shared mailbox that also gets expiry reminders.
    #[serde(default)]
    pub notification_email: Option<String>,
}

/// Changes to an organisation; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganisation {
    pub name: Option<String>,
    pub country: Option<String>,
    pub sandbox: Option<bool>,
    /// An empty string removes the address.
    pub notification_email: Option<String>,
}

/// A new API: the portal API's body, and what the CLI and `apis::create` take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApi {
    /// Short upper-case code used in application names, such as SMC.
    pub code: String,
    pub name: String,
    /// The `aud` of tokens for this API, a URI.
    pub audience: String,
    pub scopes: Vec<String>,
    /// client_ids of applications that may introspect this API's tokens.
    #[serde(default)]
    pub resource_servers: Vec<String>,
    /// What its access tokens are signed with; left out, the server's configured default
    /// (`CLAVIS_TOKEN_SIGNING_ALG`, ES256 unless changed).
    pub signing_alg: Option<SigningAlgorithm>,
}

/// Changes to an API; `scopes`, when given, is the complete new list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApi {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// When given, the complete new list of client_ids that may introspect this API's tokens.
    pub resource_servers: Option<Vec<String>>,
    /// A new signing algorithm for its tokens from now on; tokens already issued keep
    /// verifying with the key that signed them.
    pub signing_alg: Option<SigningAlgorithm>,
}

/// A new application: the portal API's body, and what the CLI and `apps::create` take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    /// The owning organisation's id (its name is accepted too, as by the CLI's `--org`).
    pub organisation_id: String,
    /// Leave out to use the conventional `Partner-<CC>-<Org>-<API>` name.
    pub name: Option<String>,
    /// Codes of the APIs it may call; it gets every scope of each.
    pub api_codes: Vec<String>,
    pub environment: Option<Environment>,
    #[serde(default)]
    pub description: String,
    pub token_lifetime_secs: Option<i32>,
    /// A GUID to keep (for example when moving a client from another server); generated
    /// when left out.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// The scopes an application holds for one API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub api_code: String,
    pub scopes: Vec<String>,
}

/// Changes to an application; `grants`, when given, replaces all of its APIs and scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApplication {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub token_lifetime_secs: Option<i32>,
    pub grants: Option<Vec<GrantRequest>>,
    /// Token requests must also prove a device of the organisation (issue 19).
    #[serde(default)]
    pub requires_device: Option<bool>,
}

/// The conventional name for an organisation's application of an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestedName {
    pub name: String,
}

/// A role for a person named by e-mail (or by their identity provider's subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantRole {
    pub email: Option<String>,
    pub subject: Option<String>,
    pub role: Role,
    /// Required for organisation roles; absent for admin.
    pub organisation_id: Option<String>,
}

/// An address that expiry reminders keep failing to reach, for admins to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailingAddress {
    pub recipient: String,
    pub organisation_id: String,
    pub organisation_name: String,
    /// Reminders to this address that have not got through.
    pub undelivered: i64,
    /// What the mail server (or the connection to it) said last.
    pub last_error: String,
    pub last_attempt_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_portal_paths_are_returned_to() {
        assert_eq!(
            safe_return_path(Some("/applications/x?tab=1")),
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
            assert_eq!(safe_return_path(Some(hostile)), "/", "{hostile}");
        }
        assert_eq!(safe_return_path(None), "/");
    }
}

/// A person to ask about an organisation's secrets: one of its credential managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub email: String,
    /// Their name as their identity provider gave it, once they have signed in.
    pub name: Option<String>,
}

/// Who an organisation's expiry reminders go to: its credential managers (the people who
/// may create and delete its secrets, and whom viewers ask) and its shared mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderRecipients {
    pub organisation_id: String,
    /// Sorted by e-mail address.
    pub credential_managers: Vec<Contact>,
    /// The organisation's shared mailbox, when it has one.
    pub notification_email: Option<String>,
    /// Whether this Clavis sends expiry reminders at all: false while no mail server is
    /// configured (`CLAVIS_SMTP_HOST`), so nobody is promised reminders that never come.
    pub reminders_sent: bool,
}

/// A new shared mailbox for an organisation's expiry reminders; empty removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetReminderMailbox {
    pub notification_email: String,
}
