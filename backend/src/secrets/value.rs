//! The client secret value: how it is generated, what it looks like, and how it is read back.
//!
//! Format (80 characters, all URL- and form-safe):
//!
//! ```text
//! abc_clv1_<secret id: 22><random: 43><checksum: 6>
//! ```
//!
//! - `abc`: three random characters, shown to people as the hint. They are not counted
//!   towards the value's strength.
//! - `_clv1_`: a fixed marker, so secret scanners recognise a leaked Clavis secret
//!   (pattern `[0-9A-Za-z]{3}_clv1_[0-9A-Za-z]{71}`), while the hint keeps the start.
//! - secret id: the row's UUID in base62, so the server verifies against exactly one stored
//!   hash instead of trying argon2id against every secret of the client.
//! - random: 43 base62 characters from the OS CSPRNG, 256 bits.
//! - checksum: CRC-32 of everything before it, so typos and scanner false positives are
//!   rejected without touching the database.

use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The fixed marker that identifies a Clavis client secret.
pub const MARKER: &str = "_clv1_";
/// Length of the hint shown to people: the value's first characters.
pub const HINT_LEN: usize = 3;
const ID_LEN: usize = 22;
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = HINT_LEN + MARKER.len() + ID_LEN + RANDOM_LEN;
/// Length of every client secret value.
pub const VALUE_LEN: usize = BODY_LEN + CHECKSUM_LEN;

/// A client secret value. Its `Debug` never shows it and its memory is wiped on drop.
pub struct ClientSecretValue(SecretString);

impl ClientSecretValue {
    /// A new value for the secret row `secret_id`, from the OS CSPRNG.
    pub fn generate(secret_id: Uuid) -> Self {
        let mut value = Zeroizing::new(String::with_capacity(VALUE_LEN));
        push_random(&mut value, HINT_LEN);
        value.push_str(MARKER);
        value.push_str(&base62_fixed(secret_id.as_u128(), ID_LEN));
        push_random(&mut value, RANDOM_LEN);
        let checksum = crc32fast::hash(value.as_bytes());
        value.push_str(&base62_fixed(u128::from(checksum), CHECKSUM_LEN));
        // A copy: the buffer it was built in is wiped on drop as well.
        Self(SecretString::from(value.as_str()))
    }

    /// The value itself, to show once or to hash.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hint(&self) -> &str {
        &self.expose()[..HINT_LEN]
    }
}

impl fmt::Debug for ClientSecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecretValue(<redacted>)")
    }
}

/// The secret row a presented value claims to be, if it is well-formed and its checksum holds.
pub fn secret_id_of(presented: &str) -> Option<Uuid> {
    let bytes = presented.as_bytes();
    if bytes.len() != VALUE_LEN || !bytes.iter().enumerate().all(|(i, b)| is_body_char(i, *b)) {
        return None;
    }
    let (body, checksum) = presented.split_at(BODY_LEN);
    if base62_decode(checksum)? != u128::from(crc32fast::hash(body.as_bytes())) {
        return None;
    }
    let id_start = HINT_LEN + MARKER.len();
    base62_decode(&presented[id_start..id_start + ID_LEN]).map(Uuid::from_u128)
}

fn is_body_char(index: usize, byte: u8) -> bool {
    let marker = HINT_LEN..HINT_LEN + MARKER.len();
    if marker.contains(&index) {
        MARKER.as_bytes()[index - HINT_LEN] == byte
    } else {
        byte.is_ascii_alphanumeric()
    }
}

/// Appends `count` uniformly random base62 characters (rejection sampling keeps it unbiased).
fn push_random(out: &mut String, count: usize) {
    let mut pushed = 0;
    let mut buffer = Zeroizing::new([0u8; 64]);
    while pushed < count {
        OsRng.fill_bytes(buffer.as_mut());
        for &byte in buffer.iter() {
            // 248 = 4 × 62: bytes above it would favour the first characters.
            if byte < 248 && pushed < count {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
                pushed += 1;
            }
        }
    }
}

fn base62_fixed(mut number: u128, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(number % 62) as usize];
        number /= 62;
    }
    String::from_utf8(digits).unwrap_or_default()
}

fn base62_decode(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |number, byte| {
        let digit = ALPHABET.iter().position(|&c| c == byte)? as u128;
        number.checked_mul(62)?.checked_add(digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_carries_hint_marker_and_id() {
        let id = Uuid::new_v4();
        let value = ClientSecretValue::generate(id);
        assert_eq!(value.expose().len(), VALUE_LEN);
        assert_eq!(&value.expose()[HINT_LEN..HINT_LEN + MARKER.len()], MARKER);
        assert_eq!(value.hint(), &value.expose()[..3]);
        assert_eq!(secret_id_of(value.expose()), Some(id));
    }

    #[test]
    fn values_differ_and_are_base62() {
        let id = Uuid::new_v4();
        let a = ClientSecretValue::generate(id);
        let b = ClientSecretValue::generate(id);
        assert_ne!(a.expose(), b.expose());
        assert!(
            a.expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        );
    }

    #[test]
    fn random_part_holds_at_least_256_bits() {
        assert!(RANDOM_LEN as f64 * 62f64.log2() >= 256.0);
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let value = ClientSecretValue::generate(Uuid::new_v4());
        let mut tampered = value.expose().to_owned().into_bytes();
        let at = 40;
        tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
        assert_eq!(secret_id_of(&String::from_utf8(tampered).unwrap()), None);
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert_eq!(secret_id_of(""), None);
        assert_eq!(secret_id_of("short"), None);
        let value = ClientSecretValue::generate(Uuid::new_v4());
        let without_marker = value.expose().replace(MARKER, "_xxx1_");
        assert_eq!(secret_id_of(&without_marker), None);
        assert_eq!(secret_id_of(&format!("{}!", &value.expose()[1..])), None);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let value = ClientSecretValue::generate(Uuid::new_v4());
        let shown = format!("{value:?}");
        assert!(!shown.contains(&value.expose()[HINT_LEN + MARKER.len()..]));
        assert_eq!(shown, "ClientSecretValue(<redacted>)");
    }
}
