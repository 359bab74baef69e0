//! Public keys and certificates that applications prove themselves with at the token
//! endpoint by `private_key_jwt` (RFC 7523 §2.2): read from what people paste
//! (`public_key`), stored, listed and deleted (`store`), over the portal API (`http`).
//! Beside client secrets, managed by the same people, shown and expiring the same way.

pub mod http;
pub mod public_key;
mod store;

pub use store::{
    KeyedClient, StoredKey, add, delete, keyed_clients, list, lives_of, record_last_used,
};
