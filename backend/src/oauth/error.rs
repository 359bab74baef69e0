//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 8707 §2, RFC 7009 §2.2.1).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

use crate::request_id;

/// The error codes the OAuth endpoints answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    /// Throttled (429) or shed under load (503), with `Retry-After`: the token endpoint's
    /// registered code for "retry more slowly" (RFC 8628 §7.2, OAuth Extensions Error
    /// registry), where RFC 6749 §5.2 has none.
    SlowDown,
    /// An internal failure; sent with 503 and `Retry-After`.
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as the error response spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::SlowDown => "slow_down",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error: the code, a sentence for the developer, and how to send it.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    status: StatusCode,
    /// The client tried HTTP Basic: a 401 must carry `WWW-Authenticate: Basic`.
    basic_challenge: bool,
    retry_after_secs: Option<u64>,
}

/// The most characters of a client's own input that an `error_description` repeats.
const MAX_QUOTED_CHARS: usize = 64;

/// `value`, as the client sent it, for an `error_description`: in single quotes and cut to
/// 64 characters, so an answer names what was wrong without echoing a request back.
pub fn quoted(value: &str) -> String {
    let mut chars = value.chars();
    let mut quoted: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        quoted.push_str("...");
    }
    format!("'{quoted}'")
}

/// `text` in the characters RFC 6749 §5.2 allows in `error_description` (%x20-21 /
/// %x23-5B / %x5D-7E, printable ASCII without `"` and `\`): `"` becomes `'`, `\` becomes
/// `/`, and anything else `?`. Client libraries may refuse, or mis-handle, anything more.
fn error_description_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl OAuthError {
    fn new(code: ErrorCode, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: error_description_text(&description.into()),
            status,
            basic_challenge: false,
            retry_after_secs: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::InvalidRequest,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    /// The one answer for every failed client authentication, so it reveals nothing.
    pub fn invalid_client(basic_challenge: bool) -> Self {
        Self {
            basic_challenge,
            ..Self::new(
                ErrorCode::InvalidClient,
                StatusCode::UNAUTHORIZED,
                "Client authentication failed.",
            )
        }
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::UnauthorizedClient,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    pub fn unsupported_grant_type(grant_type: &str) -> Self {
        Self::new(
            ErrorCode::UnsupportedGrantType,
            StatusCode::BAD_REQUEST,
            format!(
                "The grant type {} is not supported; use client_credentials.",
                quoted(grant_type)
            ),
        )
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::InvalidScope,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::InvalidTarget,
            StatusCode::BAD_REQUEST,
            description,
        )
    }

    /// Too many failed authentications from here or for this client.
    pub fn throttled(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                ErrorCode::SlowDown,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed client authentications; retry later.",
            )
        }
    }

    /// Every argon2id slot is taken and the queue for them is full: the request is shed.
    pub fn overloaded() -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(
                ErrorCode::SlowDown,
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other client secrets; retry in a second.",
            )
        }
    }

    /// Clavis cannot take the request now (an internal failure).
    pub fn unavailable(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                ErrorCode::TemporarilyUnavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "The server cannot handle the request now; retry later.",
            )
        }
    }

    /// Client credentials arrived over plain HTTP from another machine (RFC 6749 §2.3.1).
    pub fn insecure_transport() -> Self {
        Self::invalid_request(
            "Client credentials must be sent over HTTPS (RFC 6749 section 2.3.1); this request \
             came over plain HTTP. Use the https URL of this server.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::InvalidRequest,
            StatusCode::METHOD_NOT_ALLOWED,
            "Use POST for this endpoint.",
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.description)
    }
}

impl From<crate::error::Error> for OAuthError {
    fn from(error: crate::error::Error) -> Self {
        tracing::error!(%error, "OAuth request failed");
        Self::unavailable(1)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorCode,
    error_description: &'a str,
    /// On server errors (5xx), the request's id, for the client's report (an extension
    /// member, which RFC 6749 §5.2 lets clients ignore).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        // No Cache-Control or Pragma here: the middleware of the endpoints that take client
        // credentials sets them (oauth::no_store), and only those answers need them.
        let mut response = HttpResponse::build(self.status);
        if self.basic_challenge && self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                "WWW-Authenticate",
                "Basic realm=\"clavis\", charset=\"UTF-8\"",
            ));
        }
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.insert_header(("Allow", "POST"));
        }
        response.json(Body {
            error: self.code,
            error_description: &self.description,
            request_id: self
                .status
                .is_server_error()
                .then(request_id::current)
                .flatten()
                .map(|id| id.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_in_the_metrics_as_in_the_answers() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidClient,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidScope,
            ErrorCode::InvalidTarget,
            ErrorCode::SlowDown,
            ErrorCode::TemporarilyUnavailable,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn descriptions_keep_to_rfc_6749_characters_and_quotes_are_cut_short() {
        let error =
            OAuthError::invalid_request(format!("Bad {} \\ \u{a7}\n", quoted(&"\"a\"".repeat(30))));
        // 64 characters of the value: 21 times `"a"` and one more `"`, each `"` shown as `'`.
        let expected = format!("Bad '{}'...' / ??", "'a'".repeat(21));
        assert_eq!(error.description, expected);
        assert_eq!(quoted("short"), "'short'");
    }
}
