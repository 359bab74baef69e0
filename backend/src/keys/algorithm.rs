//! Signing algorithms: generating a key pair, signing with it, and describing its public
//! half as a JWK (RFC 7517/7518/8037).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

/// The JWS algorithm access tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: the default, small and fast.
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys): the one RFC 9068 requires.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub const fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// A new private key, as PKCS#8 DER.
    pub fn generate(self) -> Result<Zeroizing<Vec<u8>>, String> {
        let rng = SystemRandom::new();
        let der = match self {
            Self::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map(|doc| doc.as_ref().to_vec()),
            Self::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|pair| pair.as_der())
                .map(|der| der.as_ref().to_vec()),
            Self::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).map(|doc| doc.as_ref().to_vec()),
        };
        der.map(Zeroizing::new)
            .map_err(|_| format!("cannot generate an {} key", self.as_str()))
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(format!(
                "\"{other}\" is not a signing algorithm: use ES256, RS256 or EdDSA"
            )),
        }
    }
}

/// A parsed private key, ready to sign many times without parsing again.
pub enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    pub fn from_pkcs8(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, String> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            format!("the stored {algorithm} key is unusable: {e}")
        };
        Ok(match algorithm {
            SigningAlgorithm::Es256 => Self::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            SigningAlgorithm::Rs256 => Self::Rs256(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            SigningAlgorithm::EdDsa => {
                Self::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?)
            }
        })
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            Self::Es256(pair) => pair.sign(&rng, message).map(|sig| sig.as_ref().to_vec()),
            Self::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map(|()| signature)
            }
            Self::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
        .map_err(|_| "signing failed".to_owned())
    }

    /// The public key as a JWK with `kid`, `use` and `alg`.
    pub fn public_jwk(&self, kid: &str) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match self {
            Self::Es256(pair) => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
            }
            Self::Rs256(pair) => {
                let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({ "kty": "RSA", "n": b64(&components.n), "e": b64(&components.e) })
            }
            Self::EdDsa(pair) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) })
            }
        };
        let algorithm = match self {
            Self::Es256(_) => SigningAlgorithm::Es256,
            Self::Rs256(_) => SigningAlgorithm::Rs256,
            Self::EdDsa(_) => SigningAlgorithm::EdDsa,
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(algorithm.as_str());
        jwk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_signs_and_publishes() {
        for algorithm in [
            SigningAlgorithm::Es256,
            SigningAlgorithm::Rs256,
            SigningAlgorithm::EdDsa,
        ] {
            let der = algorithm.generate().unwrap();
            let signer = Signer::from_pkcs8(algorithm, &der).unwrap();
            let signature = signer.sign(b"message").unwrap();
            assert!(!signature.is_empty());
            let jwk = signer.public_jwk("k1");
            assert_eq!(jwk["alg"], algorithm.as_str());
            assert_eq!(jwk["kid"], "k1");
            let decoding =
                jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(jwk).unwrap()).unwrap();
            let valid = jsonwebtoken::crypto::verify(
                &URL_SAFE_NO_PAD.encode(&signature),
                b"message",
                &decoding,
                algorithm.jsonwebtoken(),
            )
            .unwrap();
            assert!(valid, "{algorithm}");
        }
    }
}
