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

    /// The token endpoint (RFC 6749 §3.2).
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    /// The introspection endpoint (RFC 7662 §2).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/oauth2/introspect", self.base)
    }

    /// The revocation endpoint (RFC 7009 §2).
    pub fn revocation_endpoint(&self) -> String {
        format!("{}/oauth2/revoke", self.base)
    }

    /// The published signing keys (RFC 8414 §2 `jwks_uri`).
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    /// The portal page of the application with this client_id, as reminders link to it.
    pub fn application_page(&self, client_id: &str) -> String {
        format!("{}/applications/{client_id}", self.base)
    }

    /// A device's page in the portal: `{base}/devices/{device_id}`.
    pub fn device_page(&self, device_id: &str) -> String {
        format!("{}/devices/{device_id}", self.base)
    }
}
