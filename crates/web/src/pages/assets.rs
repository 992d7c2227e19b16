//! Static assets, compiled into the binary so it runs from any directory,
//! and the fallback pages.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::{AppError, auth::session::MaybeUser, error::ErrorShown};

const APP_CSS: &str = include_str!("../../../../static/app.css");

pub async fn css() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        APP_CSS,
    )
}

/// No route: the "not found" page, with the navigation of whoever is
/// signed in.
pub async fn not_found(MaybeUser(user): MaybeUser) -> Response {
    let res = AppError::NotFound.into_response();
    match (user, res.extensions().get::<ErrorShown>().cloned()) {
        (Some(user), Some(shown)) => shown.render(crate::layout::Layout::bare_for(&user)),
        _ => res,
    }
}

/// A panic in a handler becomes the ordinary error page; the panic message is
/// logged, never shown.
pub fn panic_page(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::Internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn panic_page_hides_the_panic_text() {
        let res = panic_page(Box::new("secret internal detail".to_string()));
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
