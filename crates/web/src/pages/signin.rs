//! Sign-in, sign-out, the first admin, and confirming the password again
//! before a dangerous action.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::audit::{self, NewEntry};
use cockpit_domain::{password, role::Role};
use serde::Deserialize;

use crate::{
    AppError, AppState,
    auth::{self, CurrentUser, random_token, safe_next},
    form::Form,
    layout::Layout,
};

#[derive(Template)]
#[template(path = "pages/signin.html")]
pub struct SigninPage {
    pub layout: Layout,
    pub csrf: String,
    pub next: String,
    pub email: String,
    pub error: Option<String>,
    /// The provider's label when single sign-on is set up.
    pub sso: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

/// A form token bound to a cookie, for forms shown before sign-in.
pub(crate) fn presession(
    state: &AppState,
    headers: &HeaderMap,
) -> (String, Option<axum::http::HeaderValue>) {
    match auth::cookie_value(headers, state.auth.presession_cookie()) {
        Some(t) if t.len() >= 32 => (t.to_owned(), None),
        _ => {
            let t = random_token();
            let cookie = state.auth.cookie(state.auth.presession_cookie(), Some(&t));
            (t, Some(cookie))
        }
    }
}

pub(crate) fn with_cookie(mut res: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub async fn signin_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if cockpit_db::accounts::count(&state.pool).await? == 0 {
        return Ok(Redirect::to("/setup").into_response());
    }
    let (csrf, cookie) = presession(&state, &headers);
    let page = SigninPage {
        layout: Layout::bare(),
        csrf,
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
        sso: state.sso.as_ref().map(|s| s.config.label.clone()),
    };
    Ok(with_cookie(Html(page.render()?).into_response(), cookie))
}

#[derive(Debug, Deserialize)]
pub struct SigninForm {
    pub email: String,
    pub password: String,
    pub next: Option<String>,
}

pub async fn signin_submit(
    State(state): State<AppState>,
    auth::ClientIp(ip): auth::ClientIp,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Result<Response, AppError> {
    let email = form.email.trim().to_owned();
    let next = safe_next(form.next.as_deref());
    let (csrf, _) = presession(&state, &headers);
    let again = |error: &str, email: &str| SigninPage {
        layout: Layout::bare(),
        csrf: csrf.clone(),
        next: next.clone(),
        email: email.to_owned(),
        error: Some(error.to_owned()),
        sso: state.sso.as_ref().map(|s| s.config.label.clone()),
    };
    let (by_email, by_ip) =
        cockpit_db::accounts::recent_failures(&state.pool, &email, &ip, auth::THROTTLE_WINDOW)
            .await?;
    if by_email >= auth::MAX_FAILURES_PER_ACCOUNT || by_ip >= auth::MAX_FAILURES_PER_ADDRESS {
        record(&state, &email, &ip, "signin.throttled", "refused").await?;
        let page = again(
            "Too many failed sign-ins. Wait 15 minutes and try again.",
            &email,
        );
        return Ok((auth::status_for_throttle(), Html(page.render()?)).into_response());
    }
    let account = cockpit_db::accounts::by_email(&state.pool, &email).await?;
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Verify against a dummy hash when there is no account, so the answer
    // takes as long either way.
    let ok = password::verify(
        &form.password,
        hash.as_deref().unwrap_or(password::dummy_hash()),
    ) && hash.is_some()
        && account.as_ref().is_some_and(|a| a.disabled_at.is_none());
    cockpit_db::accounts::record_attempt(&state.pool, &email, &ip, ok).await?;
    let Some(account) = account.filter(|_| ok) else {
        record(&state, &email, &ip, "signin.failed", "failed").await?;
        let page = again(
            "That email and password do not match an active account.",
            &email,
        );
        return Ok((axum::http::StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response());
    };
    start_session(
        &state,
        account.id,
        &account.email,
        &ip,
        &headers,
        &next,
        "password",
    )
    .await
}

/// A new session with a new id (never the one from before sign-in).
pub async fn start_session(
    state: &AppState,
    account: uuid::Uuid,
    email: &str,
    ip: &str,
    headers: &HeaderMap,
    next: &str,
    method: &str,
) -> Result<Response, AppError> {
    let token = random_token();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect::<String>());
    let mut tx = state.pool.begin().await?;
    if let Some(old) = auth::cookie_value(headers, state.auth.session_cookie()) {
        cockpit_db::accounts::end_session(&mut *tx, &auth::hash_token(old)).await?;
    }
    cockpit_db::accounts::create_session(
        &mut *tx,
        &auth::hash_token(&token),
        account,
        &random_token(),
        Some(ip),
        agent.as_deref(),
    )
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &format!("user:{email}"),
            action: "signin",
            org_id: None,
            target: serde_json::json!({ "ip": ip }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({ "method": method }),
        },
    )
    .await?;
    tx.commit().await?;
    let mut res = Redirect::to(next).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        state.auth.cookie(state.auth.session_cookie(), Some(&token)),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        state.auth.cookie(state.auth.presession_cookie(), None),
    );
    Ok(res)
}

