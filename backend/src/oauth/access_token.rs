//! Clavis access tokens (RFC 9068): their claims, how a presented token is verified, and
//! which tokens an application's kill switch has revoked.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{self, Keys};

/// The claims of a Clavis access token.
///
/// Besides the RFC 9068 claims it carries the private claim `client_secret_id`: the id of the
/// client secret the token was obtained with (an id, never the secret), or `client_key_id`,
/// the id of the registered public key its client assertion was signed with. Introspection needs
/// it to answer "is this token still good" after an admin deletes that secret: without it,
/// a token from a leaked and deleted secret would stay active until it expired. The id is no
/// credential (every secret's value starts with it), so resource servers may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The client itself: this is a machine-to-machine token.
    pub sub: String,
    pub client_id: String,
    /// The API's audience identifier.
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The organisation that owns the application.
    pub org_id: String,
    /// production or sandbox.
    pub environment: String,
    /// The id of the client secret the token was issued with, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_id: Option<String>,
    /// The id of the public key or certificate whose assertion (`private_key_jwt`) the token
    /// was issued on, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_id: Option<String>,
    /// The `jwks_uri` whose key signed the client assertion the token was issued on, if one
    /// did: the token stays good while the application keeps that `jwks_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_jwks_uri: Option<String>,
    /// The id of the federated credential whose workload token the token was issued on, if
    /// one was; the token never outlives that workload token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_federated_credential_id: Option<String>,
    /// The client certificate the token is bound to, when the client authenticated with one
    /// over mutual TLS (RFC 8705 §3.1): a resource server accepts the token only over a
    /// connection with that certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The device the request proved, for an application that requires one (issue 19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// A token's confirmation claim (RFC 7800 §3.1), with the member RFC 8705 §3.1 defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The SHA-256 thumbprint of the client certificate's DER, base64url without padding.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// The claims of a token Clavis signed with a published key, of type `at+jwt`, from this
/// issuer, and valid at `now`; `None` for anything else. (A token that names no credential
/// is found inactive by introspection: it cannot show that its credential still exists.)
pub fn verify(
    token: &str,
    keys: &Keys,
    issuer: &str,
    now: DateTime<Utc>,
) -> Option<AccessTokenClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let ring = keys.ring();
    let key = ring.find(header.kid.as_deref()?, now)?;
    let mut validation = jsonwebtoken::Validation::new(keys::jwt_algorithm(key.algorithm));
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "nbf", "sub", "aud"]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    (claims.exp > now.timestamp()).then_some(claims)
}

/// Whether a token issued at `iat` (seconds since the epoch) is revoked by its application's
/// kill switch, used at `tokens_revoked_before`. `iat` has whole seconds only, so a token of
/// the switch's own second counts as issued before it: the switch errs on the side of
/// revoking ([`after_kill_switch`] keeps new tokens out of that second).
pub fn revoked_by_kill_switch(iat: i64, tokens_revoked_before: Option<NaiveDateTime>) -> bool {
    tokens_revoked_before.is_some_and(|moment| iat <= moment.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kill_switch_revokes_tokens_of_its_own_second_and_before() {
        let switch = DateTime::from_timestamp(1_000, 250_000_000)
            .unwrap()
            .naive_utc();
        assert!(!revoked_by_kill_switch(999, None));
        assert!(revoked_by_kill_switch(999, Some(switch)));
        assert!(revoked_by_kill_switch(1_000, Some(switch)));
        assert!(!revoked_by_kill_switch(1_001, Some(switch)));
    }
}
