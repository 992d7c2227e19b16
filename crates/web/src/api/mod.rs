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
mod read;

use axum::{
    Router,
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use chrono::DateTime;
use cockpit_domain::role::Role;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    ApiError, AppError, AppState,
    auth::{CurrentUser, hash_token, random_token},
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

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/apps", get(read::apps))
        .route("/api/v1/apps/{id}", get(read::app))
        .route("/api/v1/tokens", get(read::tokens))
        .route("/api/v1/users", get(read::users))
        .route("/api/v1/users/{uid}", get(read::user))
        .route("/api/v1/reports/stale", get(read::stale))
        .route("/api/v1/reports/offboarding", get(read::offboarding))
        .route("/api/v1/reports/new-apps", get(read::new_apps))
        .route("/api/v1/reports/unknown-apps", get(read::unknown_apps))
        .route("/api/v1/audit", get(read::audit))
        .route("/api/v1/actions", axum::routing::post(actions::create))
        .route("/api/v1/actions/{id}", get(actions::show))
        .route("/api/{*rest}", any(not_found))
        .route_layer(middleware::from_fn_with_state(state, bearer))
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
                self.user.require(id, Role::Viewer)?;
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

/// Runs before every API route: no valid, unrevoked bearer token, 401.
async fn bearer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut res = match authenticate(&state, req.headers()).await {
        Ok(caller) => {
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

/// A numeric id from the path; anything else is not found.
fn path_id(raw: &str) -> Result<i64, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// A malformed paging position.
fn bad_cursor(name: &str) -> AppError {
    AppError::BadRequest(format!(
        "{name} must be a value the previous page returned as \"next\"."
    ))
}

#[cfg(test)]
mod tests;
