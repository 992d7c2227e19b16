//! Single sign-on: "Sign in with …" sends the browser to the identity
//! provider; its answer comes back to `/signin/sso/callback`, where the
//! person is found (or, when the provider gives them a role, created) and
//! signed in. The same round trip with `prompt=login` confirms who someone
//! is before a dangerous action, for people who have no password here.
//!
//! The protocol is in `oidc.rs`; this file is the pages and the accounts.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::audit::{self, NewEntry};
use cockpit_domain::{
    role::Role,
    secret::{Keyring, SecretField, SecretScope},
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::{self, CurrentUser, safe_next},
    form::Form,
    oidc::{Identity, Pending, Sso},
    pages::signin::{self, SigninPage},
};

/// A round trip to the provider must come back within this.
const PENDING_MINUTES: i32 = 10;

fn sso_parts(state: &AppState) -> Result<(&Sso, &Keyring), AppError> {
    let sso = state.sso.as_deref().ok_or_else(|| {
        AppError::BadRequest("Single sign-on is not set up on this server.".into())
    })?;
    let keyring = state.keyring.as_deref().ok_or_else(|| {
        AppError::BadRequest("Single sign-on needs COCKPIT_MASTER_KEY on the server.".into())
    })?;
    Ok((sso, keyring))
}

fn scope(state_hash: &str) -> SecretScope<'_> {
    SecretScope {
        org: Uuid::nil(),
        field: SecretField::SsoPending,
        record: state_hash,
    }
}

