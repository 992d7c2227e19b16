//! One action: the second admin's approval when the two-person rule holds
//! it, progress while it runs, the verified outcome after, every
//! authorization that failed with its reason, and a retry.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::actions::{ActionRow, ItemCounts, ItemRow};
use cockpit_db::incidents::DecideRefused;
use cockpit_domain::role::Role;
use serde::Deserialize;

use crate::filters;
use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{ActionId, Admin, Anywhere, In, Viewer},
    form::{DecisionForm, Form, Unconfirmed, confirmed},
    layout::Layout,
};

#[derive(Template)]
#[template(path = "pages/action_show.html")]
pub struct ActionShowPage {
    pub layout: Layout,
    pub csrf: String,
    pub action: ActionRow,
    pub kind_label: &'static str,
    pub org_name: String,
    pub app_name: Option<String>,
    pub counts: ItemCounts,
    pub failed: Vec<ItemRow>,
    pub can_retry: bool,
    /// Requests under the two-person rule, newest first.
    pub approvals: Vec<cockpit_db::incidents::Approval>,
    /// A second admin may approve or reject the waiting request.
    pub can_decide: bool,
    /// The viewer asked for it and cannot be the second person.
    pub own_request: bool,
    /// A global admin may break glass on the waiting request.
    pub can_break_glass: bool,
    pub message: Option<String>,
    pub now: DateTime<Utc>,
}

impl ActionShowPage {
    pub fn in_progress(&self) -> bool {
        matches!(self.action.status.as_str(), "pending" | "running")
    }
    /// The request waiting for a second admin, if any.
    pub fn pending(&self) -> Option<&cockpit_db::incidents::Approval> {
        self.approvals.iter().find(|a| a.status == "pending")
    }
    /// A block or unblock: nothing per authorization to show.
    pub fn blockish(&self) -> bool {
        matches!(self.action.kind.as_str(), "block_app" | "unblock_app")
    }
    pub fn total(&self) -> i64 {
        self.counts.pending + self.counts.revoked + self.counts.gone + self.counts.failed
    }
}

/// Seconds between reloads of a running action's page (a `Refresh` header:
/// no script needed, and the CSP allows it).
pub const REFRESH_SECONDS: u32 = 3;

pub async fn action_show(
    State(state): State<AppState>,
    In {
        object: ActionId(id),
        grant,
        user,
    }: In<ActionId, Viewer>,
) -> Result<Response, AppError> {
    let page = show_page(&state, &user, grant.role(), id, None).await?;
    let html = Html(page.render()?);
    if page.in_progress() || page.pending().is_some() {
        // Stops by itself: a finished action's page carries no Refresh.
        Ok(([(header::REFRESH, REFRESH_SECONDS.to_string())], html).into_response())
    } else {
        Ok(html.into_response())
    }
}

async fn show_page(
    state: &AppState,
    user: &CurrentUser,
    role: Role,
    id: i64,
    message: Option<String>,
) -> Result<ActionShowPage, AppError> {
    // The approval requests first: an expired one expires its action.
    let approvals = cockpit_db::action_approvals::of_action(&state.pool, id).await?;
    let action = cockpit_db::actions::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let counts = cockpit_db::actions::item_counts(&state.pool, id).await?;
    let failed = cockpit_db::actions::items(&state.pool, id, Some("failed"), 500).await?;
    let org_name = sqlx::query_scalar!("SELECT name FROM orgs WHERE id = $1", action.org_id)
        .fetch_one(&state.pool)
        .await?;
    let app_name = match action.app_key.as_deref() {
        Some(k) => {
            sqlx::query_scalar!(
                "SELECT name FROM sf_apps WHERE org_id = $1 AND app_key = $2",
                action.org_id,
                k
            )
            .fetch_optional(&state.pool)
            .await?
        }
        None => None,
    };
    let kind_label =
        cockpit_db::actions::ActionKind::parse(&action.kind).map_or("Action", |k| k.label());
    let layout = Layout::load(
        &state.pool,
        user,
        "actions",
        "/actions",
        Some(action.org_id),
    )
    .await?;
    let can_retry =
        role >= Role::Admin && matches!(action.status.as_str(), "partially_failed" | "failed");
    let waiting = approvals.iter().find(|a| a.status == "pending");
    let own_request = waiting.is_some_and(|w| w.requested_by == user.actor());
    Ok(ActionShowPage {
        layout,
        csrf: user.csrf.clone(),
        action,
        kind_label,
        org_name,
        app_name,
        counts,
        failed,
        can_retry,
        can_decide: waiting.is_some() && role >= Role::Admin && !own_request,
        own_request,
        can_break_glass: waiting.is_some() && user.global_role == Some(Role::Admin),
        approvals,
        message,
        now: Utc::now(),
    })
}

