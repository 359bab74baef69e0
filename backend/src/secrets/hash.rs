//! argon2id hashing of client secret values, with OWASP's recommended parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::sql_types::Text;
use rand_core::OsRng;
use std::fmt;
use subtle::ConstantTimeEq;

use super::value::ClientSecretValue;
use crate::error::{Error, Result};

/// OWASP (2023): m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// An argon2id PHC string, as [`hash`] makes it and the `client_secrets.secret_hash` column
/// holds it. A type of its own, so a hash is never taken for a plain string or a secret value.
/// Not secret in itself, but kept out of logs all the same.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    /// The PHC string, to store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// Read from the text column that stores it, on either database.
impl<DB> Queryable<Text, DB> for SecretHash
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    type Row = String;

    fn build(phc: String) -> deserialize::Result<Self> {
        Ok(Self(phc))
    }
}

/// Fixtures only: outside tests a hash comes from [`hash`] or from the database.
#[cfg(test)]
impl From<&str> for SecretHash {
    fn from(phc: &str) -> Self {
        Self(phc.to_owned())
    }
}

fn argon2id() -> Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a value with a fresh random salt.
pub fn hash(value: &ClientSecretValue) -> Result<SecretHash> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = argon2id()?
        .hash_password(value.expose().as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("argon2 hashing failed: {e}")))?;
    Ok(SecretHash(phc.to_string()))
}

/// A new secret, of a client or a device: its row id, its value (shown once, never stored)
/// and its hash (stored).
pub struct MintedSecret {
    pub id: String,
    pub value: ClientSecretValue,
    pub hash: SecretHash,
}

/// Mints a secret from the OS CSPRNG and hashes it. Call it before a transaction: argon2id
/// takes milliseconds and needs no lock.
///
/// # Errors
/// [`Error::Internal`] when argon2id fails.
pub fn mint() -> Result<MintedSecret> {
    let id = uuid::Uuid::new_v4();
    let value = ClientSecretValue::generate(id);
    let hash = hash(&value)?;
    Ok(MintedSecret {
        id: id.to_string(),
        value,
        hash,
    })
}

/// Whether `presented` matches the stored hash (compared in constant time).
pub fn verify(presented: &str, stored: &SecretHash) -> bool {
    verify_with_memory(presented, stored, &mut Vec::new())
}

/// [`verify`] with caller-provided working memory (19 MiB), reused across checks: a fresh
/// allocation costs page faults worth a quarter of the hash itself.
pub fn verify_with_memory(presented: &str, stored: &SecretHash, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored.as_phc()) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    memory.resize(params.block_count(), Block::default());
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(presented.as_bytes(), salt, &mut output, &mut memory[..])
        .is_ok()
        && bool::from(output.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let value = ClientSecretValue::generate(Uuid::new_v4());
        let hashed = hash(&value).unwrap();
        assert!(
            hashed
                .as_phc()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hashed.as_phc()
        );
        assert!(!hashed.as_phc().contains(value.expose()));
        assert!(verify(value.expose(), &hashed));
        let other = ClientSecretValue::generate(Uuid::new_v4());
        assert!(!verify(other.expose(), &hashed));
        assert!(!verify(value.expose(), &"not a phc string".into()));
        let mut memory = Vec::new();
        assert!(verify_with_memory(value.expose(), &hashed, &mut memory));
        assert!(!verify_with_memory(other.expose(), &hashed, &mut memory));
        let argon2i = SecretHash::from(hashed.as_phc().replace("$argon2id$", "$argon2i$").as_str());
        assert!(
            !verify(value.expose(), &argon2i),
            "the algorithm in the PHC string is honoured"
        );
        assert_eq!(format!("{hashed:?}"), "SecretHash(<redacted>)");
    }
}
