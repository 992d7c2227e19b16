//! `/admin/accounts`: who may use the cockpit. Global admins list accounts
//! (role, per-org roles, disabled or not, last sign-in, live sessions),
//! create them, change roles, disable and enable them and end their
//! sessions. Every change asks for the password again when the last proof
//! is older than five minutes, is written with its audit entry, and an admin
//! cannot take their own admin role away or disable themselves.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::admin::{AccountChange, AccountOverview, OrgGrant};
use cockpit_domain::{password, role::Role};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Admin, EveryOrg},
    filters,
    form::Form,
    layout::{Layout, OrgChoice},
};

pub const ROLES: [&str; 3] = ["viewer", "analyst", "admin"];

/// Sends someone whose password proof is stale to confirm it, then back to
/// `next` (a page: the change is made again from there).
pub(crate) fn stale_proof(state: &AppState, user: &CurrentUser, next: &str) -> Option<Response> {
    (!user.recently_authenticated(state.auth.reauth_after)).then(|| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish();
        Redirect::to(&format!("/reauth?{q}")).into_response()
    })
}

pub struct AccountView {
    pub account: AccountOverview,
    pub grants: Vec<OrgGrant>,
}

impl AccountView {
    pub fn role(&self) -> &str {
        self.account.role.as_deref().unwrap_or("per org only")
    }
}