/// A second admin of the action's org approves the waiting action (it is
/// queued at once) or rejects it, with a reason, after a recent sign-in.
async fn decide(
    state: AppState,
    r#in: In<ActionId, Admin>,
    f: DecisionForm,
    approve: bool,
) -> Result<Response, AppError> {
    let In {
        object: ActionId(id),
        grant,
        user,
    } = r#in;
    let reason = f.reason.trim();
    if let Err(answer) = confirm(&state, &user, grant.role(), id, reason).await? {
        return Ok(answer);
    }
    let answer = |status, message: &str| {
        let (state, user, message) = (state.clone(), user.clone(), message.to_owned());
        async move {
            let page = show_page(&state, &user, grant.role(), id, Some(message)).await?;
            Ok::<_, AppError>((status, Html(page.render()?)).into_response())
        }
    };
    match cockpit_db::action_approvals::decide(&state.pool, id, &user.actor(), approve, reason)
        .await?
    {
        Ok(queued) => {
            if queued {
                state.wake_worker();
            }
            Ok(Redirect::to(&format!("/actions/{id}")).into_response())
        }
        Err(DecideRefused::OwnRequest) => {
            answer(
                StatusCode::FORBIDDEN,
                "You asked for this action: a second admin must approve it.",
            )
            .await
        }
        Err(DecideRefused::NonePending) => {
            answer(
                StatusCode::CONFLICT,
                "No request is waiting any more: it was decided by someone else, or it expired.",
            )
            .await
        }
    }
}

/// A recent sign-in and a reason, or the answer that asks for them.
async fn confirm(
    state: &AppState,
    user: &CurrentUser,
    role: Role,
    id: i64,
    reason: &str,
) -> Result<Result<(), Response>, AppError> {
    match confirmed(state, user, &format!("/actions/{id}"), reason) {
        Ok(()) => Ok(Ok(())),
        Err(Unconfirmed::SignInAgain(to)) => Ok(Err(to.into_response())),
        Err(Unconfirmed::NoReason) => {
            let needed = crate::pages::action_new::REASON_NEEDED.to_owned();
            let page = show_page(state, user, role, id, Some(needed)).await?;
            Ok(Err(
                (StatusCode::BAD_REQUEST, Html(page.render()?)).into_response()
            ))
        }
    }
}

pub async fn action_approve(
    State(state): State<AppState>,
    r#in: In<ActionId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, r#in, f, true).await
}

pub async fn action_reject(
    State(state): State<AppState>,
    r#in: In<ActionId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, r#in, f, false).await
}

/// A global admin lets the waiting action go ahead without a second
/// person; the reason is mandatory and the audit log shows it.
pub async fn action_break_glass(
    State(state): State<AppState>,
    r#in: In<ActionId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    let In {
        object: ActionId(id),
        grant,
        user,
    } = r#in;
    if user.global_role != Some(Role::Admin) {
        return Err(AppError::Forbidden);
    }
    let reason = f.reason.trim();
    if let Err(answer) = confirm(&state, &user, grant.role(), id, reason).await? {
        return Ok(answer);
    }
    if cockpit_db::action_approvals::break_glass(&state.pool, id, &user.actor(), reason).await? {
        state.wake_worker();
    }
    Ok(Redirect::to(&format!("/actions/{id}")).into_response())
}

