//! Orgs: the list, one org's page (status, sync runs, API budget, Sync now,
//! Disconnect), and "Connect an org" through the web-server flow with PKCE.

use crate::form::Form;
use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::{
    audit::{self, NewEntry},
    orgs::OrgRow,
};
use cockpit_domain::{
    role::Role,
    secret::{SecretField, SecretScope},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filters;
use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Admin, Analyst, EveryOrg, In, OrgId, Viewer},
    layout::Layout,
};

#[derive(Template)]
#[template(path = "pages/orgs.html")]
pub struct OrgsPage {
    pub layout: Layout,
    pub orgs: Vec<OrgRow>,
    pub can_connect: bool,
    pub now: DateTime<Utc>,
}

pub async fn orgs_list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, AppError> {
    let visible = user.visible_orgs();
    let orgs = cockpit_db::orgs::list(&state.pool)
        .await?
        .into_iter()
        .filter(|o| visible.contains(&o.id))
        .collect();
    let layout = Layout::load(&state.pool, &user, "orgs", "/orgs", None).await?;
    let can_connect = user.global_role == Some(Role::Admin);
    Ok(Html(
        OrgsPage {
            layout,
            orgs,
            can_connect,
            now: Utc::now(),
        }
        .render()?,
    ))
}

pub struct RunRow {
    pub id: i64,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    pub error: Option<String>,
    pub api_calls: Option<i64>,
    pub counts: serde_json::Value,
}

impl RunRow {
    pub fn seconds(&self) -> String {
        self.finished_at
            .map(|f| {
                format!(
                    "{:.1} s",
                    (f - self.started_at).num_milliseconds() as f64 / 1000.0
                )
            })
            .unwrap_or_default()
    }
    pub fn written(&self) -> i64 {
        [
            "users_written",
            "users_gone",
            "apps_written",
            "apps_gone",
            "tokens_written",
            "tokens_gone",
            "usage_written",
            "logins_written",
        ]
        .iter()
        .filter_map(|k| self.counts.get(*k).and_then(|v| v.as_i64()))
        .sum()
    }
    pub fn events(&self) -> i64 {
        self.counts
            .get("events")
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    }
}

#[derive(Template)]
#[template(path = "pages/org_show.html")]
pub struct OrgShowPage {
    pub layout: Layout,
    pub csrf: String,
    pub org: OrgRow,
    pub runs: Vec<RunRow>,
    pub tokens: i64,
    pub sync_pending: bool,
    pub can_sync: bool,
    pub can_admin: bool,
    pub now: DateTime<Utc>,
    /// The archive of the org's logs: its span, size and the files that
    /// could not be read.
    pub archive: cockpit_db::log_archive::Summary,
}

impl OrgShowPage {
    pub fn budget(&self) -> String {
        match (self.org.api_usage_used, self.org.api_usage_max) {
            (Some(u), Some(m)) if m > 0 => format!(
                "{} of {} ({:.0}%)",
                crate::filters::grouped(u),
                crate::filters::grouped(m),
                u as f64 * 100.0 / m as f64
            ),
            _ => "not known yet".into(),
        }
    }
}

pub async fn org_show(
    State(state): State<AppState>,
    In {
        object: OrgId(id),
        grant,
        user,
    }: In<OrgId, Viewer>,
) -> Result<Html<String>, AppError> {
    let role = grant.role();
    let org = cockpit_db::orgs::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let runs = sqlx::query_as!(
        RunRow,
        "SELECT id, trigger, started_at, finished_at, status, error, api_calls, counts
         FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 20",
        id
    )
    .fetch_all(&state.pool)
    .await?;
    let tokens = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        id
    )
    .fetch_one(&state.pool)
    .await?;
    let sync_pending = sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = 'sync' AND org_id = $1) AS \"p!\"",
        id
    )
    .fetch_one(&state.pool)
    .await?;
    let layout = Layout::load(&state.pool, &user, "orgs", "/orgs", Some(id)).await?;
    Ok(Html(
        OrgShowPage {
            layout,
            csrf: user.csrf.clone(),
            org,
            runs,
            tokens,
            sync_pending,
            can_sync: role >= Role::Analyst,
            can_admin: role >= Role::Admin,
            now: Utc::now(),
            archive: cockpit_db::log_archive::summary(&state.pool, id).await?,
        }
        .render()?,
    ))
}

