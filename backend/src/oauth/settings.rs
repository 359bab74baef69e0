//! The token endpoint's settings: how long tokens live, and how client authentication is
//! throttled. `config` loads and checks them; the endpoints only read them.

use std::time::Duration;

/// How access tokens are issued and client authentication is protected.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// No token lives longer than this many seconds, whatever its application says.
    pub max_lifetime_secs: i32,
    /// Failed client authentications allowed per window before requests get 429.
    pub failure_limit: u32,
    /// The window those failures are counted in.
    pub failure_window: Duration,
}
