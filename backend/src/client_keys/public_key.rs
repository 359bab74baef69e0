//! Reading the public key people paste or upload: a PEM X.509 certificate, a PEM public key
//! (SubjectPublicKeyInfo, or PKCS#1 `RSA PUBLIC KEY`) or a JWK (RFC 7517).
//!
//! Accepted: RSA of 2048 to 8192 bits, EC on P-256 or P-384 (uncompressed points on the
//! curve), and Ed25519; the same set `private_key_jwt` assertions may be signed with
//! (RFC 7518 §3). A private key is refused before anything is kept of it, with a message
//! that says why, and the refusal never repeats the text.

use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clavis_shared::dto::ClientKeyKind;
use clavis_shared::validate::{self, ValidationError};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
use x509_parser::public_key::RSAPublicKey;

/// Longer text is no single public key or certificate.
const MAX_TEXT_BYTES: usize = 16 * 1024;
/// RSA moduli accepted, in bits: 2048 is the floor of RFC 7518 §3.3; beyond 8192 a
/// signature check costs more than a token is worth.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;
/// Longest `kid` kept from a JWK.
const MAX_KID_CHARS: usize = 200;
/// What the refusals say is accepted.
pub const ACCEPTED: &str = "Clavis accepts RSA keys of 2048 to 8192 bits, EC keys on P-256 or P-384, and Ed25519 keys, as a PEM certificate, a PEM public key or a JWK.";

/// A key's type, which fixes the `alg` values its assertions may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa { bits: usize },
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    /// As people read it: `RSA 2048`, `EC P-256`, `EC P-384`, `Ed25519`.
    pub fn label(self) -> String {
        match self {
            Self::Rsa { bits } => format!("RSA {bits}"),
            Self::P256 => "EC P-256".to_owned(),
            Self::P384 => "EC P-384".to_owned(),
            Self::Ed25519 => "Ed25519".to_owned(),
        }
    }

    /// The JWS algorithms a key of this type signs with (RFC 7518 §3.1, RFC 8037 §3.1):
    /// never `none`, never HMAC.
    pub const fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Self::Rsa { .. } => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            Self::P256 => &[Algorithm::ES256],
            Self::P384 => &[Algorithm::ES384],
            Self::Ed25519 => &[Algorithm::EdDSA],
        }
    }
}

/// A public key ready to check signatures: its type fixes the algorithms it may check.
pub struct VerifyingKey {
    pub key_type: KeyType,
    pub decoding: jsonwebtoken::DecodingKey,
}

impl VerifyingKey {
    /// The key of a public JWK, as stored or as a key set serves it.
    ///
    /// # Errors
    /// As [`read`], or when jsonwebtoken cannot use the key.
    pub fn of_jwk(jwk: &str) -> Result<Self, ValidationError> {
        let material = read(jwk)?;
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_str(jwk)
            .map_err(|_| refused("This JWK's members are not those of a public key."))?;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&parsed)
            .map_err(|_| refused(format!("This key cannot check signatures. {ACCEPTED}")))?;
        Ok(Self {
            key_type: material.key_type,
            decoding,
        })
    }
}

/// What a certificate adds to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Its subject, such as `CN=billing, O=Acme`.
    pub subject: String,
    /// Its `notBefore`: a device certificate proves nothing before it.
    pub not_before: DateTime<Utc>,
    /// Its `notAfter`: the key's expiry.
    pub not_after: DateTime<Utc>,
    /// Its SHA-256 thumbprint ([`certificate_sha256`]), which mutual TLS matches.
    pub sha256: String,
}

/// The SHA-256 thumbprint of a certificate's DER, base64url without padding: the form of
/// `x5t#S256` (RFC 8705 section 3.1, RFC 7515 section 4.1.8).
pub fn certificate_sha256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// A public key read from what was pasted: only public material.
#[derive(Debug, Clone)]
pub struct PublicKeyMaterial {
    pub kind: ClientKeyKind,
    pub key_type: KeyType,
    /// The public JWK: `kty` and the key's public members only.
    pub jwk: Value,
    /// Its SHA-256 JWK thumbprint (RFC 7638), base64url.
    pub thumbprint: String,
    /// The JWK's own `kid`, if it had one.
    pub kid: Option<String>,
    pub certificate: Option<CertificateFacts>,
}

