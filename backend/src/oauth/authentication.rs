//! What client authentication concludes: the credential a client proved itself with, or
//! why it failed. Below every way of authenticating (secrets, assertions), which all answer
//! in these terms.

use clavis_shared::dto::ClientKeyKind;

/// The credential a client proved itself with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A client secret, by its id.
    Secret { id: String },
    /// A registered public key or certificate (`private_key_jwt`), by its id.
    Key { id: String, kind: ClientKeyKind },
    /// A key of the application's `jwks_uri` set, by the set's URL and the key's `kid`.
    JwksUri { url: String, kid: Option<String> },
    /// A federated credential, by its id, with the issuer and subject of the token that
    /// matched it.
    Federated {
        id: String,
        issuer: String,
        subject: String,
    },
    /// A certificate from a configured CA naming what the application registered
    /// (`tls_client_auth`, RFC 8705 §2.1): the registered field and value.
    CaIssuedCertificate { field: String, value: String },
    /// A device secret, by its id: not the client's own credential, but one whose last use
    /// is recorded like the client's.
    DeviceSecret { id: String },
    /// A device's certificate, by its id, proven over mutual TLS.
    DeviceCertificate { id: String },
}

impl Credential {
    /// The secret's id, for what only secrets have (the audit trail's secret column).
    pub fn secret_id(&self) -> Option<&str> {
        match self {
            Self::Secret { id } => Some(id),
            Self::Key { .. }
            | Self::JwksUri { .. }
            | Self::Federated { .. }
            | Self::CaIssuedCertificate { .. }
            | Self::DeviceSecret { .. }
            | Self::DeviceCertificate { .. } => None,
        }
    }

    /// What the audit trail says of it: its kind and id.
    pub fn described(&self) -> serde_json::Value {
        match self {
            Self::Secret { id } => serde_json::json!({ "kind": "client_secret", "id": id }),
            Self::Key { id, kind } => serde_json::json!({ "kind": kind.as_str(), "id": id }),
            Self::JwksUri { url, kid } => {
                serde_json::json!({ "kind": "jwks_uri", "url": url, "kid": kid })
            }
            Self::Federated {
                id,
                issuer,
                subject,
            } => serde_json::json!({
                "kind": "federated", "id": id, "issuer": issuer, "subject": subject,
            }),
            Self::CaIssuedCertificate { field, value } => serde_json::json!({
                "kind": "tls_client_auth", "field": field, "value": value,
            }),
            Self::DeviceSecret { id } => serde_json::json!({ "kind": "device_secret", "id": id }),
            Self::DeviceCertificate { id } => {
                serde_json::json!({ "kind": "device_certificate", "id": id })
            }
        }
    }
}

/// Why authentication failed: recorded in the audit trail, never told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    UnknownClient,
    MalformedSecret,
    UnknownSecret,
    WrongSecret,
    ExpiredSecret,
    DisabledApplication,
    /// Not a JWS with a JSON header and claims.
    MalformedAssertion,
    /// No registered key has the assertion's `kid`, or the client has no keys.
    UnknownKey,
    /// `none`, HMAC, or an `alg` the key's type does not sign with.
    WrongAlgorithm,
    BadSignature,
    ExpiredAssertion,
    AssertionNotYetValid,
    /// `exp` more than five minutes after `iat`.
    AssertionTooLongLived,
    WrongAudience,
    /// `iss` or `sub` is not the client_id.
    WrongIssuer,
    /// No `exp`, `iss`, `sub`, `aud` or `jti`.
    MissingClaim,
    /// The `jti` was accepted before.
    ReplayedAssertion,
    ExpiredKey,
    /// No federated credential of the client names the token's issuer.
    UntrustedIssuer,
    /// No federated credential of the client for that issuer has the token's `sub`.
    WrongSubject,
    /// The key set (a `jwks_uri`'s, or an issuer's) could not be fetched, or holds no key
    /// Clavis accepts.
    KeySetUnavailable,
    /// A federated token whose `exp` is more than an hour after its `iat`.
    FederatedTooLongLived,
    /// Mutual TLS: no certificate registered to the client has the presented one's SHA-256
    /// thumbprint.
    UnknownCertificate,
    /// Mutual TLS: the presented certificate's `notBefore` is still to come.
    CertificateNotYetValid,
    /// Mutual TLS: the presented certificate (or a CA's in its chain) has expired.
    CertificateExpired,
    /// Mutual TLS: the chain leads to no configured CA (`CLAVIS_MTLS_CA_FILE`), or none is
    /// configured.
    UntrustedCertificate,
    /// Mutual TLS: a CA-issued certificate that does not name the registered subject.
    WrongCertificateSubject,
    /// Mutual TLS: a CA-issued certificate whose extended key usage excludes client
    /// authentication.
    WrongCertificatePurpose,
    /// The application does not accept the method the client used (its chosen methods).
    MethodNotAllowed,
    /// The application requires a device, and the request proved none.
    DeviceRequired,
    /// No device has the id presented (or it is not a GUID), or the secret is not one of
    /// Clavis's format.
    UnknownDevice,
    /// The device exists, and the secret presented is not one of its secrets.
    WrongDeviceSecret,
    ExpiredDeviceSecret,
    DisabledDevice,
    /// The device belongs to another organisation than the application.
    DeviceOfAnotherOrganisation,
    /// No device has the client certificate presented over mutual TLS.
    UnknownDeviceCertificate,
    ExpiredDeviceCertificate,
}

impl AuthFailure {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::MalformedSecret => "malformed_secret",
            Self::UnknownSecret => "unknown_secret",
            Self::WrongSecret => "wrong_secret",
            Self::ExpiredSecret => "expired_secret",
            Self::DisabledApplication => "disabled_application",
            Self::MalformedAssertion => "malformed_assertion",
            Self::UnknownKey => "unknown_key",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::BadSignature => "bad_signature",
            Self::ExpiredAssertion => "expired_assertion",
            Self::AssertionNotYetValid => "assertion_not_yet_valid",
            Self::AssertionTooLongLived => "assertion_too_long_lived",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::MissingClaim => "missing_claim",
            Self::ReplayedAssertion => "replayed_assertion",
            Self::ExpiredKey => "expired_key",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::WrongSubject => "wrong_subject",
            Self::KeySetUnavailable => "key_set_unavailable",
            Self::FederatedTooLongLived => "federated_too_long_lived",
            Self::UnknownCertificate => "unknown_certificate",
            Self::CertificateNotYetValid => "certificate_not_yet_valid",
            Self::CertificateExpired => "certificate_expired",
            Self::UntrustedCertificate => "untrusted_certificate",
            Self::WrongCertificateSubject => "wrong_certificate_subject",
            Self::WrongCertificatePurpose => "wrong_certificate_purpose",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::DeviceRequired => "device_required",
            Self::UnknownDevice => "unknown_device",
            Self::WrongDeviceSecret => "wrong_device_secret",
            Self::ExpiredDeviceSecret => "expired_device_secret",
            Self::DisabledDevice => "disabled_device",
            Self::DeviceOfAnotherOrganisation => "device_of_another_organisation",
            Self::UnknownDeviceCertificate => "unknown_device_certificate",
            Self::ExpiredDeviceCertificate => "expired_device_certificate",
        }
    }
}
