//! The confirmation page before any revoke or block: what will be touched,
//! what will break, and why — then the durable intent.

use crate::form::Form;
use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::actions::{ActionKind, BlastRadius, NewAction};
use serde::Deserialize;
use uuid::Uuid;

use crate::filters;
use crate::{
    AppError, AppState,
    auth::scope::{Admin, Grant},
    auth::{CurrentUser, random_token},
    layout::Layout,
};

/// Kinds that act on everyone at once and so ask for the password again.
pub fn needs_reauth(kind: ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::BlockApp
            | ActionKind::UnblockApp
            | ActionKind::RevokeAppAll
            | ActionKind::BulkRevoke
            | ActionKind::RevokeAppStale
            | ActionKind::RevokeUserAll
    )
}

#[derive(Debug, Deserialize)]
pub struct ActionParams {
    pub org: Uuid,
    pub kind: String,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub token: Vec<String>,
    /// For `revoke_app_stale`: days without use (1 to 3,650).
    #[serde(default)]
    pub days: Option<String>,
}

impl ActionParams {
    /// The `days` of a `revoke_app_stale`, when it is a number in range.
    pub fn idle_days(&self) -> Option<i32> {
        self.days
            .as_deref()
            .and_then(|d| d.trim().parse::<i32>().ok())
            .filter(|d| (1..=3650).contains(d))
    }
}

#[derive(Template)]
#[template(path = "pages/action_new.html")]
pub struct ActionNewPage {
    pub layout: Layout,
    pub csrf: String,
    pub params: ActionParams,
    pub kind_label: &'static str,
    pub block: bool,
    /// The app is an External Client App (blocked by policy, tokens kept).
    pub eca: bool,
    pub org_name: String,
    pub app_name: Option<String>,
    pub user_name: Option<String>,
    pub radius: BlastRadius,
    /// The two-person rule holds it for a second admin.
    pub needs_approval: bool,
    pub idempotency_key: String,
    pub reason: String,
    pub error: Option<String>,
}

struct ActionFormParts {
    params: ActionParams,
    reason: String,
    idempotency_key: String,
}

pub(crate) fn parse_kind(s: &str) -> Result<ActionKind, AppError> {
    ActionKind::parse(s).ok_or_else(|| {
        AppError::BadRequest(format!(
            "unknown action {:?}",
            s.chars().take(40).collect::<String>()
        ))
    })
}

fn new_action<'a>(
    grant: &Grant<Admin>,
    p: &'a ActionParams,
    kind: ActionKind,
    user: &'a str,
    reason: &'a str,
    key: &'a str,
) -> NewAction<'a> {
    NewAction {
        org_id: grant.org(),
        kind,
        app_key: p.app.as_deref().filter(|s| !s.is_empty()),
        user_id: p.user.as_deref().filter(|s| !s.is_empty()),
        token_ids: &p.token,
        idle_days: (kind == ActionKind::RevokeAppStale)
            .then(|| p.idle_days())
            .flatten(),
        requested_by: user,
        reason,
        idempotency_key: key,
    }
}

