//! `private_key_jwt` (RFC 7523 §2.2 and §3, RFC 7521 §4.2): a client proves itself with a
//! JWT it signed with a key registered for it.
//!
//! The rules, each refusal named for the audit trail ([`AuthFailure`]):
//! - the header's `alg` is one the key's type signs with: never `none`, never HMAC;
//! - the key is one of the client's, named by the header's `kid` (its registered kid or its
//!   RFC 7638 thumbprint) or, without a `kid`, any of its keys the signature fits;
//! - `iss` and `sub` are the client_id, and `aud` holds Clavis's issuer identifier or its
//!   token endpoint URL;
//! - `exp` is present and at most [`MAX_LIFETIME_SECS`] after `iat` (or after now, without
//!   `iat`), within [`LEEWAY_SECS`] of clock skew;
//! - `jti` is present and never accepted twice while the assertion is valid
//!   ([`super::replay`]).

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use quick_cache::sync::Cache;
use serde::Deserialize;
use std::sync::Arc;

use super::authentication::{AuthFailure, Credential};
use crate::client_keys::public_key::VerifyingKey;
use crate::client_keys::{KeyedClient, StoredKey};
use crate::key_sets::RemoteKey;

/// The registered value of `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live, from `iat` to `exp`, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew allowed between the client and Clavis, in seconds.
pub const LEEWAY_SECS: i64 = 30;
/// Longest `jti` accepted, in characters.
const MAX_JTI_CHARS: usize = 255;
/// Parsed keys remembered, by key id: a stored key never changes, only goes away.
const REMEMBERED_KEYS: usize = 10_000;

/// The claims checked besides those jsonwebtoken validates (`exp`, `iss`, `sub`, `aud`).
#[derive(Deserialize)]
struct AssertionClaims {
    /// Optional here only so that its absence is told as a missing claim rather than as a
    /// malformed assertion; jsonwebtoken requires it.
    exp: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

/// An assertion whose signature and claims passed: the credential that signed it, and what
/// the replay record needs.
pub struct VerifiedAssertion {
    pub credential: Credential,
    pub jti: String,
    /// When the assertion stops being valid (its `exp` plus the leeway).
    pub valid_until: DateTime<Utc>,
}

/// A key an assertion may have been signed with.
struct Candidate {
    credential: Credential,
    /// A registered key's expiry; a key set's keys have none of their own.
    expires_at: Option<DateTime<Utc>>,
    verifying: Arc<VerifyingKey>,
}

/// Checks client assertions against the client's registered keys and its `jwks_uri`'s.
pub struct AssertionVerifier {
    /// The `aud` values accepted: the issuer identifier and the token endpoint URL.
    audiences: Vec<String>,
    /// Registered keys' parsed forms, by key id.
    parsed: Cache<String, Arc<VerifyingKey>>,
}

impl AssertionVerifier {
    /// Accepts assertions addressed to `issuer` or to one of `token_endpoints` (RFC 7523
    /// §3: the public one, and its mutual TLS alias where there is one).
    pub fn new(issuer: &str, token_endpoints: &[String]) -> Self {
        let mut audiences = vec![issuer.to_owned()];
        audiences.extend(token_endpoints.iter().cloned());
        Self {
            audiences,
            parsed: Cache::new(REMEMBERED_KEYS),
        }
    }

    /// The credential of `client` that signed `assertion` (whose `header` the caller read),
    /// a registered key or a key of `remote`, the client's `jwks_uri` set, if the
    /// assertion passes every rule but the replay check, which needs the database.
    ///
    /// # Errors
    /// The [`AuthFailure`] that names the first rule broken.
    pub fn verify(
        &self,
        assertion: &str,
        header: &Header,
        client: &KeyedClient,
        remote: &[RemoteKey],
        now: DateTime<Utc>,
    ) -> Result<VerifiedAssertion, AuthFailure> {
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(AuthFailure::WrongAlgorithm);
        }
        let candidates = self.candidates(client, remote, header.kid.as_deref());
        if candidates.is_empty() {
            // Nothing registered fits and the key set could not be had: say so, rather
            // than blame the client's kid.
            let unavailable = client.jwks_uri.is_some() && remote.is_empty();
            return Err(if unavailable {
                AuthFailure::KeySetUnavailable
            } else {
                AuthFailure::UnknownKey
            });
        }
        let mut refusal = AuthFailure::WrongAlgorithm;
        for candidate in candidates {
            if !candidate
                .verifying
                .key_type
                .algorithms()
                .contains(&header.alg)
            {
                continue;
            }
            match self.check(
                assertion,
                header.alg,
                &candidate.verifying,
                &client.application.client_id,
                now,
            ) {
                Ok(claims) => return verified(candidate, claims, now),
                Err(AuthFailure::BadSignature) => refusal = AuthFailure::BadSignature,
                Err(other) => return Err(other),
            }
        }
        Err(refusal)
    }