async fn views(state: &AppState, only: Option<Uuid>) -> Result<Vec<AccountView>, AppError> {
    let idle = chrono::Duration::from_std(state.auth.idle).unwrap_or_default();
    let absolute = chrono::Duration::from_std(state.auth.absolute).unwrap_or_default();
    let accounts = cockpit_db::admin::accounts(&state.pool, only, idle, absolute).await?;
    let mut grants = cockpit_db::admin::org_grants(&state.pool, only).await?;
    Ok(accounts
        .into_iter()
        .map(|account| {
            let (mine, rest) = grants.drain(..).partition(|g| g.account_id == account.id);
            grants = rest;
            AccountView {
                account,
                grants: mine,
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "pages/admin_accounts.html")]
pub struct AccountsPage {
    pub layout: Layout,
    pub csrf: String,
    pub accounts: Vec<AccountView>,
    pub roles: &'static [&'static str],
    pub email: String,
    pub role: String,
    pub error: Option<String>,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    form: Option<&NewAccountForm>,
    error: Option<String>,
) -> Result<String, AppError> {
    Ok(AccountsPage {
        layout: Layout::load(&state.pool, user, "admin", "/", None).await?,
        csrf: user.csrf.clone(),
        accounts: views(state, None).await?,
        roles: &ROLES,
        email: form.map(|f| f.email.clone()).unwrap_or_default(),
        role: form.map_or_else(|| "viewer".to_owned(), |f| f.role.clone()),
        error,
    }
    .render()?)
}

pub async fn accounts_list(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
) -> Result<Html<String>, AppError> {
    Ok(Html(list_page(&state, &user, None, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct NewAccountForm {
    pub email: String,
    pub role: String,
    pub password: String,
}

pub async fn account_create(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Form(form): Form<NewAccountForm>,
) -> Result<Response, AppError> {
    if let Some(redirect) = stale_proof(&state, &user, "/admin/accounts") {
        return Ok(redirect);
    }
    let email = form.email.trim();
    let problem = if !email.contains('@') || !(3..=254).contains(&email.len()) {
        Some("Enter the person's email address.".to_owned())
    } else if cockpit_db::accounts::by_email(&state.pool, email)
        .await?
        .is_some()
    {
        Some(format!("An account for {email} exists already."))
    } else {
        password::check_policy(&form.password, &[email])
            .err()
            .map(|e| format!("The initial password is not accepted: {e}."))
    };
    let role = Role::parse(&form.role);
    let problem = problem.or_else(|| role.is_none().then(|| "Choose a role.".to_owned()));
    if let Some(problem) = problem {
        let page = list_page(&state, &user, Some(&form), Some(problem)).await?;
        return Ok((StatusCode::BAD_REQUEST, Html(page)).into_response());
    }
    let hash = password::hash(&form.password);
    let id =
        cockpit_db::admin::create_account(&state.pool, &user.actor(), email, &hash, role).await?;
    Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "pages/admin_account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub csrf: String,
    pub view: AccountView,
    pub orgs: Vec<OrgChoice>,
    pub roles: &'static [&'static str],
    pub is_self: bool,
}

fn account_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

pub async fn account_show(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
) -> Result<Html<String>, AppError> {
    let id = account_id(&id)?;
    let view = views(&state, Some(id))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let layout = Layout::load(&state.pool, &user, "admin", "/", None).await?;
    Ok(Html(
        AccountPage {
            orgs: layout.orgs.clone(),
            layout,
            csrf: user.csrf.clone(),
            view,
            roles: &ROLES,
            is_self: id == user.account_id,
        }
        .render()?,
    ))
}

/// Checks, applies and audits one change, then shows the account again.
async fn apply(
    state: &AppState,
    user: &CurrentUser,
    raw_id: &str,
    change: impl FnOnce() -> Result<AccountChange, AppError>,
) -> Result<Response, AppError> {
    let id = account_id(raw_id)?;
    let back = format!("/admin/accounts/{id}");
    if let Some(redirect) = stale_proof(state, user, &back) {
        return Ok(redirect);
    }
    let change = change()?;
    if id == user.account_id {
        match &change {
            AccountChange::Role(role) if *role != Some(Role::Admin) => {
                return Err(AppError::BadRequest(
                    "You cannot take away your own admin role; ask another admin.".into(),
                ));
            }
            AccountChange::Disable => {
                return Err(AppError::BadRequest(
                    "You cannot disable your own account; ask another admin.".into(),
                ));
            }
            _ => {}
        }
    }
    if let AccountChange::GrantOrg(org, _) | AccountChange::RemoveOrg(org) = &change {
        sqlx::query_scalar!("SELECT id FROM orgs WHERE id = $1", org)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| AppError::BadRequest("That org does not exist.".into()))?;
    }
    cockpit_db::admin::change_account(&state.pool, &user.actor(), id, &change).await?;
    Ok(Redirect::to(&back).into_response())
}

fn role_of(raw: &str) -> Result<Role, AppError> {
    Role::parse(raw.trim())
        .ok_or_else(|| AppError::BadRequest("The role is one of viewer, analyst or admin.".into()))
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    /// Empty: no role in every org (per-org grants only).
    pub role: String,
}

pub async fn account_role(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    apply(&state, &user, &id, || {
        Ok(AccountChange::Role(match form.role.trim() {
            "" => None,
            r => Some(role_of(r)?),
        }))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct OrgRoleForm {
    pub org: Uuid,
    /// Empty or absent: remove the grant.
    #[serde(default)]
    pub role: Option<String>,
}

/// Grant a role in one org, or remove the grant.
pub async fn account_org_role(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
    Form(form): Form<OrgRoleForm>,
) -> Result<Response, AppError> {
    apply(&state, &user, &id, || {
        match form
            .role
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            Some(role) => Ok(AccountChange::GrantOrg(form.org, role_of(role)?)),
            None => Ok(AccountChange::RemoveOrg(form.org)),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct AccessForm {
    /// `disable`, `enable` or `end_sessions`.
    pub change: String,
}

/// Disable or enable an account, or end its sessions.
pub async fn account_access(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
    Form(form): Form<AccessForm>,
) -> Result<Response, AppError> {
    apply(&state, &user, &id, || match form.change.as_str() {
        "disable" => Ok(AccountChange::Disable),
        "enable" => Ok(AccountChange::Enable),
        "end_sessions" => Ok(AccountChange::EndSessions),
        _ => Err(AppError::BadRequest(
            "The change is one of disable, enable or end_sessions.".into(),
        )),
    })
    .await
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        http::{Request, StatusCode, header},
    };
    use sqlx::PgPool;
    use tower::ServiceExt;
    use uuid::Uuid;

    use crate::{auth::hash_token, router, testutil::*};

    /// An account with a live session: (cookie, csrf, account id).
    async fn someone(pool: &PgPool, email: &str, role: &str) -> (String, String, Uuid) {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO accounts (id, email, role) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(email)
            .bind(role)
            .execute(pool)
            .await
            .unwrap();
        let session = format!("session-{}", Uuid::new_v4());
        let csrf = format!("csrf-{}", Uuid::new_v4());
        sqlx::query("INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, $2, $3)")
            .bind(hash_token(&session))
            .bind(id)
            .bind(&csrf)
            .execute(pool)
            .await
            .unwrap();
        (format!("__Host-cockpit_session={session}"), csrf, id)
    }

    async fn send(
        pool: &PgPool,
        method: &str,
        uri: &str,
        cookie: &str,
        form: Option<String>,
    ) -> (StatusCode, Option<String>, String) {
        let r = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, cookie);
        let req = match form {
            Some(f) => r
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(f)),
            None => r.body(Body::empty()),
        }
        .unwrap();
        let res = router(state(pool)).oneshot(req).await.unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    async fn audit_actions(pool: &PgPool) -> Vec<(String, String)> {
        sqlx::query_as("SELECT actor, action FROM audit_log ORDER BY seq")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn admins_list_create_and_change_accounts(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let (admin, csrf, me) = someone(&pool, "ada@example.com", "admin").await;
        let (_, _, bob) = someone(&pool, "bob@example.com", "viewer").await;
        let (status, _, html) = send(&pool, "GET", "/admin/accounts", &admin, None).await;
        assert_eq!(status, StatusCode::OK);
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(
            page.attr(
                "nav[aria-label=Main] a[href='/admin/accounts']",
                "aria-current"
            ),
            "page"
        );
        let emails = page.texts("table.accounts td.email");
        assert_eq!(emails[..2], ["ada@example.com", "bob@example.com"]);
        assert_eq!(page.texts("table.accounts td.sessions")[..2], ["1", "1"]);
        assert_eq!(page.texts("table.accounts td.role")[1], "viewer");
        assert_eq!(page.texts("table.accounts td.status")[1], "active");

        // Create: the password rules apply, then the account exists.
        let weak = format!("csrf={csrf}&email=cy%40example.com&role=analyst&password=password1234");
        let (status, _, html) = send(&pool, "POST", "/admin/accounts", &admin, Some(weak)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("initial password is not accepted"), "{html}");
        let good = format!(
            "csrf={csrf}&email=cy%40example.com&role=analyst&password=quiet+orange+kettle+42"
        );
        let (status, to, _) =
            send(&pool, "POST", "/admin/accounts", &admin, Some(good.clone())).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cy = cockpit_db::accounts::by_email(&pool, "cy@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(to.unwrap(), format!("/admin/accounts/{}", cy.id));
        assert_eq!(cy.role.as_deref(), Some("analyst"));
        assert!(cy.password_hash.is_some());
        let (status, _, html) = send(&pool, "POST", "/admin/accounts", &admin, Some(good)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("exists already"));

        // Roles: global and per org.
        let base = format!("/admin/accounts/{bob}");
        let (status, to, _) = send(
            &pool,
            "POST",
            &format!("{base}/role"),
            &admin,
            Some(format!("csrf={csrf}&role=")),
        )
        .await;
        assert_eq!(
            (status, to.as_deref()),
            (StatusCode::SEE_OTHER, Some(base.as_str()))
        );
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("{base}/org-roles"),
            &admin,
            Some(format!("csrf={csrf}&org={org}&role=analyst")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, html) = send(&pool, "GET", &base, &admin, None).await;
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(page.texts("dd.role"), ["per org only"]);
        assert_eq!(page.texts("table.grants td")[..2], ["Acme", "analyst"]);
        assert_eq!(
            cockpit_db::accounts::org_roles(&pool, bob).await.unwrap(),
            vec![(org, cockpit_domain::role::Role::Analyst)]
        );
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("{base}/org-roles"),
            &admin,
            Some(format!("csrf={csrf}&org={org}")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(
            cockpit_db::accounts::org_roles(&pool, bob)
                .await
                .unwrap()
                .is_empty()
        );
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("{base}/role"),
            &admin,
            Some(format!("csrf={csrf}&role=boss")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Lock-out guard: not their own admin role, not themselves.
        for (path, form) in [
            ("role", "role=viewer"),
            ("role", "role="),
            ("access", "change=disable"),
        ] {
            let (status, _, html) = send(
                &pool,
                "POST",
                &format!("/admin/accounts/{me}/{path}"),
                &admin,
                Some(format!("csrf={csrf}&{form}")),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {form}");
            assert!(html.contains("ask another admin"));
        }
        let me_now = cockpit_db::accounts::by_id(&pool, me)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (me_now.role.as_deref(), me_now.disabled_at),
            (Some("admin"), None)
        );

        // Every change is audited, by the admin.
        let log = audit_actions(&pool).await;
        let mine: Vec<&str> = log
            .iter()
            .filter(|(actor, _)| actor == "user:ada@example.com")
            .map(|(_, a)| a.as_str())
            .collect();
        assert_eq!(
            mine,
            [
                "account.created",
                "account.role_changed",
                "account.org_role_granted",
                "account.org_role_removed"
            ]
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn disabling_and_ending_sessions_sign_the_person_out(pool: PgPool) {
        let (admin, csrf, _) = someone(&pool, "ada@example.com", "admin").await;
        let (bob_cookie, _, bob) = someone(&pool, "bob@example.com", "viewer").await;
        assert_eq!(
            send(&pool, "GET", "/apps", &bob_cookie, None).await.0,
            StatusCode::OK
        );
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("/admin/accounts/{bob}/access"),
            &admin,
            Some(format!("csrf={csrf}&change=end_sessions")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, to, _) = send(&pool, "GET", "/apps", &bob_cookie, None).await;
        assert!(status.is_redirection());
        assert!(
            to.unwrap().starts_with("/signin"),
            "their next request goes to sign-in"
        );
        let (_, _, html) = send(
            &pool,
            "GET",
            &format!("/admin/accounts/{bob}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(
            Page(scraper::Html::parse_document(&html)).texts("dd.sessions"),
            ["0"]
        );

        let (bob_again, _, _) = {
            let session = format!("session-{}", Uuid::new_v4());
            sqlx::query(
                "INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, $2, 'c')",
            )
            .bind(hash_token(&session))
            .bind(bob)
            .execute(&pool)
            .await
            .unwrap();
            (format!("__Host-cockpit_session={session}"), (), ())
        };
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("/admin/accounts/{bob}/access"),
            &admin,
            Some(format!("csrf={csrf}&change=disable")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(
            send(&pool, "GET", "/apps", &bob_again, None)
                .await
                .0
                .is_redirection()
        );
        let (_, _, html) = send(&pool, "GET", "/admin/accounts", &admin, None).await;
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(
            page.texts("table.accounts td.status"),
            ["active", "disabled"]
        );
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("/admin/accounts/{bob}/access"),
            &admin,
            Some(format!("csrf={csrf}&change=enable")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let log: Vec<String> = audit_actions(&pool)
            .await
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        assert_eq!(
            log,
            [
                "account.sessions_ended",
                "account.disabled",
                "account.enabled"
            ]
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn viewers_are_refused_and_stale_passwords_are_checked_again(pool: PgPool) {
        let (viewer, vcsrf, _) = someone(&pool, "vic@example.com", "viewer").await;
        let (admin, csrf, _) = someone(&pool, "ada@example.com", "admin").await;
        let (_, _, bob) = someone(&pool, "bob@example.com", "viewer").await;
        for uri in [
            "/admin/accounts".to_owned(),
            format!("/admin/accounts/{bob}"),
            "/admin/api-tokens".to_owned(),
        ] {
            assert_eq!(
                send(&pool, "GET", &uri, &viewer, None).await.0,
                StatusCode::FORBIDDEN,
                "{uri}"
            );
        }
        let (status, _, _) = send(
            &pool,
            "POST",
            &format!("/admin/accounts/{bob}/access"),
            &viewer,
            Some(format!("csrf={vcsrf}&change=disable")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, _, html) = send(&pool, "GET", "/apps", &viewer, None).await;
        assert!(
            !html.contains("href=\"/admin/accounts\""),
            "no admin link for viewers"
        );

        // The admin's password proof is six minutes old: confirm it first.
        sqlx::query("UPDATE sessions SET reauth_at = now() - interval '6 minutes'")
            .execute(&pool)
            .await
            .unwrap();
        for (path, form) in [
            (
                format!("/admin/accounts/{bob}/access"),
                format!("csrf={csrf}&change=disable"),
            ),
            (
                format!("/admin/accounts/{bob}/role"),
                format!("csrf={csrf}&role=admin"),
            ),
            (
                "/admin/accounts".to_owned(),
                format!(
                    "csrf={csrf}&email=x%40example.com&role=admin&password=quiet+orange+kettle+42"
                ),
            ),
            (
                "/admin/api-tokens".to_owned(),
                format!("csrf={csrf}&name=soar&role=admin&org="),
            ),
        ] {
            let (status, to, _) = send(&pool, "POST", &path, &admin, Some(form)).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
            assert!(
                to.unwrap().starts_with("/reauth?next=%2Fadmin%2F"),
                "{path}"
            );
        }
        let bob_now = cockpit_db::accounts::by_id(&pool, bob)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (bob_now.role.as_deref(), bob_now.disabled_at),
            (Some("viewer"), None),
            "nothing changed"
        );
        assert_eq!(cockpit_db::accounts::count(&pool).await.unwrap(), 3);
        assert!(audit_actions(&pool).await.is_empty());
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn api_tokens_are_shown_once_work_and_are_revoked(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let (admin, csrf, _) = someone(&pool, "ada@example.com", "admin").await;
        let (status, _, html) = send(
            &pool,
            "POST",
            "/admin/api-tokens",
            &admin,
            Some(format!("csrf={csrf}&name=soar&role=admin&org={org}")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let page = Page(scraper::Html::parse_document(&html));
        let token = page.texts("code.token").pop().expect("shown once");
        assert!(
            token.starts_with("ock_") && token.len() >= 4 + 43,
            "{token}"
        );
        assert_eq!(page.texts("table.api-tokens td.name"), ["soar"]);
        assert_eq!(page.texts("table.api-tokens td.org"), ["Acme"]);
        assert_eq!(page.texts("table.api-tokens td.used"), ["never"]);
        let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, hash_token(&token), "only the hash is stored");

        let api = |t: String| {
            let pool = pool.clone();
            async move {
                router(state(&pool))
                    .oneshot(
                        Request::get("/api/v1/apps")
                            .header(header::AUTHORIZATION, format!("Bearer {t}"))
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(api(token.clone()).await, StatusCode::OK);
        let (_, _, html) = send(&pool, "GET", "/admin/api-tokens", &admin, None).await;
        assert!(!html.contains(&token), "never shown again");
        let page = Page(scraper::Html::parse_document(&html));
        assert_ne!(
            page.texts("table.api-tokens td.used"),
            ["never"],
            "last use shown"
        );
        let action = page.attr("table.api-tokens form", "action");
        let (status, _, _) =
            send(&pool, "POST", &action, &admin, Some(format!("csrf={csrf}"))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(api(token).await, StatusCode::UNAUTHORIZED);
        let (status, _, _) =
            send(&pool, "POST", &action, &admin, Some(format!("csrf={csrf}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");

        let (status, _, html) = send(
            &pool,
            "POST",
            "/admin/api-tokens",
            &admin,
            Some(format!("csrf={csrf}&name=&role=admin&org=")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("Name the token"));
        let log: Vec<String> = audit_actions(&pool)
            .await
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| !a.starts_with("sync."))
            .collect();
        assert_eq!(log, ["api_token.created", "api_token.revoked"]);
    }
}
