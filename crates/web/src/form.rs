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

/// The form of a decision (approve, reject, break glass): its reason.
#[derive(Debug, serde::Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    pub reason: String,
}

/// Why a decision cannot be taken yet.
pub enum Unconfirmed {
    /// The person must sign in again first: the redirect, back to the page.
    SignInAgain(axum::response::Redirect),
    /// The reason is missing or too long: the page says so.
    NoReason,
}

/// What every decision needs before it is taken: a recent sign-in (or a
/// redirect to sign in again, then back to `next`) and a reason.
pub fn confirmed(
    state: &crate::AppState,
    user: &crate::auth::CurrentUser,
    next: &str,
    reason: &str,
) -> Result<(), Unconfirmed> {
    if !user.recently_authenticated(state.auth.reauth_after) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        return Err(Unconfirmed::SignInAgain(axum::response::Redirect::to(
            &format!("/reauth?{q}"),
        )));
    }
    if !crate::pages::action_new::reason_ok(reason) {
        return Err(Unconfirmed::NoReason);
    }
    Ok(())
}

/// A checkbox: a form sends `on` (or nothing), JSON sends `true` or
/// `false`; either way a `bool`.
pub fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Checked {
        Bool(bool),
        Text(String),
    }
    Ok(
        <Option<Checked> as serde::Deserialize>::deserialize(d)?.map(|v| match v {
            Checked::Bool(b) => b,
            Checked::Text(s) => matches!(s.trim(), "on" | "true" | "yes" | "1"),
        }),
    )
}
