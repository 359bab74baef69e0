//! Wire types of the admin console's lists (see [`crate::paging`] for search, sort and
//! paging): what a row of the applications and people lists holds, their filters, and
//! whether expiry reminders are sent at all.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dto::{Application, Role};

/// An application in the admin list: the application and its organisation's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationListing {
    #[serde(flatten)]
    pub application: Application,
    pub organisation_name: String,
}

/// Filters of the applications list, next to [`crate::paging::ListQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ApplicationFilter {
    /// Only this organisation's applications (its id).
    pub organisation: Option<String>,
}

/// Filters of the people list, next to [`crate::paging::ListQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct PeopleFilter {
    /// Only people with a role in this organisation (its id).
    pub organisation: Option<String>,
    /// Only people with this role: `admin`, `credential_manager` or `viewer`.
    pub role: Option<String>,
}

/// A person as the people list shows them: who, when they last signed in, and their roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub id: String,
    pub email: Option<String>,
    /// The OpenID Connect subject, once known.
    pub subject: Option<String>,
    pub name: Option<String>,
    /// `None` for a person designated by an admin who has not signed in yet.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub roles: Vec<PersonRole>,
}

/// One role of a [`Person`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRole {
    /// The role assignment's id (to revoke it).
    pub id: String,
    pub role: Role,
    /// `None` for admin, which is platform-wide.
    pub organisation_id: Option<String>,
    pub organisation_name: Option<String>,
    pub granted_at: DateTime<Utc>,
    pub granted_by: String,
}

/// Whether expiry reminders are sent: off when no SMTP server is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderStatus {
    pub enabled: bool,
}

/// Trusts an OpenID Connect issuer for federated credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TrustIssuer {
    /// The issuer identifier: an https URL whose `/.well-known/openid-configuration` names
    /// the same issuer and its `jwks_uri`.
    pub issuer: String,
    /// What people call it; the issuer's host when left out.
    #[serde(default)]
    pub name: Option<String>,
}
