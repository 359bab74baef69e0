//! Where people and API clients reach Clavis: one value that the OAuth endpoints, the portal
//! API and the reminders share, so that none of them depends on another to know it.

/// The public URL (`CLAVIS_PUBLIC_URL`) and the URLs made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrls {
    /// Scheme, host, port and any path prefix, without a trailing slash.
    base: String,
}

impl PublicUrls {
    pub fn new(public_url: &url::Url) -> Self {
        Self {
            base: public_url.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// The public URL without a trailing slash, such as `https://clavis.example.org`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token endpoint (RFC 6749 §3.2), as the portal shows it to API clients.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }
}
