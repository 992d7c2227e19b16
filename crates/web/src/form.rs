//! Form bodies (repeated fields allowed, e.g. several `token=`), with any
//! malformed form answered 400 with our own error page instead of the
//! extractor's plain-text rejection.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::AppError;

pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum_extra::extract::Form::<T>::from_request(req, state).await {
            Ok(axum_extra::extract::Form(value)) => Ok(Form(value)),
            Err(rejection) => {
                // The detail names the field; the value it quotes is escaped on the page and bounded here.
                let detail: String = rejection.body_text().chars().take(200).collect();
                Err(AppError::BadRequest(format!(
                    "The form could not be read ({detail}). Reload the page and try again."
                )))
            }
        }
    }
}
