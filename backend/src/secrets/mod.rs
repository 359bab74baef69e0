//! Client secrets: created with a CSPRNG value shown exactly once, stored as an argon2id
//! hash and a three-character hint, listed, and deleted when no longer used.
//!
//! One file per job: `store` (create, list, delete, for the portal and the CLI), `expiry`
//! (what is expiring, for the portal and the reminders) and `credentials` (what the token
//! endpoint reads); `value` and `hash` hold the secret's format and its hashing.

mod credentials;
mod expiry;
pub mod hash;
pub mod http;
mod store;
pub mod value;

pub use credentials::{ClientApplication, StoredCredential, credentials, record_last_used};
pub use expiry::{ActiveSecrets, Lives, active_by_application, expiring, lives_of};
pub use store::{create, create_described, delete, delete_replaced, list};