pub async fn action_retry(
    State(state): State<AppState>,
    In {
        object: ActionId(id),
        user,
        ..
    }: In<ActionId, Admin>,
) -> Result<Response, AppError> {
    cockpit_db::actions::retry(&state.pool, id, &user.actor()).await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/actions/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "pages/actions.html")]
pub struct ActionsPage {
    pub layout: Layout,
    pub actions: Vec<ActionListRow>,
    pub now: DateTime<Utc>,
}

pub struct ActionListRow {
    pub id: i64,
    pub org_name: String,
    pub kind: String,
    pub app_name: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub status: String,
    pub reason: String,
}

impl ActionListRow {
    pub fn kind_label(&self) -> &'static str {
        cockpit_db::actions::ActionKind::parse(&self.kind).map_or("Action", |k| k.label())
    }
}

#[derive(Debug, Deserialize)]
pub struct ActionsQuery {
    pub org: Option<String>,
}

pub async fn actions_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Query(q): Query<ActionsQuery>,
) -> Result<Html<String>, AppError> {
    let org = crate::layout::parse_org(q.org.as_deref());
    if let Some(o) = org {
        user.grant::<Viewer>(o)?;
    }
    let visible = user.visible_orgs();
    let actions = sqlx::query_as!(
        ActionListRow,
        "SELECT a.id, o.name AS org_name, a.kind, s.name AS \"app_name?\", a.requested_by, a.requested_at, a.status, a.reason
         FROM actions a JOIN orgs o ON o.id = a.org_id
         LEFT JOIN sf_apps s ON s.org_id = a.org_id AND s.app_key = a.app_key
         WHERE a.org_id = ANY($1) AND ($2::uuid IS NULL OR a.org_id = $2)
         ORDER BY a.id DESC LIMIT 200",
        &visible,
        org
    )
    .fetch_all(&state.pool)
    .await?;
    let layout = Layout::load(&state.pool, &user, "actions", "/actions", org).await?;
    Ok(Html(
        ActionsPage {
            layout,
            actions,
            now: Utc::now(),
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use cockpit_db::actions::{ActionKind, NewAction};
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_running_action_refreshes_itself_until_it_is_done(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let tokens = ["0CQ1".to_owned()];
        let requested = cockpit_db::actions::request(
            &pool,
            &NewAction {
                org_id: org,
                kind: ActionKind::RevokeToken,
                app_key: None,
                user_id: None,
                token_ids: &tokens,
                idle_days: None,
                requested_by: "user:admin@example.com",
                reason: "test",
                idempotency_key: "refresh-test-0123456789",
            },
        )
        .await
        .unwrap()
        .unwrap();
        let uri = format!("/actions/{}", requested.id);
        let (status, headers, html) = get_raw(&pool, &uri).await;
        assert_eq!(status, http::StatusCode::OK);
        assert_eq!(headers[http::header::REFRESH], "3");
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(page.texts("h1 .badge"), ["pending"]);
        assert!(page.texts("p[role=status]")[0].contains("refreshes itself"));

        cockpit_db::actions::set_item(&pool, requested.id, "0CQ1", "revoked", None)
            .await
            .unwrap();
        cockpit_db::actions::finish(&pool, requested.id, "system:executor", None)
            .await
            .unwrap();
        let (status, headers, html) = get_raw(&pool, &uri).await;
        assert_eq!(status, http::StatusCode::OK);
        assert!(headers.get(http::header::REFRESH).is_none());
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(page.texts("h1 .badge"), ["succeeded"]);
        assert!(page.select("p[role=status]").is_empty());
        assert!(page.select("meta[http-equiv=refresh]").is_empty());
    }
}