    /// The keys `kid` may name (every key without a `kid`): registered keys by their kid or
    /// thumbprint, then the key set's.
    fn candidates(
        &self,
        client: &KeyedClient,
        remote: &[RemoteKey],
        kid: Option<&str>,
    ) -> Vec<Candidate> {
        let registered = client
            .keys
            .iter()
            .filter(|key| kid.is_none_or(|kid| kid == key.kid || kid == key.thumbprint))
            .filter_map(|key| {
                Some(Candidate {
                    credential: Credential::Key {
                        id: key.id.clone(),
                        kind: key.kind,
                    },
                    expires_at: Some(key.expires_at),
                    verifying: self.parsed(key)?,
                })
            });
        let url = client.jwks_uri.clone().unwrap_or_default();
        let fetched = remote
            .iter()
            .filter(|key| {
                kid.is_none_or(|kid| key.kid.as_deref() == Some(kid) || kid == key.thumbprint)
            })
            .map(|key| Candidate {
                credential: Credential::JwksUri {
                    url: url.clone(),
                    kid: key.kid.clone(),
                },
                expires_at: None,
                verifying: Arc::clone(&key.verifying),
            });
        registered.chain(fetched).collect()
    }

    /// A registered key's parsed form, remembered by its id; `None` (logged) for a stored
    /// key that cannot be used, which only a change outside Clavis could make.
    fn parsed(&self, key: &StoredKey) -> Option<Arc<VerifyingKey>> {
        if let Some(parsed) = self.parsed.get(&key.id) {
            return Some(parsed);
        }
        match VerifyingKey::of_jwk(&key.public_jwk) {
            Ok(parsed) => {
                let parsed = Arc::new(parsed);
                self.parsed.insert(key.id.clone(), Arc::clone(&parsed));
                Some(parsed)
            }
            Err(error) => {
                tracing::error!(key_id = %key.id, %error, "a stored client key cannot be used");
                None
            }
        }
    }

    /// The signature with one key, then the claims.
    fn check(
        &self,
        assertion: &str,
        alg: Algorithm,
        key: &VerifyingKey,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<AssertionClaims, AuthFailure> {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[client_id]);
        validation.sub = Some(client_id.to_owned());
        validation.set_audience(&self.audiences);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key.decoding, &validation)
            .map_err(|error| failure_of(error.kind()))?
            .claims;
        check_lifetime(&claims, now)?;
        Ok(claims)
    }
}

/// Why an assertion's header cannot be read, or `None` when it can: `none` (which
/// jsonwebtoken does not know) is a wrong algorithm, anything else is malformed.
pub fn unreadable_header(assertion: &str) -> Option<AuthFailure> {
    if jsonwebtoken::decode_header(assertion).is_ok() {
        return None;
    }
    Some(
        if unverified_alg(assertion).is_some_and(|alg| alg.eq_ignore_ascii_case("none")) {
            AuthFailure::WrongAlgorithm
        } else {
            AuthFailure::MalformedAssertion
        },
    )
}

/// Whether the JWS header names critical extensions (`crit`, RFC 7515 §4.1.11). Clavis
/// understands none, so such an assertion must be refused, as that section requires.
pub fn has_critical_extensions(assertion: &str) -> bool {
    #[derive(Deserialize)]
    struct Header {
        crit: Option<serde::de::IgnoredAny>,
    }
    unverified_part::<Header>(assertion, 0).is_some_and(|header| header.crit.is_some())
}

/// `exp` at most [`MAX_LIFETIME_SECS`] after `iat` (or now), and `iat` not in the future.
fn check_lifetime(claims: &AssertionClaims, now: DateTime<Utc>) -> Result<(), AuthFailure> {
    let now = now.timestamp();
    let issued = claims.iat.unwrap_or(now);
    if issued > now + LEEWAY_SECS {
        return Err(AuthFailure::AssertionNotYetValid);
    }
    let exp = claims.exp.ok_or(AuthFailure::MissingClaim)?;
    if exp - issued.min(now) > MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AuthFailure::AssertionTooLongLived);
    }
    Ok(())
}

