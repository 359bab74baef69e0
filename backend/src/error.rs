//! The one error type of Clavis's domain layer, and its single mapping to HTTP.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use clavis_shared::{ErrorBody, ValidationError};

use crate::request_id;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input broke a domain rule; the message says which and how to fix it.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No valid session: the person must sign in (again).
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A body the endpoint's JSON extractor cannot read as what the endpoint takes.
    #[error("The request body is not what this endpoint expects: {0}")]
    InvalidJson(#[from] actix_web::error::JsonPayloadError),
    /// A query string the endpoint's query extractor cannot read as what it takes.
    #[error("The query string is not what this endpoint expects: {0}")]
    InvalidQuery(#[from] actix_web::error::QueryPayloadError),
    /// The request clashes with what exists (a duplicate name, a full quota).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Turns a unique-constraint violation into a [`Error::Conflict`] with `message`.
    pub fn on_duplicate(
        message: impl FnOnce() -> String,
    ) -> impl FnOnce(diesel::result::Error) -> Self {
        move |err| match err {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Self::Conflict(message()),
            other => Self::Database(other),
        }
    }

    /// Whether the database connection itself failed, rather than the query.
    pub fn is_lost_connection(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as Diesel};
        matches!(
            self,
            Self::Database(Diesel::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _
            ))
        )
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidQuery(_) => "invalid_query",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Database(_) | Self::Pool(_) | Self::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidJson(_) | Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Pool(_) => StatusCode::SERVICE_UNAVAILABLE,
            // The connection is replaced at once: worth retrying, like a full pool.
            Self::Database(_) if self.is_lost_connection() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Internal details go to the log, never to the caller.
    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::Database(_) | Self::Pool(_) | Self::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                ErrorBody::new(
                    self.code(),
                    "Something went wrong on our side. Please try again later.",
                )
            }
            Self::Invalid(invalid) => ErrorBody {
                field: Some(invalid.field.to_owned()),
                ..ErrorBody::new(self.code(), invalid.message.clone())
            },
            _ => ErrorBody::new(self.code(), self.to_string()),
        };
        let status = self.status_code();
        let body = if status.is_server_error() {
            ErrorBody {
                request_id: request_id::current().map(|id| id.to_string()),
                ..body
            }
        } else {
            body
        };
        HttpResponse::build(status).json(body)
    }
}
