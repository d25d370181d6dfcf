//! Errors in OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`),
//! so that its clients show them as they show OpenAI's own.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::session::queue::Busy;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
    retry_after_s: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
pub(crate) struct Detail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after_s: None,
        }
    }

    /// A request the server cannot act on as written.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// A bad value of one field of the request.
    pub fn param(param: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param),
            ..Self::invalid(message)
        }
    }

    /// The same error, naming `param` as the field at fault (when one was named).
    pub fn for_param(mut self, param: &'static str) -> Self {
        if self.param.is_some() {
            self.param = Some(param);
        }
        self
    }

    pub fn unknown_model(name: &str, installed: &str) -> Self {
        ApiError {
            param: Some("model"),
            code: Some("model_not_found"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("the model `{name}` is not installed here; the installed models are {installed} (GET /v1/models lists them, `rag models pull NAME` installs one)"),
            )
        }
    }

    pub fn unauthorized() -> Self {
        ApiError {
            code: Some("invalid_api_key"),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or wrong API key: send it as `Authorization: Bearer KEY`",
            )
        }
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("no endpoint {path}: see GET /v1/models, POST /v1/chat/completions, /v1/embeddings, /v1/search, /v1/ask"),
        )
    }

    pub fn busy(busy: Busy) -> Self {
        ApiError {
            code: Some("queue_full"),
            retry_after_s: Some(busy.retry_after_s),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "the answer queue is full: try again in about {} s",
                    busy.retry_after_s
                ),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The error's JSON, as a stream's last event carries it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.detail() })
    }

    fn detail(&self) -> Detail<'_> {
        Detail {
            message: &self.message,
            kind: self.kind,
            param: self.param,
            code: self.code,
        }
    }
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        match error {
            crate::Error::Usage(message) | crate::Error::InvalidSetting(message) => {
                Self::invalid(message)
            }
            bad @ crate::Error::BadSetting { .. } => Self::invalid(bad.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: self.detail(),
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A request body read and decoded as JSON, every failure an [`ApiError`]:
/// too large (413), not UTF-8, malformed, or of the wrong shape (400).
pub fn parse<T: DeserializeOwned>(
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| ApiError {
        status: rejection.status(),
        ..ApiError::invalid(format!(
            "cannot read the request body: {}",
            rejection.body_text()
        ))
    })?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ApiError::invalid("the request body is not UTF-8 text"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid(format!(
            "the request body is not valid JSON for this endpoint: {e}"
        ))
    })
}
