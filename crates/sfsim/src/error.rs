//! Wire-level error shapes: REST `[{"message","errorCode"}]` arrays and OAuth
//! `{"error","error_description"}` objects.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct RestError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<Vec<String>>,
}

impl RestError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> RestError {
        RestError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
            fields: None,
        }
    }
    pub fn not_found() -> RestError {
        RestError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }
    pub fn invalid_session() -> RestError {
        RestError::new(401, "INVALID_SESSION_ID", "Session expired or invalid")
    }
    pub fn limit_exceeded() -> RestError {
        RestError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }
    pub fn malformed_id(id: &str) -> RestError {
        let mut e = RestError::new(
            400,
            "MALFORMED_ID",
            // [C] exact wording not captured.
            format!("malformed id {id}"),
        );
        e.fields = Some(vec!["Id".into()]);
        e
    }
    pub fn method_not_allowed(m: &str) -> RestError {
        RestError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{m}' not allowed. Allowed are GET"),
        )
    }
    pub fn server_unavailable() -> RestError {
        RestError::new(
            503,
            "SERVER_UNAVAILABLE",
            "Service temporarily unavailable (simulated fault)",
        )
    }
    pub fn body(&self) -> String {
        let mut o = serde_json::json!({"message": self.message, "errorCode": self.code});
        if let Some(f) = &self.fields {
            o["fields"] = serde_json::json!(f);
        }
        serde_json::Value::Array(vec![o]).to_string()
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(http::header::CONTENT_TYPE, "application/json;charset=UTF-8")],
            self.body(),
        )
            .into_response()
    }
}

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }
    pub fn with_status(mut self, status: u16) -> OAuthError {
        self.status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        (
            self.status,
            [
                (http::header::CONTENT_TYPE, "application/json;charset=UTF-8"),
                (
                    http::header::CACHE_CONTROL,
                    "no-cache,must-revalidate,max-age=0,no-store,private",
                ),
            ],
            body.to_string(),
        )
            .into_response()
    }
}