pub async fn org_sync(
    State(state): State<AppState>,
    In {
        object: OrgId(id),
        user,
        ..
    }: In<OrgId, Analyst>,
) -> Result<Response, AppError> {
    let mut tx = state.pool.begin().await?;
    cockpit_db::jobs::enqueue_sync(&mut *tx, id, "manual").await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &user.actor(),
            action: "sync.requested",
            org_id: Some(id),
            target: serde_json::json!({}),
            reason: None,
            outcome: Some("pending"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/orgs/{id}")).into_response())
}

pub async fn org_disconnect(
    State(state): State<AppState>,
    In {
        object: OrgId(id),
        user,
        ..
    }: In<OrgId, Admin>,
) -> Result<Response, AppError> {
    if !user.recently_authenticated(state.auth.reauth_after) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/orgs/{id}"))
            .finish();
        return Ok(Redirect::to(&format!("/reauth?{q}")).into_response());
    }
    let keyring = state.keyring.clone().ok_or_else(|| {
        AppError::BadRequest("COCKPIT_MASTER_KEY is not set on the server.".into())
    })?;
    let name = cockpit_db::orgs::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?
        .name;
    // Audited first: if the entry cannot be written, nothing is removed.
    let mut tx = state.pool.begin().await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &user.actor(),
            action: "org.disconnected",
            org_id: None,
            target: serde_json::json!({ "org": id, "name": name }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    cockpit_worker::connect::disconnect(&state.pool, &keyring, id)
        .await
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    Ok(Redirect::to("/orgs").into_response())
}

// Connect an org ---------------------------------------------------------

#[derive(Template)]
#[template(path = "pages/org_connect.html")]
pub struct ConnectPage {
    pub layout: Layout,
    pub csrf: String,
    pub callback: String,
    pub form: ConnectForm,
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub my_domain: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
}

/// What waits, sealed, between the redirect to Salesforce and the callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    name: String,
    login_url: String,
    sandbox: bool,
    client_id: String,
    client_secret: Option<String>,
    verifier: String,
}

fn callback_url(state: &AppState) -> String {
    format!("{}/orgs/callback", state.public_url.trim_end_matches('/'))
}

pub async fn org_connect_form(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&state.pool, &user, "orgs", "/orgs", None).await?;
    let form = ConnectForm {
        environment: "production".into(),
        ..ConnectForm::default()
    };
    Ok(Html(
        ConnectPage {
            layout,
            csrf: user.csrf.clone(),
            callback: callback_url(&state),
            form,
            error: None,
        }
        .render()?,
    ))
}

async fn login_url(form: &ConnectForm, allow: &[String]) -> Result<(url::Url, bool), String> {
    match form.environment.as_str() {
        "production" => Ok((
            url::Url::parse("https://login.salesforce.com").unwrap_or_else(|_| unreachable_url()),
            false,
        )),
        "sandbox" => Ok((
            url::Url::parse("https://test.salesforce.com").unwrap_or_else(|_| unreachable_url()),
            true,
        )),
        "my_domain" => {
            let u = crate::salesforce_url::check(&form.my_domain, allow).await?;
            let sandbox = u
                .host_str()
                .is_some_and(|h| h.contains(".sandbox.my.salesforce.com"));
            Ok((u, sandbox))
        }
        _ => Err("Choose production, sandbox or a My Domain URL.".into()),
    }
}

/// A failed call to Salesforce in a short sentence: the error's first line,
/// bounded, never a whole body it may quote.
fn short_reason(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    format!("Salesforce refused the connection: {short}")
}

fn unreachable_url() -> url::Url {
    url::Url::parse("https://login.salesforce.com").expect("constant URL")
}