fn refused(message: impl Into<String>) -> ValidationError {
    ValidationError::new("key", message)
}

/// Reads `text`: a PEM certificate, a PEM public key or a JWK.
///
/// # Errors
/// A [`ValidationError`] on the field `key` that says what is wrong: nothing pasted, a
/// private key, text that is none of the three, a malformed one, or a key of a type or
/// size Clavis does not accept ([`ACCEPTED`]).
pub fn read(text: &str) -> Result<PublicKeyMaterial, ValidationError> {
    let text = text.trim();
    validate::pasted_key(text)?;
    if text.len() > MAX_TEXT_BYTES {
        return Err(refused(format!(
            "This is longer than {} KiB: no single public key or certificate is. Give one key or one certificate.",
            MAX_TEXT_BYTES / 1024
        )));
    }
    if text.starts_with('{') {
        return read_jwk(text);
    }
    if text.starts_with("-----BEGIN ") {
        return read_pem(text);
    }
    Err(refused(
        "This is not a PEM certificate (-----BEGIN CERTIFICATE-----), a PEM public key (-----BEGIN PUBLIC KEY-----) or a JWK (a JSON object).",
    ))
}

fn read_pem(text: &str) -> Result<PublicKeyMaterial, ValidationError> {
    let blocks = text.matches("-----BEGIN ").count();
    if blocks > 1 {
        // A chain's first certificate is usually the client's own, but not always: guessing
        // could register a CA's key as the client's.
        return Err(refused(format!(
            "This holds {blocks} PEM blocks, such as a certificate chain. Register one key or certificate: the client's own."
        )));
    }
    let (pem, _) = Pem::read(std::io::Cursor::new(text.as_bytes())).map_err(|_| {
        refused(
            "The PEM text is malformed: its BEGIN and END lines or its base64 content are damaged.",
        )
    })?;
    match pem.label.as_str() {
        "CERTIFICATE" => read_certificate(&pem.contents),
        "PUBLIC KEY" => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&pem.contents)
                .map_err(|_| refused("The PEM public key is malformed."))?;
            let (key_type, jwk) = spki_jwk(&spki)?;
            Ok(material(
                ClientKeyKind::PublicKey,
                key_type,
                jwk,
                None,
                None,
            ))
        }
        "RSA PUBLIC KEY" => {
            let (_, rsa) = RSAPublicKey::from_der(&pem.contents)
                .map_err(|_| refused("The PEM RSA public key is malformed."))?;
            let (key_type, jwk) = rsa_jwk(rsa.modulus, rsa.exponent)?;
            Ok(material(
                ClientKeyKind::PublicKey,
                key_type,
                jwk,
                None,
                None,
            ))
        }
        other => Err(refused(format!(
            "A PEM block labelled {other:?} is neither a certificate nor a public key."
        ))),
    }
}

fn read_certificate(der: &[u8]) -> Result<PublicKeyMaterial, ValidationError> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| refused("The PEM certificate is malformed."))?;
    let (key_type, jwk) = spki_jwk(certificate.public_key())?;
    let not_after = DateTime::from_timestamp(certificate.validity().not_after.timestamp(), 0)
        .ok_or_else(|| refused("The certificate's expiry (notAfter) is out of range."))?;
    let not_before = DateTime::from_timestamp(certificate.validity().not_before.timestamp(), 0)
        .ok_or_else(|| refused("The certificate's start (notBefore) is out of range."))?;
    let facts = CertificateFacts {
        // Shown in the portal and the audit trail: a control character there could only
        // confuse whoever reads it.
        subject: certificate
            .subject()
            .to_string()
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        not_before,
        not_after,
        sha256: certificate_sha256(der),
    };
    Ok(material(
        ClientKeyKind::Certificate,
        key_type,
        jwk,
        None,
        Some(facts),
    ))
}

/// The key type and public JWK of a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
fn spki_jwk(spki: &SubjectPublicKeyInfo<'_>) -> Result<(KeyType, Value), ValidationError> {
    let algorithm = &spki.algorithm.algorithm;
    let key = spki.subject_public_key.data.as_ref();
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let (_, rsa) =
            RSAPublicKey::from_der(key).map_err(|_| refused("The RSA public key is malformed."))?;
        return rsa_jwk(rsa.modulus, rsa.exponent);
    }
    if *algorithm == OID_SIG_ED25519 {
        return ed25519_jwk(key);
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.as_oid().ok());
        return match curve {
            Some(curve) if curve == OID_EC_P256 => ec_jwk(KeyType::P256, key),
            Some(curve) if curve == OID_NIST_EC_P384 => ec_jwk(KeyType::P384, key),
            _ => Err(refused(format!(
                "This EC key is on a curve Clavis does not accept. {ACCEPTED}"
            ))),
        };
    }
    Err(refused(format!(
        "This key's type is not accepted. {ACCEPTED}"
    )))
}

