//! The master key that seals signing keys at rest (XChaCha20-Poly1305), from config or from
//! a key file that Clavis creates with mode 0600 on first start.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretBox};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

use super::error::{KeyError, MalformedMasterKey};

/// The master key's length in bytes (an XChaCha20-Poly1305 key).
pub const KEY_LEN: usize = 32;
// `MalformedMasterKey::WrongLength` says "32 bytes" (error.rs cannot use this module).
const _: () = assert!(KEY_LEN == 32);
const NONCE_LEN: usize = 24;

/// Where the master key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Given in config or the environment (base64 of 32 bytes), e.g. shared by all instances.
    Inline(Zeroizing<[u8; KEY_LEN]>),
    /// A file holding the base64 key; created on first start if missing.
    File(PathBuf),
}

impl MasterKeySource {
    /// Parses a base64 key; the error never repeats the value.
    pub fn inline(base64: &str) -> Result<Self, MalformedMasterKey> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(base64.trim())
                .map_err(|_| MalformedMasterKey::NotBase64)?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| MalformedMasterKey::WrongLength)?;
        Ok(Self::Inline(Zeroizing::new(key)))
    }
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

/// The key itself. Never printed; wiped from memory on drop.
#[derive(Debug)]
pub struct MasterKey {
    key: SecretBox<[u8; KEY_LEN]>,
    /// Whether this start created the key file (so existing sealed keys cannot open).
    pub newly_created: bool,
}

impl MasterKey {
    /// Reads the key from its source, creating the key file when it does not exist yet.
    pub fn load(source: &MasterKeySource) -> Result<Self, KeyError> {
        match source {
            MasterKeySource::Inline(key) => Ok(Self::from_bytes(key, false)),
            MasterKeySource::File(path) if path.exists() => read_key_file(path),
            MasterKeySource::File(path) => create_key_file(path),
        }
    }

    /// Seals `plaintext`, bound to `context` (the key id) so it cannot be moved to another row.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Sealing)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`MasterKey::seal`] produced; fails with a wrong key or a tampered value.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Zeroizing<Vec<u8>>> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    /// A key of its own for one `purpose` (a fixed label such as `clavis login attempt v1`),
    /// derived with HKDF-SHA256 (RFC 5869): the same on every instance that shares this master
    /// key, and useless for opening what the master key or another purpose sealed.
    pub fn derive(&self, purpose: &str) -> Self {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let key = SecretBox::init_with_mut(|key: &mut [u8; KEY_LEN]| {
            Salt::new(HKDF_SHA256, b"clavis master key derivation")
                .extract(self.key.expose_secret())
                .expand(&[purpose.as_bytes()], HKDF_SHA256)
                .and_then(|okm| okm.fill(key))
                .expect("HKDF-SHA256 yields 32 bytes");
        });
        Self {
            key,
            newly_created: false,
        }
    }

    /// A copy of `key` in a box of its own, filled in place so no other copy is left behind.
    fn from_bytes(key: &[u8; KEY_LEN], newly_created: bool) -> Self {
        Self {
            key: SecretBox::init_with_mut(|copy: &mut [u8; KEY_LEN]| copy.copy_from_slice(key)),
            newly_created,
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, KeyError> {
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| KeyError::ReadKeyFile {
                path: path.to_owned(),
                source,
            })?,
        );
    match MasterKeySource::inline(&text) {
        Ok(MasterKeySource::Inline(key)) => Ok(MasterKey::from_bytes(&key, false)),
        Ok(MasterKeySource::File(_)) => unreachable!("inline parsing yields an inline key"),
        Err(reason) => Err(KeyError::MalformedKeyFile {
            path: path.to_owned(),
            reason,
        }),
    }
}

fn create_key_file(path: &Path) -> Result<MasterKey, KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let master = MasterKey {
        key: SecretBox::init_with_mut(|key: &mut [u8; KEY_LEN]| OsRng.fill_bytes(key)),
        newly_created: true,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::CreateKeyDir {
            dir: dir.to_owned(),
            source,
        })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| KeyError::CreateKeyFile {
            path: path.to_owned(),
            source,
        })?;
    let encoded = Zeroizing::new(STANDARD.encode(master.key.expose_secret()));
    file.write_all(encoded.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|source| KeyError::WriteKeyFile {
            path: path.to_owned(),
            source,
        })?;
    tracing::info!(file = %path.display(), "created a new master key file; back it up with the database");
    Ok(master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let source = MasterKeySource::File(dir.path().join("master.key"));
        let key = MasterKey::load(&source).unwrap();
        assert!(key.newly_created);
        let sealed = key.seal(b"private key", "kid-1").unwrap();
        assert!(!sealed.contains("private key"));
        assert_eq!(
            key.open(&sealed, "kid-1").unwrap().as_slice(),
            b"private key"
        );
        assert!(key.open(&sealed, "kid-2").is_none(), "bound to its key id");

        let again = MasterKey::load(&source).unwrap();
        assert!(!again.newly_created);
        assert_eq!(
            again.open(&sealed, "kid-1").unwrap().as_slice(),
            b"private key"
        );

        let other = MasterKey::load(&MasterKeySource::File(dir.path().join("other.key"))).unwrap();
        assert!(other.open(&sealed, "kid-1").is_none());
    }

    #[test]
    fn derived_keys_are_stable_and_separate_per_purpose() {
        let master =
            MasterKey::load(&MasterKeySource::inline(&STANDARD.encode([7u8; 32])).unwrap())
                .unwrap();
        let sealed = master.derive("a").seal(b"pending", "ctx").unwrap();
        assert_eq!(
            master.derive("a").open(&sealed, "ctx").unwrap().as_slice(),
            b"pending",
            "every instance derives the same key"
        );
        assert!(master.derive("b").open(&sealed, "ctx").is_none());
        assert!(master.open(&sealed, "ctx").is_none());
    }

    #[test]
    fn debug_never_shows_the_master_key() {
        let master =
            MasterKey::load(&MasterKeySource::inline(&STANDARD.encode([7u8; 32])).unwrap())
                .unwrap();
        for key in [&master, &master.derive("a")] {
            let shown = format!("{key:?}");
            assert!(!shown.contains(&format!("{:?}", key.key.expose_secret())));
            assert!(!shown.contains(&STANDARD.encode(key.key.expose_secret())));
        }
    }

    #[test]
    fn key_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        MasterKey::load(&MasterKeySource::File(path.clone())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn inline_keys_must_be_32_bytes_of_base64() {
        assert!(MasterKeySource::inline(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKeySource::inline("not base64!").is_err());
        assert!(MasterKeySource::inline(&STANDARD.encode([7u8; 16])).is_err());
        let shown = format!(
            "{:?}",
            MasterKeySource::inline(&STANDARD.encode([7u8; 32])).unwrap()
        );
        assert_eq!(shown, "Inline(<redacted>)");
    }
}