pub async fn org_connect_start(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Form(form): Form<ConnectForm>,
) -> Result<Response, AppError> {
    let keyring = state.keyring.clone().ok_or_else(|| {
        AppError::BadRequest("COCKPIT_MASTER_KEY is not set on the server.".into())
    })?;
    let problem = if cockpit_worker::connect::validate_name(&form.name).is_err() {
        Some("Give the org a name of 1 to 80 characters.".to_owned())
    } else if form.client_id.trim().is_empty() {
        Some("Enter the consumer key of the cockpit's External Client App in that org.".to_owned())
    } else {
        login_url(&form, &state.salesforce_hosts).await.err()
    };
    if let Some(error) = problem {
        let layout = Layout::load(&state.pool, &user, "orgs", "/orgs", None).await?;
        let page = ConnectPage {
            layout,
            csrf: user.csrf.clone(),
            callback: callback_url(&state),
            form,
            error: Some(error),
        };
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    let (login, sandbox) = login_url(&form, &state.salesforce_hosts)
        .await
        .map_err(AppError::BadRequest)?;
    let secret = Some(form.client_secret.trim())
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()));
    let callback = url::Url::parse(&callback_url(&state))
        .map_err(|e| AppError::Internal(format!("callback URL: {e}")))?;
    let oauth = cockpit_worker::connect::oauth_for_web(
        login.clone(),
        form.client_id.trim(),
        secret.clone(),
        sandbox,
        callback,
    )
    .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let request = oauth
        .authorize_url()
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    let pending = Pending {
        name: form.name.trim().to_owned(),
        login_url: login.to_string(),
        sandbox,
        client_id: form.client_id.trim().to_owned(),
        client_secret: secret.as_ref().map(|s| s.expose_secret().to_owned()),
        verifier: request.pkce_verifier.expose_secret().to_owned(),
    };
    let state_hash = crate::auth::hash_token(request.state.expose_secret());
    let plain = serde_json::to_vec(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = keyring.seal(
        SecretScope {
            org: Uuid::nil(),
            field: SecretField::ClientSecret,
            record: &hex::encode(&state_hash),
        },
        &plain,
    );
    sqlx::query!(
        "INSERT INTO oauth_pending (state_hash, purpose, sealed, account_id) VALUES ($1, 'connect_org', $2, $3)",
        state_hash,
        sealed,
        user.account_id
    )
    .execute(&state.pool)
    .await?;
    Ok(Redirect::to(request.url.as_str()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub state: Option<String>,
}

pub async fn org_connect_callback(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    uri: axum::http::Uri,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let keyring = state.keyring.clone().ok_or_else(|| {
        AppError::BadRequest("COCKPIT_MASTER_KEY is not set on the server.".into())
    })?;
    let st = q.state.ok_or_else(|| {
        AppError::BadRequest(
            "Salesforce sent no state back; start again from Connect an org.".into(),
        )
    })?;
    let state_hash = crate::auth::hash_token(&st);
    // One use only, ten minutes at most, and only by whoever started it.
    let row = sqlx::query!(
        "DELETE FROM oauth_pending WHERE state_hash = $1 AND purpose = 'connect_org' AND account_id = $2
         AND created_at > now() - interval '10 minutes' RETURNING sealed",
        state_hash,
        user.account_id
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| AppError::BadRequest("This sign-in to Salesforce has expired or was already used; start again from Connect an org.".into()))?;
    let plain = keyring
        .open(
            SecretScope {
                org: Uuid::nil(),
                field: SecretField::ClientSecret,
                record: &hex::encode(&state_hash),
            },
            &row.sealed,
        )
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let pending: Pending = serde_json::from_slice(plain.expose_secret())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let code =
        cockpit_salesforce::callback_code(uri.query().unwrap_or(""), &SecretString::from(st))
            .map_err(|e| AppError::Upstream(format!("Salesforce refused the connection: {e}")))?;
    let login =
        url::Url::parse(&pending.login_url).map_err(|e| AppError::Internal(e.to_string()))?;
    let secret = pending.client_secret.map(SecretString::from);
    let callback =
        url::Url::parse(&callback_url(&state)).map_err(|e| AppError::Internal(e.to_string()))?;
    let oauth = cockpit_worker::connect::oauth_for_web(
        login.clone(),
        &pending.client_id,
        secret.clone(),
        pending.sandbox,
        callback,
    )
    .map_err(|e| AppError::Upstream(e.to_string()))?;
    let tokens = oauth
        .exchange_code(code.expose_secret(), &SecretString::from(pending.verifier))
        .await
        .map_err(|e| AppError::Upstream(short_reason(&e)))?;
    let connected = cockpit_worker::connect::connect(
        &state.pool,
        &keyring,
        cockpit_worker::connect::ConnectRequest {
            name: pending.name.clone(),
            login_url: login,
            client_id: pending.client_id,
            client_secret: secret,
            sandbox: pending.sandbox,
            api_version: cockpit_salesforce::DEFAULT_API_VERSION.into(),
            credentials: cockpit_worker::connect::Credentials::WebServer(Box::new(tokens)),
        },
    )
    .await
    .map_err(|e| AppError::Upstream(short_reason(&e)))?;
    let mut tx = state.pool.begin().await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: &user.actor(),
            action: "org.connected",
            org_id: Some(connected.id),
            target: serde_json::json!({ "name": pending.name, "sf_org": connected.sf_org_id, "integration_user": connected.username }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({ "sees_all_tokens": connected.sees_all_tokens }),
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/orgs/{}", connected.id)).into_response())
}