fn rsa_jwk(modulus: &[u8], exponent: &[u8]) -> Result<(KeyType, Value), ValidationError> {
    let modulus = without_leading_zeros(modulus);
    let exponent = without_leading_zeros(exponent);
    let bits = modulus
        .first()
        .map_or(0, |top| modulus.len() * 8 - top.leading_zeros() as usize);
    if !RSA_BITS.contains(&bits) {
        return Err(refused(format!("This RSA key has {bits} bits. {ACCEPTED}")));
    }
    if exponent.is_empty() || exponent.last().is_some_and(|low| low & 1 == 0) {
        return Err(refused("This RSA key's public exponent is not valid."));
    }
    let jwk = json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(modulus),
        "e": URL_SAFE_NO_PAD.encode(exponent),
    });
    Ok((KeyType::Rsa { bits }, jwk))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// An uncompressed point (`04 || x || y`), checked to lie on the curve.
fn ec_jwk(key_type: KeyType, point: &[u8]) -> Result<(KeyType, Value), ValidationError> {
    let (algorithm, crv, size): (&'static dyn lc::VerificationAlgorithm, _, _) = match key_type {
        KeyType::P256 => (&lc::ECDSA_P256_SHA256_FIXED, "P-256", 32),
        _ => (&lc::ECDSA_P384_SHA384_FIXED, "P-384", 48),
    };
    if point.len() != 1 + 2 * size
        || point[0] != 4
        || ParsedPublicKey::new(algorithm, point).is_err()
    {
        return Err(refused(format!(
            "This {crv} key is not a valid uncompressed point on its curve."
        )));
    }
    let jwk = json!({
        "kty": "EC",
        "crv": crv,
        "x": URL_SAFE_NO_PAD.encode(&point[1..=size]),
        "y": URL_SAFE_NO_PAD.encode(&point[1 + size..]),
    });
    Ok((key_type, jwk))
}

fn ed25519_jwk(key: &[u8]) -> Result<(KeyType, Value), ValidationError> {
    if ParsedPublicKey::new(&lc::ED25519, key).is_err() {
        return Err(refused("This Ed25519 key is not valid."));
    }
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key) });
    Ok((KeyType::Ed25519, jwk))
}

fn read_jwk(text: &str) -> Result<PublicKeyMaterial, ValidationError> {
    let Ok(Value::Object(members)) = serde_json::from_str::<Value>(text) else {
        return Err(refused(
            "This JWK is not a valid JSON object. Give one key, not a key set ({\"keys\": [...]}).",
        ));
    };
    if members.contains_key("keys") {
        return Err(refused(
            "This is a JWK set. Give one key of it, the JSON object inside \"keys\".",
        ));
    }
    if members.get("use").is_some_and(|usage| usage != "sig") {
        return Err(refused(
            "This JWK is not for signatures (its \"use\" is not \"sig\").",
        ));
    }
    let (key_type, jwk) = match text_member(&members, "kty")? {
        "RSA" => rsa_jwk(
            &base64url_member(&members, "n")?,
            &base64url_member(&members, "e")?,
        )?,
        "EC" => {
            let key_type = match text_member(&members, "crv")? {
                "P-256" => KeyType::P256,
                "P-384" => KeyType::P384,
                other => {
                    return Err(refused(format!(
                        "This JWK is on the curve {other:?}. {ACCEPTED}"
                    )));
                }
            };
            let mut point = vec![4];
            point.extend(base64url_member(&members, "x")?);
            point.extend(base64url_member(&members, "y")?);
            ec_jwk(key_type, &point)?
        }
        "OKP" if text_member(&members, "crv")? == "Ed25519" => {
            ed25519_jwk(&base64url_member(&members, "x")?)?
        }
        "oct" => {
            return Err(refused(format!(
                "This JWK is a shared (symmetric) key: private_key_jwt needs a public key. {ACCEPTED}"
            )));
        }
        other => {
            return Err(refused(format!(
                "This JWK's key type {other:?} is not accepted. {ACCEPTED}"
            )));
        }
    };
    check_declared_alg(&members, key_type)?;
    let kid = kid_member(&members)?;
    Ok(material(ClientKeyKind::Jwk, key_type, jwk, kid, None))
}

