//! One error type for the web layer. It renders a friendly page (or JSON under
//! `/api/`), logs internal causes once, and never shows internal text.

use askama::Template;
use axum::{
    Json,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No session: pages send people to sign in, the API answers 401.
    #[error("not signed in")]
    Unauthenticated,
    /// A state change from another site, or without the anti-forgery token.
    #[error("refused: {0}")]
    BadOrigin(String),
    #[error("request body too large")]
    TooLarge,
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The message is shown to the user: it must not contain internal detail.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request clashes with an earlier one (an idempotency key reused
    /// for something else); the message is shown.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Salesforce answered badly; the message is user-presentable.
    #[error("salesforce: {0}")]
    Upstream(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if cockpit_db::is_unavailable(&err) {
            AppError::Unavailable(err.to_string())
        } else if matches!(err, sqlx::Error::RowNotFound) {
            AppError::NotFound
        } else {
            AppError::Internal(err.to_string())
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::Internal(format!("template: {err}"))
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::BadOrigin(_) => StatusCode::FORBIDDEN,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Title and explanation a person may read.
    fn public(&self) -> (&'static str, String) {
        match self {
            AppError::Unauthenticated => ("Sign in first", "Your session has ended or you are not signed in.".into()),
            AppError::BadOrigin(msg) => ("Refused", msg.clone()),
            AppError::TooLarge => ("Too large", "That request is larger than the cockpit accepts.".into()),
            AppError::NotFound => ("Not found", "There is nothing at this address, or you have no access to it.".into()),
            AppError::Forbidden => ("Not allowed", "Your role does not allow this.".into()),
            AppError::BadRequest(msg) => ("That did not work", msg.clone()),
            AppError::Conflict(msg) => ("Already used", msg.clone()),
            AppError::Unavailable(_) => (
                "The cockpit's database is unavailable",
                "The cockpit cannot reach its database right now. Nothing was changed. \
                 It reconnects by itself; try again in a moment."
                    .into(),
            ),
            AppError::Upstream(msg) => ("Salesforce did not answer as expected", msg.clone()),
            AppError::Internal(_) => (
                "Something went wrong",
                "The error has been logged. Nothing was changed; try again, and tell your administrator if it persists.".into(),
            ),
        }
    }

    /// Logged once, here, where the error becomes a response.
    fn log(&self) {
        match self {
            AppError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            AppError::Upstream(cause) => tracing::warn!(error = %cause, "upstream error"),
            _ => {}
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub layout: crate::layout::Layout,
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

/// What an error page said, kept on the response so that the layer of the
/// route's group can say it again in its own face: with the navigation of
/// whoever is signed in (pages), or as JSON (the API).
#[derive(Debug, Clone)]
pub struct ErrorShown {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl ErrorShown {
    pub fn render(self, layout: crate::layout::Layout) -> Response {
        let page = ErrorPage {
            layout,
            status: self.status.as_u16(),
            title: self.title,
            message: self.message.clone(),
        };
        let mut res = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.title).into_response(),
        };
        res.extensions_mut().insert(self);
        res
    }

    pub fn json(&self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.title, "message": self.message, "status": self.status.as_u16() })),
        )
            .into_response()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if matches!(self, AppError::Unauthenticated) {
            return axum::response::Redirect::to("/signin").into_response();
        }
        self.log();
        let status = self.status();
        let (title, message) = self.public();
        ErrorShown {
            status,
            title,
            message,
        }
        .render(crate::layout::Layout::bare())
    }
}

/// The JSON face of [`AppError`], for `/api/` handlers.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let (title, message) = self.0.public();
        ErrorShown {
            status,
            title,
            message,
        }
        .json()
    }
}
