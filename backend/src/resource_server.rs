//! For resource servers: verifying a Clavis access token that is bound to a client
//! certificate (RFC 8705 §3), offline, with Clavis's published JWKS.
//!
//! ```no_run
//! # fn handle(token: &str, jwks_json: &str, client_certificate_der: Option<&[u8]>) {
//! use clavis::resource_server::{BoundTokenCheck, verify_bound_token};
//! let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks_json).unwrap();
//! let check = BoundTokenCheck {
//!     issuer: "https://clavis.example",
//!     audience: "https://api.example/billing",
//! };
//! match verify_bound_token(token, &jwks, &check, client_certificate_der, chrono::Utc::now()) {
//!     Ok(claims) => println!("token of {} with scope {}", claims.client_id, claims.scope),
//!     Err(rejected) => println!("401: {rejected}"),
//! }
//! # }
//! ```

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::str::FromStr;
use subtle::ConstantTimeEq;

use crate::client_keys::public_key::certificate_sha256;
use crate::oauth::AccessTokenClaims;

/// What the resource server expects of a token.
#[derive(Debug, Clone, Copy)]
pub struct BoundTokenCheck<'a> {
    /// Clavis's issuer identifier (its metadata's `issuer`).
    pub issuer: &'a str,
    /// The resource server's own API audience.
    pub audience: &'a str,
}

/// Why a token was rejected; answer `401` with `WWW-Authenticate: Bearer
/// error="invalid_token"` for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RejectedToken {
    #[error("the token is not a Clavis access token (a JWT of type at+jwt with a kid)")]
    Malformed,
    #[error("no key of the JWKS has the token's kid, or the signature does not verify")]
    BadSignature,
    #[error("the token is expired, not yet valid, or for another issuer or audience")]
    InvalidClaims,
    #[error("the token is not bound to a client certificate (it has no cnf with x5t#S256)")]
    NotBound,
    #[error("the request came without a client certificate, and the token is bound to one")]
    NoCertificate,
    #[error("the client certificate of the request is not the one the token is bound to")]
    WrongCertificate,
}

/// The claims of `token` when it is a Clavis access token (RFC 9068: type `at+jwt`) signed
/// with a key of `jwks`, from `check.issuer`, for `check.audience`, valid at `now`, and bound
/// to `client_certificate` (the DER of the certificate the request's TLS connection, or the
/// resource server's proxy, presented): its `cnf` `x5t#S256` must be that certificate's
/// SHA-256 thumbprint (RFC 8705 §3.1).
///
/// # Errors
/// The [`RejectedToken`] of the first check that fails.
pub fn verify_bound_token(
    token: &str,
    jwks: &JwkSet,
    check: &BoundTokenCheck<'_>,
    client_certificate: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<AccessTokenClaims, RejectedToken> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| RejectedToken::Malformed)?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(RejectedToken::Malformed);
    }
    let kid = header.kid.as_deref().ok_or(RejectedToken::Malformed)?;
    let jwk = jwks.find(kid).ok_or(RejectedToken::BadSignature)?;
    // The algorithm is the key's, never the token's choice (RFC 8725 §3.1), and never a
    // shared-secret one: Clavis publishes only public keys.
    let algorithm = key_algorithm(jwk).ok_or(RejectedToken::BadSignature)?;
    if header.alg != algorithm {
        return Err(RejectedToken::BadSignature);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| RejectedToken::BadSignature)?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[check.issuer]);
    validation.set_audience(&[check.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "nbf"]);
    // Times are checked against `now` below, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key, &validation)
        .map_err(|error| rejection_of(error.kind()))?
        .claims;
    let now = now.timestamp();
    if claims.exp <= now || claims.nbf > now + NBF_LEEWAY_SECS {
        return Err(RejectedToken::InvalidClaims);
    }
    let bound_to = claims.cnf.as_ref().ok_or(RejectedToken::NotBound)?;
    let presented = certificate_sha256(client_certificate.ok_or(RejectedToken::NoCertificate)?);
    if !bool::from(presented.as_bytes().ct_eq(bound_to.x5t_s256.as_bytes())) {
        return Err(RejectedToken::WrongCertificate);
    }
    Ok(claims)
}

/// Clock skew allowed for `nbf`, in seconds: the resource server's clock may lag Clavis's.
/// `exp` gets none.
const NBF_LEEWAY_SECS: i64 = 30;

/// The signature algorithm of a public JWK: its `alg`, which Clavis always publishes.
/// `None` for a JWK without one, or with a shared-secret (HMAC) algorithm.
fn key_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let alg = jwk.common.key_algorithm?;
    let algorithm = Algorithm::from_str(&alg.to_string()).ok()?;
    (!matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ))
    .then_some(algorithm)
}

fn rejection_of(kind: &ErrorKind) -> RejectedToken {
    match kind {
        ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::MissingRequiredClaim(_) => RejectedToken::InvalidClaims,
        ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => RejectedToken::Malformed,
        // The signature, the key or the algorithm.
        _ => RejectedToken::BadSignature,
    }
}