/// A JWK's `alg`, when it has one, must be one its key type signs with.
fn check_declared_alg(
    members: &Map<String, Value>,
    key_type: KeyType,
) -> Result<(), ValidationError> {
    let Some(alg) = members.get("alg") else {
        return Ok(());
    };
    let fits = alg
        .as_str()
        .and_then(|alg| alg.parse::<Algorithm>().ok())
        .is_some_and(|alg| key_type.algorithms().contains(&alg));
    if fits {
        Ok(())
    } else {
        Err(refused(format!(
            "This JWK's \"alg\" does not fit a {} key.",
            key_type.label()
        )))
    }
}

fn kid_member(members: &Map<String, Value>) -> Result<Option<String>, ValidationError> {
    let Some(kid) = members.get("kid") else {
        return Ok(None);
    };
    match kid.as_str().map(str::trim) {
        Some(kid)
            if !kid.is_empty()
                && kid.chars().count() <= MAX_KID_CHARS
                && !validate::has_control_character(kid) =>
        {
            Ok(Some(kid.to_owned()))
        }
        _ => Err(refused(format!(
            "This JWK's \"kid\" must be text of 1 to {MAX_KID_CHARS} characters without control characters."
        ))),
    }
}

fn text_member<'a>(
    members: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, ValidationError> {
    members.get(name).and_then(Value::as_str).ok_or_else(|| {
        refused(format!(
            "This JWK has no {name:?} member, or it is not text."
        ))
    })
}

fn base64url_member(members: &Map<String, Value>, name: &str) -> Result<Vec<u8>, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(text_member(members, name)?)
        .map_err(|_| refused(format!("This JWK's {name:?} is not base64url.")))
}

fn material(
    kind: ClientKeyKind,
    key_type: KeyType,
    jwk: Value,
    kid: Option<String>,
    certificate: Option<CertificateFacts>,
) -> PublicKeyMaterial {
    PublicKeyMaterial {
        kind,
        key_type,
        thumbprint: thumbprint(&jwk),
        jwk,
        kid,
        certificate,
    }
}

/// RFC 7638 §3: SHA-256 of the required members in lexicographic order, without spaces.
/// `jwk` holds exactly those members, and serde_json's maps keep their keys sorted, so its
/// compact form is the canonical one. (jsonwebtoken's own thumbprint skips Ed25519.)
fn thumbprint(jwk: &Value) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk = json!({
            "kty": "RSA",
            "e": "AQAB",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_keys_and_symmetric_keys_are_refused_without_echo() {
        for text in [
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHunter2\n-----END PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----\nxyz\n-----END EC PRIVATE KEY-----",
            r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"hunter2"}"#,
        ] {
            let refusal = read(text).unwrap_err();
            assert!(refusal.message.contains("private key"), "{refusal}");
            assert!(!refusal.message.contains("hunter2"));
        }
        let refusal = read(r#"{"kty":"oct","k":"aGVsbG8"}"#).unwrap_err();
        assert!(refusal.message.contains("private key"), "{refusal}");
    }

    #[test]
    fn unknown_text_says_what_is_accepted() {
        assert!(
            read("ssh-ed25519 AAAA")
                .unwrap_err()
                .message
                .contains("BEGIN CERTIFICATE")
        );
        assert!(read("").unwrap_err().message.contains("Paste"));
        assert!(read("{").unwrap_err().message.contains("JSON object"));
        let refusal = read(r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#).unwrap_err();
        assert!(refusal.message.contains("P-256 or P-384"), "{refusal}");
    }

    #[test]
    fn a_jwk_with_a_point_off_the_curve_is_refused() {
        let zeros = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": zeros, "y": zeros}).to_string();
        assert!(read(&jwk).unwrap_err().message.contains("not a valid"));
    }

    #[test]
    fn short_rsa_keys_are_refused_with_their_size() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB"}).to_string();
        let refusal = read(&jwk).unwrap_err();
        assert!(refusal.message.contains("1024 bits"), "{refusal}");
    }
}
