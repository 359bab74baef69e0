//! What Clavis sends over the wire: the portal API's responses and the CLI's `--json` output.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use crate::reminders::EXPIRING_WITHIN_DAYS;

/// Where an application's tokens are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Sandbox,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "sandbox" => Ok(Self::Sandbox),
            other => Err(format!(
                "\"{other}\" is not an environment: use production or sandbox."
            )),
        }
    }
}

/// The JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1) an API's access tokens are signed with.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: the default, small and fast.
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys): the one RFC 9068 §2.1 requires every
    /// resource server to support.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    /// Every algorithm, in the order people are offered them.
    pub const ALL: [Self; 3] = [Self::Es256, Self::Rs256, Self::EdDsa];

    /// The JWS `alg` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm whose JWS `alg` value is exactly `alg`.
    pub fn named(alg: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == alg)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;
    /// Exactly the JWS `alg` value; anything else gets a message naming the accepted ones.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::named(s).ok_or_else(|| {
            format!("\"{s}\" is not a signing algorithm: use ES256, RS256 or EdDSA.")
        })
    }
}

/// What a person may do: everywhere (admin) or within one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Platform admin: manages organisations, APIs, applications and people.
    Admin,
    /// May view, create and delete the organisation's client secrets.
    CredentialManager,
    /// May view the organisation's applications and secrets, but change nothing.
    Viewer,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::CredentialManager => "credential_manager",
            Self::Viewer => "viewer",
        }
    }

    /// Whether the role may create and delete client secrets: admins and credential managers
    /// may, viewers may not. The backend enforces it; the portal shows controls by it.
    pub const fn may_manage_secrets(self) -> bool {
        matches!(self, Self::Admin | Self::CredentialManager)
    }

    /// Organisation roles apply to one organisation; admin applies to the whole platform.
    pub const fn is_per_organisation(self) -> bool {
        !matches!(self, Self::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "credential_manager" => Ok(Self::CredentialManager),
            "viewer" => Ok(Self::Viewer),
            other => Err(format!(
                "\"{other}\" is not a role: use admin, credential_manager or viewer."
            )),
        }
    }
}

/// A secret's state as contacts see it; reminders and badges use the same rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecretStatus {
    Active,
    /// Its first expiry reminder is due: [`EXPIRING_WITHIN_DAYS`] calendar days or fewer left.
    Expiring,
    /// Still valid, but a newer secret of the same application expires later: its reminders
    /// have stopped, and it can be deleted once nothing uses it.
    Replaced,
    Expired,
}

impl SecretStatus {
    pub fn of(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if expires_at <= now {
            Self::Expired
        } else if crate::reminders::is_expiring(expires_at, now) {
            Self::Expiring
        } else {
            Self::Active
        }
    }

    /// The status of one of an application's secrets, given all of them (`siblings`).
    pub fn among(
        life: crate::reminders::SecretLife,
        siblings: &[crate::reminders::SecretLife],
        now: DateTime<Utc>,
    ) -> Self {
        match Self::of(life.expires_at, now) {
            Self::Expired => Self::Expired,
            _ if life.is_replaced_among(siblings, now) => Self::Replaced,
            status => status,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expiring => "expiring",
            Self::Replaced => "replaced",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organisation {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// A sandbox-only organisation, for implementers to test their integration.
    pub sandbox: bool,
    pub created_at: DateTime<Utc>,
    /// A shared mailbox that gets expiry reminders besides the credential managers.
    #[serde(default)]
    pub notification_email: Option<String>,
}

/// A resource server that access tokens are issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Api {
    pub id: String,
    /// Short code used in application names, such as `SMC`.
    pub code: String,
    pub name: String,
    /// The `aud` of tokens issued for this API.
    pub audience: String,
    pub scopes: Vec<String>,
    /// client_ids of the applications registered as this API's resource servers: besides a
    /// token's own client, only they may introspect its tokens (RFC 7662 §4).
    #[serde(default)]
    pub resource_servers: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// What its access tokens are signed with; `null` for an API registered before APIs had
    /// their own algorithm, which signs with the server's `CLAVIS_TOKEN_SIGNING_ALG`.
    pub signing_alg: Option<SigningAlgorithm>,
}

/// An API an application may receive tokens for, with the scopes it was granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiGrant {
    pub api_code: String,
    pub audience: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Application {
    pub id: String,
    pub organisation_id: String,
    pub name: String,
    /// Permanent OAuth client identifier.
    pub client_id: String,
    pub description: String,
    pub environment: Environment,
    pub enabled: bool,
    pub token_lifetime_secs: i32,
    pub grants: Vec<ApiGrant>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The kill switch: its tokens issued at or before this moment are inactive in
    /// introspection. `None` until an admin first uses it.
    #[serde(default)]
    pub tokens_revoked_before: Option<DateTime<Utc>>,
    /// Its token requests must also prove an enabled device of its organisation
    /// (`X-Device-Authorization`).
    #[serde(default)]
    pub requires_device: bool,
}

/// What is shown of a client secret after it was created: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSecretInfo {
    pub id: String,
    pub name: String,
    /// The first three characters of the value, so people can tell secrets apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub status: SecretStatus,
    /// What the secret is for, in its people's words; empty when none was given (at most
    /// [`crate::validate::MAX_SECRET_DESCRIPTION_CHARS`] characters).
    #[serde(default)]
    pub description: String,
}

/// How a public key was registered for `private_key_jwt` (RFC 7523 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientKeyKind {
    /// A PEM X.509 certificate: the key expires at the certificate's `notAfter`.
    Certificate,
    /// A PEM public key (SubjectPublicKeyInfo), with an expiry chosen like a secret's.
    PublicKey,
    /// A JSON Web Key (RFC 7517), with an expiry chosen like a secret's.
    Jwk,
}

