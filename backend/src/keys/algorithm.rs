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
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::error::KeyError;

pub use clavis_shared::dto::SigningAlgorithm;

/// `algorithm` as `jsonwebtoken` names it, for verifying tokens.
pub const fn jwt_algorithm(algorithm: SigningAlgorithm) -> jsonwebtoken::Algorithm {
    match algorithm {
        SigningAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        SigningAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        SigningAlgorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
    }
}

/// A new private key for `algorithm`, as PKCS#8 DER, from the OS CSPRNG. RSA keys take tens
/// of milliseconds or more: never call this on a request path.
pub fn generate(algorithm: SigningAlgorithm) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let rng = SystemRandom::new();
    let der = match algorithm {
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map(|doc| doc.as_ref().to_vec())
        }
        SigningAlgorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec()),
        SigningAlgorithm::EdDsa => {
            Ed25519KeyPair::generate_pkcs8(&rng).map(|doc| doc.as_ref().to_vec())
        }
    };
    der.map(Zeroizing::new)
        .map_err(|_| KeyError::Generate(algorithm))
}

/// A parsed private key, ready to sign many times without parsing again.
pub enum Signer {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    pub fn from_pkcs8(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        let rejected = |reason| KeyError::Unusable { algorithm, reason };
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

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
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
        .map_err(|_| KeyError::Signing)
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
        for algorithm in SigningAlgorithm::ALL {
            let der = generate(algorithm).unwrap();
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
                jwt_algorithm(algorithm),
            )
            .unwrap();
            assert!(valid, "{algorithm}");
        }
    }
}
