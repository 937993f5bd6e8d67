//! Errors of the HTTP layer and how each becomes a response. Internal errors are logged
//! with their detail; the client only learns that something failed.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid session or token.
    #[error("sign in first")]
    Unauthenticated,
    /// Signed in, but outside the caller's role or scope.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The request body is over the server's limit.
    #[error("{0}")]
    TooLarge(String),
    #[error("too many attempts; try again in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    /// Logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthenticated`, `forbidden`, `not_found`, `bad_request`, `conflict`,
    /// `payload_too_large`, `too_many_requests` or `internal`.
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(error.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the client is told.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "the server could not answer; the error is logged".into(),
            other => other.to_string(),
        }
    }
}

impl From<cxm_metrics::MetricsError> for ApiError {
    fn from(error: cxm_metrics::MetricsError) -> ApiError {
        use cxm_metrics::MetricsError as E;
        match error {
            E::UnknownUnit(_)
            | E::UnknownPerson(_)
            | E::Catalogue(cxm_domain::metrics::CatalogueError::Unknown { .. }) => {
                ApiError::NotFound(error.to_string())
            }
            E::Catalogue(_) | E::Invalid(_) | E::Expression { .. } => {
                ApiError::BadRequest(error.to_string())
            }
            E::Settings(_)
            | E::Io { .. }
            | E::Catalog(_)
            | E::Sql(_)
            | E::Facts(_)
            | E::DataFusion(_)
            | E::Arrow(_)
            | E::Internal(_) => ApiError::internal(error),
        }
    }
}

impl From<cxm_sql::SqlError> for ApiError {
    fn from(error: cxm_sql::SqlError) -> ApiError {
        match error {
            cxm_sql::SqlError::Conflict(what)
            | cxm_sql::SqlError::Refused(what)
            | cxm_sql::SqlError::Stale(what) => ApiError::Conflict(what),
            cxm_sql::SqlError::NotFound(what) => ApiError::NotFound(what),
            cxm_sql::SqlError::Database(_)
            | cxm_sql::SqlError::Migrate(_)
            | cxm_sql::SqlError::Url(_)
            | cxm_sql::SqlError::Corrupt(_) => ApiError::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let status = self.status();
        let body = ErrorBody {
            error: self.code(),
            message: self.public_message(),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests {
            retry_after_seconds,
        } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
