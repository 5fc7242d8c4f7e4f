//! The API's one error answer: `{"error": {"kind", "message", "hint"}}`
//! with a status from the error's kind, never a 5xx for bad input.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use car_core::ErrorKind;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
}

/// The JSON of an error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// On a write based on an old version (409): the current document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<crate::routes::docs::Doc>,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `conflict`, `precondition_required`, `too_large`, `rate_limited`,
    /// `not_configured` (a feature that needs a setting, such as voice's
    /// key), `upstream` (a service the server forwards to failed),
    /// or one of the library's kinds: `user`, `busy`, `config`, `agent`, `io`, `internal`.
    pub kind: String,
    /// What happened, for a person.
    pub message: String,
    /// What would help, as data (`answer_then_resume`, ...); front ends
    /// word it.
    pub hint: Option<String>,
}

impl ApiError {
    /// An error with `status`, `kind` and `message`, and no hint.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                error: ErrorDetail {
                    kind: kind.to_string(),
                    message: message.into(),
                    hint: None,
                },
                current: None,
            }),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: nothing here.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 with a kind of `busy`: a runner is active.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "busy", message)
    }

    /// Attaches the current document (a 409 on a stale write).
    pub fn with_current(mut self, doc: crate::routes::docs::Doc) -> Self {
        self.body.current = Some(doc);
        self
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What happened, for a person.
    pub(crate) fn message(&self) -> &str {
        &self.body.error.message
    }
}

/// The status of a library error of `kind`.
pub(crate) fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::User => StatusCode::BAD_REQUEST,
        ErrorKind::Busy => StatusCode::CONFLICT,
        ErrorKind::Config | ErrorKind::Agent | ErrorKind::Io | ErrorKind::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::User => "user",
        ErrorKind::Config => "config",
        ErrorKind::Busy => "busy",
        ErrorKind::Agent => "agent",
        ErrorKind::Io => "io",
        ErrorKind::Internal => "internal",
    }
}

impl From<car_core::Error> for ApiError {
    fn from(e: car_core::Error) -> Self {
        let kind = e.kind();
        let mut err = Self::new(status_of(kind), kind_name(kind), error_chain(&e));
        err.body.error.hint = e.hint().map(|h| h.as_str().to_string());
        err
    }
}

/// The message of `e` and its sources, joined by `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        let status = e.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        Self::new(status, kind, e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_error_is_a_4xx_and_a_busy_repository_a_409() {
        assert_eq!(status_of(ErrorKind::User), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(ErrorKind::Busy), StatusCode::CONFLICT);
        assert!(status_of(ErrorKind::Io).is_server_error());
    }
}