pub(crate) fn validate(p: &ActionParams, kind: ActionKind) -> Result<(), AppError> {
    if kind == ActionKind::BulkRevoke && p.token.is_empty() {
        return Err(AppError::BadRequest(
            "Nothing was selected: tick the authorizations to revoke, then press Revoke selected."
                .into(),
        ));
    }
    let has = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
    if kind == ActionKind::RevokeAppStale && p.idle_days().is_none() {
        return Err(AppError::BadRequest(
            "Say how many days without use make an authorization stale (1 to 3,650).".into(),
        ));
    }
    let ok = match kind {
        ActionKind::RevokeToken => p.token.len() == 1,
        ActionKind::BulkRevoke => !p.token.is_empty() && p.token.len() <= 10_000,
        ActionKind::RevokeUserApp => has(&p.app) && has(&p.user),
        ActionKind::RevokeUserAll => has(&p.user),
        ActionKind::RevokeAppAll
        | ActionKind::RevokeAppStale
        | ActionKind::BlockApp
        | ActionKind::UnblockApp => has(&p.app),
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "The action is missing what it applies to (app, user or authorizations).".into(),
        ))
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    grant: &Grant<Admin>,
    params: ActionParams,
    key: String,
    reason: String,
    error: Option<String>,
) -> Result<ActionNewPage, AppError> {
    let kind = parse_kind(&params.kind)?;
    let org_name = sqlx::query_scalar!("SELECT name FROM orgs WHERE id = $1", grant.org())
        .fetch_optional(&state.pool)
        .await?
        .ok_or(AppError::NotFound)?;
    let app = match params.app.as_deref() {
        Some(k) => {
            sqlx::query!(
                "SELECT name, kind FROM sf_apps WHERE org_id = $1 AND app_key = $2",
                params.org,
                k
            )
            .fetch_optional(&state.pool)
            .await?
        }
        None => None,
    };
    let eca = app
        .as_ref()
        .is_some_and(|a| a.kind == "external_client_app");
    let app_name = app.map(|a| a.name);
    let user_name = match params.user.as_deref() {
        Some(u) => {
            sqlx::query_scalar!(
                "SELECT name FROM sf_users WHERE org_id = $1 AND id = $2",
                params.org,
                u
            )
            .fetch_optional(&state.pool)
            .await?
        }
        None => None,
    };
    let radius = cockpit_db::actions::blast_radius(
        &state.pool,
        &new_action(grant, &params, kind, "", "", ""),
    )
    .await?;
    let layout = Layout::load(&state.pool, user, "", "/apps", Some(grant.org())).await?;
    Ok(ActionNewPage {
        layout,
        csrf: user.csrf.clone(),
        kind_label: kind.label(),
        block: matches!(kind, ActionKind::BlockApp),
        eca,
        params,
        org_name,
        app_name,
        user_name,
        needs_approval: state.two_person.wait_for(kind, radius.tokens).is_some(),
        radius,
        idempotency_key: key,
        reason,
        error,
    })
}

fn reauth_redirect(params: &ActionParams) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("org", &params.org.to_string())
        .append_pair("kind", &params.kind);
    if let Some(a) = &params.app {
        q.append_pair("app", a);
    }
    if let Some(u) = &params.user {
        q.append_pair("user", u);
    }
    for t in &params.token {
        q.append_pair("token", t);
    }
    if let Some(d) = &params.days {
        q.append_pair("days", d);
    }
    let next = format!("/actions/new?{}", q.finish());
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    Redirect::to(&format!("/reauth?{q}")).into_response()
}

pub async fn action_new(
    State(state): State<AppState>,
    user: CurrentUser,
    axum_extra::extract::Query(params): axum_extra::extract::Query<ActionParams>,
) -> Result<Response, AppError> {
    let grant = user.grant::<Admin>(params.org)?;
    let kind = parse_kind(&params.kind)?;
    validate(&params, kind)?;
    if needs_reauth(kind) && !user.recently_authenticated(state.auth.reauth_after) {
        return Ok(reauth_redirect(&params));
    }
    let page = page(
        &state,
        &user,
        &grant,
        params,
        random_token(),
        String::new(),
        None,
    )
    .await?;
    Ok(Html(page.render()?).into_response())
}

/// The confirmation form; the API takes the same fields as JSON (with
/// `tokens` for the repeated `token`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ActionForm {
    pub org: Uuid,
    /// `revoke_token`, `revoke_user_app`, `revoke_user_all`,
    /// `revoke_app_all`, `revoke_app_stale` (with `days`), `block_app`,
    /// `unblock_app` or `bulk_revoke` (with `tokens`).
    pub kind: String,
    /// The app's key.
    #[serde(default)]
    pub app: Option<String>,
    /// The Salesforce user id.
    #[serde(default)]
    pub user: Option<String>,
    /// Authorization ids, for `revoke_token` and `bulk_revoke` (`tokens`
    /// is taken too).
    #[serde(default, alias = "tokens")]
    pub token: Vec<String>,
    /// Days without use, for `revoke_app_stale`; a number or a string.
    #[serde(default, deserialize_with = "days_field")]
    #[schema(value_type = Option<String>)]
    pub days: Option<String>,
    pub reason: String,
    /// 16 to 100 characters; the same key again answers the action it created.
    pub idempotency_key: String,
}

impl ActionForm {
    /// What the action applies to, its reason and its idempotency key.
    pub(crate) fn split(self) -> (ActionParams, String, String) {
        (
            ActionParams {
                org: self.org,
                kind: self.kind,
                app: self.app,
                user: self.user,
                token: self.token,
                days: self.days,
            },
            self.reason,
            self.idempotency_key,
        )
    }
}

