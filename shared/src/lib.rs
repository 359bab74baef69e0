//! Wire types and validation rules used by both the Clavis backend and frontend.
//!
//! Only dependencies that build for WASM belong here, so the portal stays small.

pub mod admin;
pub mod audit;
pub mod client_auth;
pub mod devices;
pub mod dto;
pub mod error;
pub mod paging;
pub mod portal;
pub mod reminders;
pub mod validate;

pub use error::ErrorBody;
pub use validate::ValidationError;
