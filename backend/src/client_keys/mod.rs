//! Public keys and certificates that applications prove themselves with at the token
//! endpoint by `private_key_jwt` (RFC 7523 §2.2): read from what people paste
//! (`public_key`), stored, listed and deleted (`store`), over the portal API (`http`); or
//! published by the application at its `jwks_uri` (`jwks_uri`).
//! Beside client secrets, managed by the same people, shown and expiring the same way.

pub mod http;
mod jwks_uri;
pub mod public_key;
mod store;

pub use jwks_uri::{JwksUriPolicy, jwks_uri_of, set_jwks_uri};
pub use store::{
    KeyedClient, StoredKey, add, delete, keyed_clients, list, lives_of, record_last_used,
};