pub(crate) async fn record(
    state: &AppState,
    email: &str,
    ip: &str,
    action: &str,
    outcome: &str,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    // Bounded: the typed email is attacker-controlled.
    let who: String = email.chars().take(254).collect();
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &format!("anonymous:{ip}"),
            action,
            org_id: None,
            target: serde_json::json!({ "email": who, "ip": ip }),
            reason: None,
            outcome: Some(outcome),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn signout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    let mut tx = state.pool.begin().await?;
    cockpit_db::accounts::end_session(&mut *tx, &user.session_hash).await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &user.actor(),
            action: "signout",
            org_id: None,
            target: serde_json::json!({}),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    let mut res = Redirect::to("/signin").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        state.auth.cookie(state.auth.session_cookie(), None),
    );
    Ok(res)
}

// First run ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
}

pub async fn setup_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if cockpit_db::accounts::count(&state.pool).await? > 0 {
        return Ok(Redirect::to("/signin").into_response());
    }
    let (csrf, cookie) = presession(&state, &headers);
    let page = SetupPage {
        layout: Layout::bare(),
        csrf,
        email: String::new(),
        error: None,
    };
    Ok(with_cookie(Html(page.render()?).into_response(), cookie))
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    pub setup_token: String,
    pub email: String,
    pub password: String,
}

/// Creates the first admin. Only while no account exists, and only with the
/// setup token the server printed at start, so that whoever reaches a fresh
/// installation first cannot simply claim it.
pub async fn setup_submit(
    State(state): State<AppState>,
    auth::ClientIp(ip): auth::ClientIp,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if cockpit_db::accounts::count(&state.pool).await? > 0 {
        return Ok(Redirect::to("/signin").into_response());
    }
    let (csrf, _) = presession(&state, &headers);
    let email = form.email.trim().to_owned();
    let again = |error: String| SetupPage {
        layout: Layout::bare(),
        csrf: csrf.clone(),
        email: email.clone(),
        error: Some(error),
    };
    let Some(expected) = state.setup_token.as_deref() else {
        return Ok(Html(again("This server has no setup token: create the first admin with `oauth-cockpit user add --role admin`.".into()).render()?).into_response());
    };
    if !auth::same(expected, form.setup_token.trim()) {
        return Ok((
            axum::http::StatusCode::FORBIDDEN,
            Html(
                again("The setup token is not the one the server printed at start.".into())
                    .render()?,
            ),
        )
            .into_response());
    }
    if !email.contains('@') || email.len() > 254 {
        return Ok(Html(again("Enter an email address.".into()).render()?).into_response());
    }
    if let Err(e) = password::check_policy(&form.password, &[&email]) {
        return Ok(Html(again(e.to_string()).render()?).into_response());
    }
    let hash = password::hash(&form.password);
    let mut tx = state.pool.begin().await?;
    let id = cockpit_db::accounts::create(&mut *tx, &email, None, Some(&hash), Some(Role::Admin))
        .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &format!("user:{email}"),
            action: "account.created",
            org_id: None,
            target: serde_json::json!({ "email": email, "role": "admin", "first_admin": true }),
            reason: Some("first run"),
            outcome: Some("succeeded"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    start_session(&state, id, &email, &ip, &headers, "/", "password").await
}

// Confirming the password again ---------------------------------------------

#[derive(Template)]
#[template(path = "pages/reauth.html")]
pub struct ReauthPage {
    pub layout: Layout,
    pub csrf: String,
    pub next: String,
    pub email: String,
    pub error: Option<String>,
    /// Single sign-on's label, for people who confirm at the provider.
    pub sso: Option<String>,
    pub has_password: bool,
}

pub async fn reauth_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NextQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&state.pool, &user, "", "/", None).await?;
    let account = cockpit_db::accounts::by_id(&state.pool, user.account_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(Html(
        ReauthPage {
            layout,
            csrf: user.csrf.clone(),
            next: safe_next(q.next.as_deref()),
            email: user.email.clone(),
            error: None,
            sso: state.sso.as_ref().map(|s| s.config.label.clone()),
            has_password: account.password_hash.is_some(),
        }
        .render()?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ReauthForm {
    pub password: String,
    pub next: Option<String>,
}

pub async fn reauth_submit(
    State(state): State<AppState>,
    auth::ClientIp(ip): auth::ClientIp,
    user: CurrentUser,
    Form(form): Form<ReauthForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let (by_email, _) =
        cockpit_db::accounts::recent_failures(&state.pool, &user.email, &ip, auth::THROTTLE_WINDOW)
            .await?;
    let account = cockpit_db::accounts::by_id(&state.pool, user.account_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let ok = by_email < auth::MAX_FAILURES_PER_ACCOUNT
        && account
            .password_hash
            .as_deref()
            .is_some_and(|h| password::verify(&form.password, h));
    cockpit_db::accounts::record_attempt(&state.pool, &user.email, &ip, ok).await?;
    if !ok {
        let layout = Layout::load(&state.pool, &user, "", "/", None).await?;
        let page = ReauthPage {
            layout,
            csrf: user.csrf.clone(),
            next,
            email: user.email.clone(),
            error: Some("That password is not right.".into()),
            sso: state.sso.as_ref().map(|s| s.config.label.clone()),
            has_password: account.password_hash.is_some(),
        };
        return Ok((axum::http::StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response());
    }
    cockpit_db::accounts::mark_reauth(&state.pool, &user.session_hash).await?;
    Ok(Redirect::to(&next).into_response())
}