pub async fn action_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(f): Form<ActionForm>,
) -> Result<Response, AppError> {
    let (params, reason, idempotency_key) = f.split();
    let form = ActionFormParts {
        params,
        reason,
        idempotency_key,
    };
    let grant = user.grant::<Admin>(form.params.org)?;
    let kind = parse_kind(&form.params.kind)?;
    validate(&form.params, kind)?;
    if needs_reauth(kind) && !user.recently_authenticated(state.auth.reauth_after) {
        return Ok(reauth_redirect(&form.params));
    }
    let reason = form.reason.trim();
    if !reason_ok(reason) {
        let page = page(
            &state,
            &user,
            &grant,
            form.params,
            form.idempotency_key.clone(),
            form.reason.clone(),
            Some(REASON_NEEDED.into()),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    if !key_ok(&form.idempotency_key) {
        return Err(AppError::BadRequest(
            "The form is incomplete; reload it and try again.".into(),
        ));
    }
    let requested = record(
        &state,
        &grant,
        &form.params,
        kind,
        &user.actor(),
        reason,
        &form.idempotency_key,
    )
    .await?;
    Ok(Redirect::to(&format!("/actions/{}", requested.id)).into_response())
}

/// `days` as the form sends it (text) or as JSON may (a number).
fn days_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Days {
        Text(String),
        Number(i64),
    }
    Ok(Option::<Days>::deserialize(d)?.map(|v| match v {
        Days::Text(s) => s,
        Days::Number(n) => n.to_string(),
    }))
}

pub(crate) const REASON_NEEDED: &str =
    "Say why (up to 2,000 characters): the reason goes into the audit log.";

/// A reason (already trimmed) the audit log accepts.
pub(crate) fn reason_ok(reason: &str) -> bool {
    !reason.is_empty() && reason.chars().count() <= 2000
}

/// An idempotency key of a sensible length.
pub(crate) fn key_ok(key: &str) -> bool {
    (16..=100).contains(&key.len())
}

/// Writes the durable intent (action, items, audit entry, job) and wakes the
/// worker; a key seen before answers the action it created. Under the
/// two-person rule the action waits for a second admin instead of a job.
pub(crate) async fn record(
    state: &AppState,
    grant: &Grant<Admin>,
    params: &ActionParams,
    kind: ActionKind,
    actor: &str,
    reason: &str,
    key: &str,
) -> Result<cockpit_db::actions::Requested, AppError> {
    let rule = state.two_person;
    let requested = cockpit_db::actions::request_with_rule(
        &state.pool,
        &new_action(grant, params, kind, actor, reason, key),
        &move |kind, n| rule.wait_for(kind, n),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "action refused: intent or audit entry could not be written");
        AppError::Internal(format!("action not recorded: {e}"))
    })?
    .map_err(|_| {
        AppError::Conflict(
            "This idempotency key was used for another action (another org or kind). Use a new key.".into(),
        )
    })?;
    state.wake_worker();
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn block_says_what_it_does_for_each_kind_of_app(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        // An External Client App: turned off by policy, authorizations kept.
        let page = get_page(
            &pool,
            &format!("/actions/new?org={org}&kind=block_app&app=0xIB"),
        )
        .await;
        let warning = page.texts("#block-eca");
        assert_eq!(warning.len(), 1);
        assert!(warning[0].contains("isEnabled"), "{warning:?}");
        assert!(warning[0].contains("kept, not revoked"));
        assert!(page.select("#block-connected").is_empty());
        assert!(
            page.texts("dl.facts dt")
                .contains(&"Authorizations that stop working (kept)".to_owned())
        );
        assert_eq!(
            page.texts("dl.facts dd.name"),
            [HOSTILE],
            "escaped, shown as text"
        );
        // A connected app: blocked; its authorizations are kept, as an ECA's.
        let page = get_page(
            &pool,
            &format!("/actions/new?org={org}&kind=block_app&app=0H4A"),
        )
        .await;
        assert!(page.select("#block-eca").is_empty());
        assert!(page.texts("#block-connected")[0].contains("authorizations are kept"));
        assert!(
            page.texts("dt")
                .contains(&"Authorizations that stop working (kept)".to_owned())
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn revoke_selected_with_nothing_ticked_says_so(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let (status, _, body) =
            get_raw(&pool, &format!("/actions/new?org={org}&kind=bulk_revoke")).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST);
        assert!(body.contains("Nothing was selected"), "{body}");
    }
}
