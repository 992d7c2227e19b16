//! `/api/v1`: JSON for automation (SOAR, ticketing), authenticated by API
//! tokens only.
//!
//! A token is sent as `Authorization: Bearer <token>`; only its SHA-256 is
//! stored. It carries a role, in every org or in one, and [`bearer`] turns it
//! into the same [`CurrentUser`] the pages check roles against. Session
//! cookies are ignored here, and so is the anti-forgery token: a bearer
//! token is never sent by a browser on its own, so a forged cross-site
//! request carries nothing that would let it in.

mod actions;
mod channels;
mod hunts;
mod incidents;
pub mod openapi;
mod read;

use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::DateTime;
use cockpit_domain::role::Role;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    ApiError, AppError, AppState,
    auth::{CurrentUser, hash_token, random_token},
    error::ErrorShown,
    router::{Group, Routes},
};

/// JSON bodies are small (an action names at most 10,000 authorizations).
pub const BODY_LIMIT: usize = 128 * 1024;
/// Tokens begin with this, so secret scanners can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "ock_";

/// A new API token: the prefix and 256 random bits. Shown once; store only
/// [`hash_token`] of it.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_token())
}

/// The API's routes; see [`crate::router::Group::Api`].
pub(crate) fn routes() -> Routes {
    Routes::new(Group::Api)
        .get("/api/v1/apps", read::apps)
        .get("/api/v1/apps/where", read::apps_where)
        .get("/api/v1/apps/{id}", read::app)
        .get("/api/v1/tokens", read::tokens)
        .get("/api/v1/users", read::users)
        .get("/api/v1/users/{uid}", read::user)
        .get("/api/v1/reports/stale", read::stale)
        .get("/api/v1/reports/offboarding", read::offboarding)
        .get("/api/v1/reports/new-apps", read::new_apps)
        .get("/api/v1/reports/unknown-apps", read::unknown_apps)
        .get("/api/v1/audit", read::audit)
        .post("/api/v1/incidents", incidents::create)
        .get("/api/v1/incidents/{id}", incidents::show)
        .post("/api/v1/incidents/{id}/contain", incidents::contain)
        .post("/api/v1/indicators", hunts::import_indicators)
        .post("/api/v1/hunts", hunts::create)
        .get("/api/v1/hunts/{id}", hunts::show)
        .post("/api/v1/actions", actions::create)
        .get("/api/v1/actions/{id}", actions::show)
        .get("/api/v1/channels", channels::list)
        .post("/api/v1/channels", channels::create)
        .any("/api/{*rest}", not_found)
}

async fn not_found() -> ApiError {
    ApiError(AppError::NotFound)
}

/// Who is calling: the token's role as a [`CurrentUser`], and its name for
/// the audit log.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub user: CurrentUser,
    pub token_id: Uuid,
    pub name: String,
    /// The one org the token is limited to.
    pub org: Option<Uuid>,
}

impl ApiCaller {
    /// The actor written to the audit log.
    pub fn actor(&self) -> String {
        format!("api:{}", self.name)
    }

    /// The org a list is narrowed to: `?org=` if given (an org the token may
    /// not see answers 404), else the token's org, else every org.
    pub fn list_org(&self, raw: Option<&str>) -> Result<Option<Uuid>, AppError> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => {
                let id = Uuid::parse_str(s)
                    .map_err(|_| AppError::BadRequest("org must be an org id (a UUID).".into()))?;
                self.user.grant::<crate::auth::scope::Viewer>(id)?;
                Ok(Some(id))
            }
            None => Ok(self.org),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ApiCaller>()
            .cloned()
            .ok_or(ApiError(AppError::Unauthenticated))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 200)
        .then_some(token)
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ApiCaller, AppError> {
    let token = bearer_token(headers).ok_or(AppError::Unauthenticated)?;
    let row = cockpit_db::accounts::api_token_by_hash(&state.pool, &hash_token(token))
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let role = Role::parse(&row.role).ok_or_else(|| {
        AppError::Internal(format!("api token {} has role {:?}", row.id, row.role))
    })?;
    let orgs = match row.org_id {
        Some(org) => vec![org],
        None => {
            sqlx::query_scalar!("SELECT id FROM orgs")
                .fetch_all(&state.pool)
                .await?
        }
    };
    Ok(ApiCaller {
        user: CurrentUser {
            account_id: row.id,
            email: format!("api:{}", row.name),
            display_name: Some(row.name.clone()),
            global_role: row.org_id.is_none().then_some(role),
            org_roles: orgs.into_iter().map(|o| (o, role)).collect(),
            csrf: String::new(),
            session_hash: Vec::new(),
            // A token never proved a password.
            reauth_at: DateTime::UNIX_EPOCH,
            org_names: None,
        },
        token_id: row.id,
        name: row.name,
        org: row.org_id,
    })
}

/// Runs before every API route: no valid, unrevoked bearer token, 401. The
/// caller goes into the request both as [`ApiCaller`] and as the
/// [`CurrentUser`] the extractors of [`crate::auth::scope`] check.
pub(crate) async fn bearer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut res = match authenticate(&state, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller.user.clone());
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => {
            let mut res = ApiError(e).into_response();
            if res.status() == axum::http::StatusCode::UNAUTHORIZED {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            res
        }
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Every refusal in the API's JSON face, including those of the shared
/// extractors and layers, which answer an error page.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match res.extensions().get::<ErrorShown>() {
        Some(shown) if !json => {
            let mut out = shown.json();
            if let Some(v) = res.headers().get(header::WWW_AUTHENTICATE) {
                out.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, v.clone());
            }
            out
        }
        _ => res,
    }
}

/// A JSON body, bounded by [`BODY_LIMIT`], with the error's JSON face for
/// anything malformed (400 with what was wrong) or too large (413).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT) {
            return Err(ApiError(AppError::TooLarge));
        }
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| ApiError(AppError::TooLarge))?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            let detail: String = e.to_string().chars().take(200).collect();
            ApiError(AppError::BadRequest(format!(
                "The body is not the JSON this request takes: {detail}."
            )))
        })
    }
}

/// Query parameters, with a 400 that says what was wrong.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let detail: String = e.body_text().chars().take(200).collect();
                ApiError(AppError::BadRequest(detail))
            })
    }
}

/// A malformed paging position.
fn bad_cursor(name: &str) -> AppError {
    AppError::BadRequest(format!(
        "{name} must be a value the previous page returned as \"next\"."
    ))
}

#[cfg(test)]
mod tests;
