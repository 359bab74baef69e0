//! Device identities on the wire (issue 19): the nodes an organisation's applications run on,
//! proven beside the application's own credentials when an application requires a device.
//! A device's secrets have the shape of client secrets ([`crate::dto::ClientSecretInfo`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A device, as its organisation's members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// The device's id: a GUID, kept lower-case and hyphenated (any GUID form is accepted
    /// where it is given), as the device sends it in `X-Device-Authorization`.
    pub device_id: String,
    pub organisation_id: String,
    pub name: String,
    /// A disabled device proves nothing: its applications get no tokens on it.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Its secrets that have not expired.
    pub active_secrets: i64,
}

/// A new device: its name, and its id when it already has one (a GUID); without one, Clavis
/// generates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    pub name: String,
    #[serde(default)]
    pub device_id: Option<String>,
}

/// Enables or disables a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    pub enabled: bool,
}

/// A certificate a device proves itself with over mutual TLS, instead of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCertificate {
    pub id: String,
    pub name: String,
    /// The certificate's subject, such as `CN=ward-3-node, O=Acme`.
    pub subject: String,
    /// The SHA-256 thumbprint of its DER, base64url: what mutual TLS matches, and what a
    /// token bound to it carries as `cnf.x5t#S256`.
    pub certificate_sha256: String,
    /// The certificate's `notAfter`.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A certificate to register to a device: its name and PEM text (only the certificate; a
/// private key is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddDeviceCertificate {
    pub name: String,
    pub certificate: String,
}
