//! What can go wrong with the master key and the signing keys. Messages name the key or the
//! file at fault, never key material.

use std::io;
use std::path::PathBuf;

// From shared, not from `algorithm`, which uses this module's errors.
use clavis_shared::dto::SigningAlgorithm;

/// Why a base64 master key was refused: the end of a sentence that names where the key came
/// from ("master_key (CLAVIS_MASTER_KEY) is not base64 …"). Never repeats the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedMasterKey {
    #[error("is not base64 (generate one with: openssl rand -base64 32)")]
    NotBase64,
    #[error("must be 32 bytes, base64-encoded (openssl rand -base64 32)")]
    WrongLength,
}

/// A failure of the keys module.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key file {} {reason}", path.display())]
    MalformedKeyFile {
        path: PathBuf,
        reason: MalformedMasterKey,
    },
    #[error("cannot read the master key file {}: {source}", path.display())]
    ReadKeyFile { path: PathBuf, source: io::Error },
    /// The directory that should hold a new master key file.
    #[error("cannot create {}: {source}", dir.display())]
    CreateKeyDir { dir: PathBuf, source: io::Error },
    #[error("cannot create the master key file {}: {source}", path.display())]
    CreateKeyFile { path: PathBuf, source: io::Error },
    #[error("cannot write the master key file {}: {source}", path.display())]
    WriteKeyFile { path: PathBuf, source: io::Error },
    /// A stored signing key does not open with this master key: the operator started with
    /// the wrong one. `master` says where it came from, `hint` what to do.
    #[error("the signing key {kid} cannot be opened with {master}.{hint}")]
    Unopenable {
        kid: String,
        master: String,
        hint: &'static str,
    },
    #[error("cannot generate an {0} key")]
    Generate(SigningAlgorithm),
    #[error("the stored {algorithm} key is unusable: {reason}")]
    Unusable {
        algorithm: SigningAlgorithm,
        reason: aws_lc_rs::error::KeyRejected,
    },
    /// A stored key row names an algorithm Clavis does not know.
    #[error("{0}")]
    UnknownAlgorithm(String),
    /// A stored public key that is not a usable JWK (RFC 7517).
    #[error("stored JWK: {0}")]
    StoredJwk(String),
    #[error("claims: {0}")]
    Claims(#[source] serde_json::Error),
    #[error("signing failed")]
    Signing,
    #[error("sealing failed")]
    Sealing,
    /// This instance has no key of the algorithm yet; key maintenance (or the change to the
    /// API that chose the algorithm) makes one.
    #[error("no {0} signing key is ready yet")]
    NotReady(SigningAlgorithm),
}

/// Into the domain error: a missing key is worth retrying (503), anything else is internal.
impl From<KeyError> for crate::error::Error {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NotReady(_) => Self::Unavailable(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}
