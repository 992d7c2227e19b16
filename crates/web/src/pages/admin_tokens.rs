//! `/admin/api-tokens`: API tokens for automation. A token is shown once,
//! when it is created; only its hash is kept. Creating one asks for the
//! password again when the last proof is older than five minutes; creation
//! and revocation are audited.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::admin::ApiTokenInfo;
use cockpit_domain::role::Role;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::scope::{Admin, EveryOrg},
    auth::{CurrentUser, hash_token},
    filters,
    form::Form,
    layout::{Layout, OrgChoice},
    pages::admin_accounts::{ROLES, stale_proof},
};

#[derive(Template)]
#[template(path = "pages/admin_tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub csrf: String,
    pub tokens: Vec<ApiTokenInfo>,
    pub orgs: Vec<OrgChoice>,
    pub roles: &'static [&'static str],
    /// Name and value of the token just created: shown this once.
    pub created: Option<(String, String)>,
    pub error: Option<String>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Result<String, AppError> {
    let layout = Layout::load(&state.pool, user, "admin", "/", None).await?;
    Ok(TokensPage {
        orgs: layout.orgs.clone(),
        layout,
        csrf: user.csrf.clone(),
        tokens: cockpit_db::admin::api_tokens(&state.pool).await?,
        roles: &ROLES,
        created,
        error,
    }
    .render()?)
}

pub async fn tokens_list(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
) -> Result<Html<String>, AppError> {
    Ok(Html(page(&state, &user, None, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    pub name: String,
    pub role: String,
    /// Empty: every org.
    #[serde(default)]
    pub org: String,
}

/// Checks a new token's name, role and org; the message says what is wrong.
pub async fn check_new_token(
    pool: &sqlx::PgPool,
    name: &str,
    role: &str,
    org: Option<Uuid>,
) -> Result<Role, String> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(
            "Name the token (up to 80 characters), e.g. after the system that uses it.".into(),
        );
    }
    let role = Role::parse(role).ok_or("The role is one of viewer, analyst or admin.")?;
    if let Some(org) = org {
        let found = sqlx::query_scalar!("SELECT id FROM orgs WHERE id = $1", org)
            .fetch_optional(pool)
            .await
            .map_err(|e| e.to_string())?;
        if found.is_none() {
            return Err("That org does not exist.".into());
        }
    }
    Ok(role)
}

pub async fn token_create(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, AppError> {
    if let Some(redirect) = stale_proof(&state, &user, "/admin/api-tokens") {
        return Ok(redirect);
    }
    let name = form.name.trim();
    let org = match form.org.trim() {
        "" => None,
        o => Some(Uuid::parse_str(o).map_err(|_| AppError::BadRequest("Choose an org.".into()))?),
    };
    let role = match check_new_token(&state.pool, name, &form.role, org).await {
        Ok(role) => role,
        Err(problem) => {
            let html = page(&state, &user, None, Some(problem)).await?;
            return Ok((StatusCode::BAD_REQUEST, Html(html)).into_response());
        }
    };
    let token = crate::api::new_token();
    cockpit_db::admin::create_api_token(
        &state.pool,
        &user.actor(),
        name,
        &hash_token(&token),
        role,
        org,
        Some(user.account_id),
    )
    .await?;
    Ok(Html(page(&state, &user, Some((name.to_owned(), token)), None).await?).into_response())
}

pub async fn token_revoke(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    if !cockpit_db::admin::revoke_api_token(&state.pool, &user.actor(), id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/admin/api-tokens").into_response())
}