impl ClientKeyKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::PublicKey => "public_key",
            Self::Jwk => "jwk",
        }
    }

    /// As people read it in the portal.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Certificate => "Certificate",
            Self::PublicKey => "Public key",
            Self::Jwk => "JWK",
        }
    }

    /// As a sentence names it: `certificate`, `public key`, `JWK`.
    pub const fn noun(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::PublicKey => "public key",
            Self::Jwk => "JWK",
        }
    }

    /// The kind stored as [`Self::as_str`]; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Certificate, Self::PublicKey, Self::Jwk]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A public key (or certificate) an application proves itself with: never a private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientKeyInfo {
    pub id: String,
    pub name: String,
    pub kind: ClientKeyKind,
    /// The key's type and size, as people read it: `RSA 2048`, `EC P-256`, `EC P-384` or
    /// `Ed25519`.
    pub key_type: String,
    /// The `kid` an assertion's header names it by: the JWK's own `kid`, or else the
    /// thumbprint.
    pub kid: String,
    /// The key's SHA-256 JWK thumbprint (RFC 7638), base64url; its first characters are the
    /// hint people tell keys apart by.
    pub thumbprint: String,
    /// For a certificate, its subject (such as `CN=billing`); empty otherwise.
    #[serde(default)]
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub status: SecretStatus,
}

/// An OpenID Connect issuer whose tokens may stand for applications (federated workload
/// identity): a Kubernetes cluster's service account issuer, a CI system, a SPIFFE OIDC
/// discovery provider. Admins trust and untrust issuers; everyone signed in may list them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrustedIssuerInfo {
    pub id: String,
    /// The issuer identifier, exactly as its tokens carry it in `iss`.
    pub issuer: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// How many federated credentials name this issuer (it cannot be untrusted until none).
    pub credentials: i64,
}

/// A federated credential: tokens from `issuer` with exactly this `subject` and `audience`
/// prove the application, with nothing secret stored anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FederatedCredentialInfo {
    pub id: String,
    pub name: String,
    /// The trusted issuer's identifier (`iss`).
    pub issuer: String,
    /// The trusted issuer's name, as admins gave it.
    pub issuer_name: String,
    /// The exact `sub` accepted, such as `system:serviceaccount:billing:exporter`.
    pub subject: String,
    /// The `aud` the token must carry.
    pub audience: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A freshly created secret: the only response that ever carries its value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewClientSecret {
    #[serde(flatten)]
    pub info: ClientSecretInfo,
    pub value: String,
}

impl fmt::Debug for NewClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClientSecret")
            .field("info", &self.info)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// A role given to a person, who is known by e-mail or OIDC subject until their first login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleAssignment {
    pub id: String,
    pub role: Role,
    pub organisation_id: Option<String>,
    pub user_id: String,
    pub email: Option<String>,
    pub subject: Option<String>,
    pub granted_at: DateTime<Utc>,
    pub granted_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn status_follows_the_six_week_rule() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        assert_eq!(
            SecretStatus::of(now + Duration::days(43), now),
            SecretStatus::Active
        );
        assert_eq!(
            SecretStatus::of(now + Duration::days(42), now),
            SecretStatus::Expiring
        );
        assert_eq!(
            SecretStatus::of(now + Duration::seconds(1), now),
            SecretStatus::Expiring
        );
        assert_eq!(SecretStatus::of(now, now), SecretStatus::Expired);
    }

    #[test]
    fn new_secret_debug_hides_the_value() {
        let now = Utc::now();
        let secret = NewClientSecret {
            info: ClientSecretInfo {
                id: "id".into(),
                name: "ci".into(),
                hint: "abc".into(),
                created_at: now,
                created_by: "cli".into(),
                expires_at: now,
                last_used_at: None,
                status: SecretStatus::Active,
                description: String::new(),
            },
            value: "abc_clv1_supersecretvalue".into(),
        };
        let shown = format!("{secret:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        let json = serde_json::to_value(&secret).unwrap();
        assert_eq!(json["value"], "abc_clv1_supersecretvalue");
        assert_eq!(json["hint"], "abc");
    }

    #[test]
    fn roles_and_environments_round_trip() {
        for role in [Role::Admin, Role::CredentialManager, Role::Viewer] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("owner".parse::<Role>().is_err());
        assert_eq!(
            "sandbox".parse::<Environment>().unwrap(),
            Environment::Sandbox
        );
    }
}
