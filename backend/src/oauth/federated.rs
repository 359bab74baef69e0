//! Federated assertions: a workload's token from a trusted OpenID Connect issuer (a
//! Kubernetes service account token, a CI job's OIDC token, a SPIFFE JWT-SVID), presented
//! as a jwt-bearer `client_assertion` (RFC 7523 §2.2) with the application's `client_id`.
//!
//! The rules, each refusal named for the audit trail ([`AuthFailure`]):
//! - one of the client's federated credentials names the token's `iss`;
//! - the signature checks with a key of that issuer ([`crate::key_sets`]), never `none` or
//!   HMAC, the `alg` one the key's type signs with;
//! - `sub` equals a credential's subject exactly, and `aud` holds that credential's
//!   audience;
//! - `exp` is present and in the future, at most [`MAX_LIFETIME_SECS`] after `iat` (or
//!   after now, without `iat`); `nbf` and `iat` within [`LEEWAY_SECS`] of clock skew.
//!
//! Unlike `private_key_jwt`, there is no `jti` rule: platforms hand a workload the same
//! token for its whole life, so the same token may be presented again while valid. A token
//! already verified is therefore remembered (as a keyed digest, never the token) until its
//! `exp`, and its signature is not checked again while its key is still published.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use quick_cache::sync::Cache;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use sha2::Sha256;
use std::sync::Arc;
use zeroize::Zeroizing;

use super::assertion::LEEWAY_SECS;
use super::authentication::{AuthFailure, Credential};
use crate::federation::{FederatedClient, StoredFederated};
use crate::key_sets::RemoteKey;

/// The longest a federated token may live, from `iat` to `exp`, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Verified tokens remembered; beyond this the least recently used are forgotten.
const REMEMBERED_TOKENS: usize = 100_000;

/// What a verified token proved, remembered by its digest until `exp`.
pub struct Verified {
    pub credential_id: String,
    pub issuer: String,
    pub subject: String,
    /// The thumbprint of the issuer's key that signed it.
    pub thumbprint: String,
    /// The token's `exp`: the access token issued on it never outlives this.
    pub expires_at: DateTime<Utc>,
}

impl Verified {
    pub fn credential(&self) -> Credential {
        Credential::Federated {
            id: self.credential_id.clone(),
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// `aud` as a JWT carries it: one text or several (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audiences {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|each| each == audience),
        }
    }
}

#[derive(Deserialize)]
struct FederatedClaims {
    /// Optional here, as `exp` below, so that a missing one is told as a missing claim.
    sub: Option<String>,
    aud: Option<Audiences>,
    /// Optional here only so that its absence is told as a missing claim rather than as a
    /// malformed token; jsonwebtoken requires it.
    exp: Option<i64>,
    iat: Option<i64>,
}

/// Checks federated assertions, remembering the ones it verified.
pub struct FederatedVerifier {
    /// Keys the digests, so remembered digests are useless outside this process.
    digest_key: Zeroizing<[u8; 32]>,
    remembered: Cache<[u8; 32], Arc<Verified>>,
}

impl Default for FederatedVerifier {
    fn default() -> Self {
        let mut digest_key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(digest_key.as_mut());
        Self {
            digest_key,
            remembered: Cache::new(REMEMBERED_TOKENS),
        }
    }
}

impl FederatedVerifier {
    /// The digest `assertion` is remembered by.
    pub fn digest(&self, assertion: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.digest_key.as_ref())
            .expect("HMAC takes any key length");
        mac.update(assertion.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// What the token with `digest` proved, if it was verified before, has not expired,
    /// and its credential is still one of `client`'s.
    pub fn remembered(
        &self,
        digest: &[u8; 32],
        client: &FederatedClient,
        now: DateTime<Utc>,
    ) -> Option<Arc<Verified>> {
        let verified = self.remembered.get(digest)?;
        let current = verified.expires_at > now
            && client
                .credentials
                .iter()
                .any(|credential| credential.id == verified.credential_id);
        current.then_some(verified)
    }

    pub fn remember(&self, digest: [u8; 32], verified: Arc<Verified>) {
        self.remembered.insert(digest, verified);
    }

    /// The credential of `client` that the token `assertion` (with `header`) from
    /// `issuer` matches, checked against the issuer's `keys`.
    ///
    /// # Errors
    /// The [`AuthFailure`] that names the first rule broken.
    pub fn verify(
        &self,
        assertion: &str,
        header: &Header,
        issuer: &str,
        client: &FederatedClient,
        keys: &[RemoteKey],
        now: DateTime<Utc>,
    ) -> Result<Verified, AuthFailure> {
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(AuthFailure::WrongAlgorithm);
        }
        let candidates: Vec<&StoredFederated> = client
            .credentials
            .iter()
            .filter(|credential| credential.issuer == issuer)
            .collect();
        if keys.is_empty() {
            return Err(AuthFailure::KeySetUnavailable);
        }
        let named: Vec<&RemoteKey> = keys
            .iter()
            .filter(|key| {
                header
                    .kid
                    .as_deref()
                    .is_none_or(|kid| key.kid.as_deref() == Some(kid) || kid == key.thumbprint)
            })
            .collect();
        if named.is_empty() {
            return Err(AuthFailure::UnknownKey);
        }
        let mut refusal = AuthFailure::WrongAlgorithm;
        for key in named {
            if !key.verifying.key_type.algorithms().contains(&header.alg) {
                continue;
            }
            match check(assertion, header.alg, key, issuer, &candidates, now) {
                Ok((credential, claims)) => {
                    let exp = claims.exp.ok_or(AuthFailure::MissingClaim)?;
                    return Ok(Verified {
                        credential_id: credential.id.clone(),
                        issuer: issuer.to_owned(),
                        subject: claims.sub.unwrap_or_default(),
                        thumbprint: key.thumbprint.clone(),
                        expires_at: DateTime::from_timestamp(exp, 0)
                            .ok_or(AuthFailure::MalformedAssertion)?,
                    });
                }
                Err(AuthFailure::BadSignature) => refusal = AuthFailure::BadSignature,
                Err(other) => return Err(other),
            }
        }
        Err(refusal)
    }
}

