//! The one JSON error shape every Clavis API answers with.

use serde::{Deserialize, Serialize};

/// Body of every non-OAuth error response: a stable machine code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable code such as `not_found` or `validation_failed`.
    pub error: String,
    /// What went wrong, in words a person understands.
    pub message: String,
    /// The input field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request's id (`X-Request-Id`), on server errors (5xx): quote it when reporting
    /// the failure, so operators find its log lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
            field: None,
            request_id: None,
        }
    }
}