fn verified(
    candidate: Candidate,
    claims: AssertionClaims,
    now: DateTime<Utc>,
) -> Result<VerifiedAssertion, AuthFailure> {
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS)
        .ok_or(AuthFailure::MissingClaim)?;
    if candidate
        .expires_at
        .is_some_and(|expires_at| expires_at <= now)
    {
        return Err(AuthFailure::ExpiredKey);
    }
    let exp = claims.exp.ok_or(AuthFailure::MissingClaim)?;
    let valid_until =
        DateTime::from_timestamp(exp + LEEWAY_SECS, 0).ok_or(AuthFailure::MalformedAssertion)?;
    Ok(VerifiedAssertion {
        credential: candidate.credential,
        jti,
        valid_until,
    })
}

fn failure_of(kind: &ErrorKind) -> AuthFailure {
    match kind {
        ErrorKind::InvalidSignature => AuthFailure::BadSignature,
        ErrorKind::ExpiredSignature => AuthFailure::ExpiredAssertion,
        ErrorKind::ImmatureSignature => AuthFailure::AssertionNotYetValid,
        ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
        ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => AuthFailure::WrongIssuer,
        ErrorKind::MissingRequiredClaim(_) => AuthFailure::MissingClaim,
        ErrorKind::InvalidAlgorithm => AuthFailure::WrongAlgorithm,
        _ => AuthFailure::MalformedAssertion,
    }
}

/// A JWT's `iss` and `sub`, read without checking its signature: only to learn which
/// client it names and whether it is federated. `None` for a claim that is missing or not
/// text, both for a value that is not a JWT.
#[derive(Deserialize, Default)]
pub struct Named {
    pub iss: Option<String>,
    pub sub: Option<String>,
}

pub fn unverified_names(assertion: &str) -> Named {
    #[derive(Deserialize)]
    struct Claims {
        iss: Option<serde_json::Value>,
        sub: Option<serde_json::Value>,
    }
    let text = |value: Option<serde_json::Value>| match value {
        Some(serde_json::Value::String(text)) => Some(text),
        _ => None,
    };
    unverified_part::<Claims>(assertion, 1).map_or_else(Named::default, |claims| Named {
        iss: text(claims.iss),
        sub: text(claims.sub),
    })
}

fn unverified_alg(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    unverified_part::<Header>(assertion, 0).map(|header| header.alg)
}

fn unverified_part<T: serde::de::DeserializeOwned>(assertion: &str, index: usize) -> Option<T> {
    use base64::Engine;
    let part = assertion.split('.').nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, iat: Option<i64>) -> AssertionClaims {
        AssertionClaims {
            exp: Some(exp),
            iat,
            jti: Some("j".to_owned()),
        }
    }

    #[test]
    fn lifetimes_over_five_minutes_are_refused() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let at = now.timestamp();
        assert!(check_lifetime(&claims(at + 300, Some(at)), now).is_ok());
        assert!(check_lifetime(&claims(at + 300, None), now).is_ok());
        assert_eq!(
            check_lifetime(&claims(at + 3600, Some(at)), now),
            Err(AuthFailure::AssertionTooLongLived)
        );
        assert_eq!(
            check_lifetime(&claims(at + 3600, None), now),
            Err(AuthFailure::AssertionTooLongLived)
        );
        assert_eq!(
            check_lifetime(&claims(at + 700, Some(at + 400)), now),
            Err(AuthFailure::AssertionNotYetValid)
        );
    }

    #[test]
    fn critical_extensions_are_noticed() {
        use base64::Engine;
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let with_crit = format!(
            "{}.{}.sig",
            encode(r#"{"alg":"ES256","crit":["b64"],"b64":false}"#),
            encode("{}")
        );
        let plain = format!("{}.{}.sig", encode(r#"{"alg":"ES256"}"#), encode("{}"));
        assert!(has_critical_extensions(&with_crit));
        assert!(!has_critical_extensions(&plain));
    }

    #[test]
    fn the_subject_is_read_without_the_signature() {
        use base64::Engine;
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let jwt = format!(
            "{}.{}.sig",
            encode(r#"{"alg":"none"}"#),
            encode(r#"{"sub":"client-1"}"#)
        );
        assert_eq!(unverified_names(&jwt).sub.as_deref(), Some("client-1"));
        assert_eq!(unverified_alg(&jwt).as_deref(), Some("none"));
        assert_eq!(unverified_names("not a jwt").sub, None);
    }
}