/// The signature with one key, then the claims: the credential among `candidates` whose
/// subject and audience the token carries.
fn check<'a>(
    assertion: &str,
    alg: Algorithm,
    key: &RemoteKey,
    issuer: &str,
    candidates: &[&'a StoredFederated],
    now: DateTime<Utc>,
) -> Result<(&'a StoredFederated, FederatedClaims), AuthFailure> {
    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    // Audiences are matched below, per credential.
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS.unsigned_abs();
    let claims =
        jsonwebtoken::decode::<FederatedClaims>(assertion, &key.verifying.decoding, &validation)
            .map_err(|error| failure_of(error.kind()))?
            .claims;
    check_lifetime(&claims, now)?;
    let (Some(subject), Some(audiences)) = (&claims.sub, &claims.aud) else {
        return Err(AuthFailure::MissingClaim);
    };
    let same_subject: Vec<&&StoredFederated> = candidates
        .iter()
        .filter(|credential| credential.subject == *subject)
        .collect();
    if same_subject.is_empty() {
        return Err(AuthFailure::WrongSubject);
    }
    let credential = same_subject
        .into_iter()
        .find(|credential| audiences.contains(&credential.audience))
        .ok_or(AuthFailure::WrongAudience)?;
    Ok((credential, claims))
}

/// `exp` in the future (the access token may not outlive it, so no leeway helps) and at
/// most [`MAX_LIFETIME_SECS`] after `iat` (or now); `iat` not in the future.
fn check_lifetime(claims: &FederatedClaims, now: DateTime<Utc>) -> Result<(), AuthFailure> {
    let now = now.timestamp();
    let issued = claims.iat.unwrap_or(now);
    if issued > now + LEEWAY_SECS {
        return Err(AuthFailure::AssertionNotYetValid);
    }
    let exp = claims.exp.ok_or(AuthFailure::MissingClaim)?;
    if exp <= now {
        return Err(AuthFailure::ExpiredAssertion);
    }
    if exp - issued.min(now) > MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AuthFailure::FederatedTooLongLived);
    }
    Ok(())
}

fn failure_of(kind: &ErrorKind) -> AuthFailure {
    match kind {
        ErrorKind::InvalidSignature => AuthFailure::BadSignature,
        ErrorKind::ExpiredSignature => AuthFailure::ExpiredAssertion,
        ErrorKind::ImmatureSignature => AuthFailure::AssertionNotYetValid,
        ErrorKind::InvalidIssuer => AuthFailure::UntrustedIssuer,
        ErrorKind::MissingRequiredClaim(_) => AuthFailure::MissingClaim,
        ErrorKind::InvalidAlgorithm => AuthFailure::WrongAlgorithm,
        _ => AuthFailure::MalformedAssertion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64, iat: Option<i64>) -> FederatedClaims {
        FederatedClaims {
            sub: Some("system:serviceaccount:ns:name".to_owned()),
            aud: Some(Audiences::One("https://clavis.example".to_owned())),
            exp: Some(exp),
            iat,
        }
    }

    #[test]
    fn lifetimes_over_an_hour_and_expired_tokens_are_refused() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let at = now.timestamp();
        assert!(check_lifetime(&claims(at + 3600, Some(at)), now).is_ok());
        assert!(check_lifetime(&claims(at + 600, None), now).is_ok());
        assert_eq!(
            check_lifetime(&claims(at + 7200, Some(at)), now),
            Err(AuthFailure::FederatedTooLongLived)
        );
        assert_eq!(
            check_lifetime(&claims(at + 7200, None), now),
            Err(AuthFailure::FederatedTooLongLived)
        );
        assert_eq!(
            check_lifetime(&claims(at - 1, Some(at - 600)), now),
            Err(AuthFailure::ExpiredAssertion)
        );
        assert_eq!(
            check_lifetime(&claims(at + 900, Some(at + 300)), now),
            Err(AuthFailure::AssertionNotYetValid)
        );
    }

    #[test]
    fn audiences_are_one_or_many() {
        let one: Audiences = serde_json::from_str(r#""a""#).unwrap();
        let many: Audiences = serde_json::from_str(r#"["b", "a"]"#).unwrap();
        assert!(one.contains("a") && many.contains("a"));
        assert!(!one.contains("b") && !many.contains("c"));
    }
}