/// Keeps what the return trip needs (sealed), then sends the browser on.
async fn send_to_provider(
    state: &AppState,
    account: Option<Uuid>,
    browser: &[u8],
    next: &str,
    login_hint: Option<&str>,
    fresh: bool,
) -> Result<Response, AppError> {
    let (sso, keyring) = sso_parts(state)?;
    let started = sso.start(login_hint, fresh).await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on could not start");
        AppError::Upstream(
            "The identity provider could not be reached. Try again, or sign in with a password."
                .into(),
        )
    })?;
    let pending = Pending {
        verifier: started.verifier,
        nonce: started.nonce,
        next: next.to_owned(),
        browser: hex::encode(browser),
    };
    let state_hash = auth::hash_token(started.state.expose_secret());
    let plain = serde_json::to_vec(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = keyring.seal(scope(&hex::encode(&state_hash)), &plain);
    sqlx::query!(
        "INSERT INTO oauth_pending (state_hash, purpose, sealed, account_id) VALUES ($1, 'sso', $2, $3)",
        state_hash,
        sealed,
        account
    )
    .execute(&state.pool)
    .await?;
    Ok(Redirect::to(started.url.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    pub next: Option<String>,
}

/// POST /signin/sso (from the sign-in page, with its form token).
pub async fn sso_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    // The session layer has checked this cookie against the form's token.
    let browser = auth::cookie_value(&headers, state.auth.presession_cookie())
        .map(auth::hash_token)
        .ok_or_else(|| AppError::BadRequest("Reload the sign-in page and try again.".into()))?;
    let next = safe_next(form.next.as_deref());
    send_to_provider(&state, None, &browser, &next, None, false).await
}

/// POST /reauth/sso: confirm who you are at the provider before a dangerous action.
pub async fn reauth_sso(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    send_to_provider(
        &state,
        Some(user.account_id),
        &user.session_hash,
        &next,
        Some(&user.email),
        true,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// GET /signin/sso/callback: the provider sends the browser back here.
pub async fn sso_callback(
    State(state): State<AppState>,
    auth::ClientIp(ip): auth::ClientIp,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let (sso, keyring) = sso_parts(&state)?;
    let st = q.state.as_deref().unwrap_or("");
    let state_hash = auth::hash_token(st);
    // One use only, and only for a while.
    let row = sqlx::query!(
        "DELETE FROM oauth_pending WHERE state_hash = $1 AND purpose = 'sso'
         AND created_at > now() - make_interval(mins => $2) RETURNING sealed, account_id",
        state_hash,
        PENDING_MINUTES
    )
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row.filter(|_| !st.is_empty()) else {
        return failed(
            &state,
            &headers,
            &ip,
            None,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Start again.",
        )
        .await;
    };
    let plain = keyring
        .open(scope(&hex::encode(&state_hash)), &row.sealed)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let pending: Pending = serde_json::from_slice(plain.expose_secret())
        .map_err(|e| AppError::Internal(e.to_string()))?;

    // The flow must end in the browser (or session) that started it.
    let session = auth::cookie_value(&headers, state.auth.session_cookie()).map(auth::hash_token);
    let presession =
        auth::cookie_value(&headers, state.auth.presession_cookie()).map(auth::hash_token);
    let started_here = match row.account_id {
        Some(_) => session.as_deref().map(hex::encode),
        None => presession.as_deref().map(hex::encode),
    }
    .is_some_and(|b| auth::same(&b, &pending.browser));
    if !started_here {
        return failed(
            &state,
            &headers,
            &ip,
            None,
            StatusCode::BAD_REQUEST,
            "This sign-in was started in another browser. Start again here.",
        )
        .await;
    }
    if let Some(code) = &q.error {
        let text: String = q
            .error_description
            .as_deref()
            .unwrap_or(code)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let msg = format!("The identity provider did not sign you in: {text}");
        return failed(&state, &headers, &ip, None, StatusCode::UNAUTHORIZED, &msg).await;
    }
    let Some(code) = q.code.as_deref() else {
        return failed(
            &state,
            &headers,
            &ip,
            None,
            StatusCode::BAD_REQUEST,
            "The identity provider sent no authorization code back.",
        )
        .await;
    };
    let identity = match sso.finish(code, &pending).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on failed");
            let status = match e {
                crate::oidc::SsoError::Verify(_) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_GATEWAY,
            };
            return failed(&state, &headers, &ip, None, status,
                "Single sign-on failed: the identity provider's answer could not be verified. Try again.").await;
        }
    };

    if let Some(account) = row.account_id {
        return reauth_done(
            &state,
            account,
            session.unwrap_or_default(),
            &identity,
            &pending.next,
        )
        .await;
    }
    match find_or_create(&state, sso, &identity).await? {
        Ok((id, email)) => {
            signin::start_session(
                &state,
                id,
                &email,
                &ip,
                &headers,
                &safe_next(Some(&pending.next)),
                "sso",
            )
            .await
        }
        Err(msg) => {
            let who = identity
                .email
                .clone()
                .unwrap_or_else(|| identity.subject.clone());
            failed(
                &state,
                &headers,
                &ip,
                Some(&who),
                StatusCode::FORBIDDEN,
                &msg,
            )
            .await
        }
    }
}

/// The sign-in page again with the reason, and the failure in the audit log.
async fn failed(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    who: Option<&str>,
    status: StatusCode,
    msg: &str,
) -> Result<Response, AppError> {
    signin::record(state, who.unwrap_or(""), ip, "signin.failed", "failed").await?;
    let (csrf, cookie) = signin::presession(state, headers);
    let page = SigninPage {
        layout: crate::layout::Layout::bare(),
        csrf,
        next: "/".into(),
        email: String::new(),
        error: Some(msg.to_owned()),
        sso: state.sso.as_ref().map(|s| s.config.label.clone()),
    };
    Ok(signin::with_cookie(
        (status, Html(askama::Template::render(&page)?)).into_response(),
        cookie,
    ))
}

/// A fresh provider sign-in counts as the password re-check, if it is the
/// same person.
async fn reauth_done(
    state: &AppState,
    account: Uuid,
    session_hash: Vec<u8>,
    identity: &Identity,
    next: &str,
) -> Result<Response, AppError> {
    let linked = cockpit_db::sso::identity_of(&state.pool, account).await?;
    if linked.as_ref() != Some(&(identity.issuer.clone(), identity.subject.clone())) {
        return Err(AppError::BadRequest(
            "You confirmed as a different person at the identity provider. Sign in there as yourself and try again."
                .into(),
        ));
    }
    cockpit_db::accounts::mark_reauth(&state.pool, &session_hash).await?;
    Ok(Redirect::to(&safe_next(Some(next))).into_response())
}

/// The account for a provider identity: by its subject, else by a verified
/// email not yet linked to another identity (then linked), else a new one
/// when the provider gives a role. Roles follow the provider when it
/// manages them. `Ok(Err(message))` refuses the sign-in.
async fn find_or_create(
    state: &AppState,
    sso: &Sso,
    identity: &Identity,
) -> Result<Result<(Uuid, String), String>, AppError> {
    let actor = format!("sso:{}", identity.issuer);
    let role = sso.config.role_for(&identity.role_values);
    let shown = identity
        .email
        .clone()
        .unwrap_or_else(|| identity.subject.clone());
    let mut tx = state.pool.begin().await?;
    let mut account =
        cockpit_db::sso::by_identity(&mut *tx, &identity.issuer, &identity.subject).await?;
    if account.is_none()
        && identity.email_verified != Some(false)
        && let Some(email) = &identity.email
        && let Some(found) = cockpit_db::accounts::by_email(&mut *tx, email).await?
        && cockpit_db::sso::link(&mut *tx, found.id, &identity.issuer, &identity.subject).await?
    {
        append(
            &mut tx,
            &actor,
            "account.sso_linked",
            &found.email,
            serde_json::json!({}),
        )
        .await?;
        account = Some(found);
    }
    let account = match account {
        Some(a) => a,
        None => {
            let (Some(email), Some(role)) = (&identity.email, role) else {
                return Ok(Err(format!(
                    "You signed in at the identity provider as {shown}, but that identity has no role in the cockpit. Ask an administrator for access."
                )));
            };
            if cockpit_db::accounts::by_email(&mut *tx, email)
                .await?
                .is_some()
            {
                return Ok(Err(format!(
                    "An account for {email} already exists and is linked to another identity. Ask an administrator."
                )));
            }
            let id = cockpit_db::accounts::create(
                &mut *tx,
                email,
                identity.name.as_deref(),
                None,
                Some(role),
            )
            .await?;
            cockpit_db::sso::link(&mut *tx, id, &identity.issuer, &identity.subject).await?;
            append(
                &mut tx,
                &actor,
                "account.created",
                email,
                serde_json::json!({ "role": role.as_str(), "via": "sso" }),
            )
            .await?;
            tx.commit().await?;
            return Ok(Ok((id, email.clone())));
        }
    };
    if account.disabled_at.is_some() {
        return Ok(Err("This account is disabled. Ask an administrator.".into()));
    }
    let current = account.role.as_deref().and_then(Role::parse);
    if sso.config.manages_roles() && current != role {
        cockpit_db::accounts::set_role(&mut *tx, account.id, role).await?;
        append(&mut tx, &actor, "account.role_changed", &account.email, serde_json::json!({
            "from": current.map(Role::as_str), "to": role.map(Role::as_str), "claim": sso.config.role_claim,
        })).await?;
    }
    let effective = if sso.config.manages_roles() {
        role
    } else {
        current
    };
    if effective.is_none()
        && cockpit_db::accounts::org_roles(&mut *tx, account.id)
            .await?
            .is_empty()
    {
        tx.commit().await?;
        return Ok(Err(format!(
            "You signed in at the identity provider as {shown}, but that identity has no role in the cockpit. Ask an administrator for access."
        )));
    }
    tx.commit().await?;
    Ok(Ok((account.id, account.email)))
}

async fn append(
    tx: &mut sqlx::PgConnection,
    actor: &str,
    action: &str,
    email: &str,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    audit::append(
        tx,
        &NewEntry {
            actor,
            action,
            org_id: None,
            target: serde_json::json!({ "email": email }),
            reason: None,
            outcome: Some("succeeded"),
            detail,
        },
    )
    .await?;
    Ok(())
}
