//! `/users/{uid}`: one person — active or deactivated (and since when), every
//! app they authorized with dates and counts, and their history.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Html,
};
use chrono::{DateTime, Utc};
use cockpit_db::admin_grants::{self, Grant};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{In, PersonId, Viewer},
    filters,
    layout::{Layout, Query as Qs},
    page_cache::PageCache,
    pages::{
        apps::kind_label,
        timeline::{self, EventRow},
    },
};

/// A person rarely holds more; the page says so if they do.
pub const MAX_TOKENS: i64 = 1_000;

#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub uid: i64,
    pub org_id: Uuid,
    pub org_name: String,
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: Option<String>,
    pub is_active: bool,
    pub user_type: Option<String>,
    pub profile: Option<String>,
    pub department: Option<String>,
    pub manager_name: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub gone_at: Option<DateTime<Utc>>,
}

#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserToken {
    pub token_id: String,
    pub app_id: Option<i64>,
    pub app_name: String,
    pub kind: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
    pub first_seen_at: DateTime<Utc>,
    /// The app's inventory status; `None`: not in the inventory.
    pub inventory_status: Option<String>,
}

impl UserToken {
    pub fn kind_label(&self) -> &'static str {
        kind_label(self.kind.as_deref().unwrap_or("unknown"))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    pub before: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/user_detail.html")]
pub struct UserDetailPage {
    pub layout: Layout,
    pub user: UserInfo,
    pub admin_rights: Option<Vec<Grant>>,
    pub tokens: Vec<UserToken>,
    pub truncated: bool,
    pub events: Vec<EventRow>,
    pub older: Option<String>,
    /// The signed-in person may revoke in this user's org.
    pub can_act: bool,
}

/// One person (`None`: no such user).
pub async fn user_info(pool: &PgPool, uid: i64) -> sqlx::Result<Option<UserInfo>> {
    sqlx::query_as!(
        UserInfo,
        "SELECT u.uid, u.org_id, o.name AS org_name, u.id, u.username, u.name, u.email, u.is_active, u.user_type,
                u.profile, u.department, u.manager_name, u.last_login_at, u.created_at, u.deactivated_at,
                u.first_seen_at, u.gone_at
         FROM sf_users u JOIN orgs o ON o.id = u.org_id WHERE u.uid = $1",
        uid
    )
    .fetch_optional(pool)
    .await
}

/// The authorizations a person holds, most recently used first.
pub async fn user_tokens(
    pool: &PgPool,
    org: Uuid,
    user_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<UserToken>> {
    sqlx::query_as!(
        UserToken,
        "SELECT t.id AS token_id, a.id AS \"app_id?\", coalesce(a.name, t.app_name) AS \"app_name!\",
                a.kind AS \"kind?\", t.created_at, t.last_used_at, t.use_count, t.first_seen_at,
                inv.status AS \"inventory_status?\"
         FROM sf_tokens t LEFT JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
         LEFT JOIN LATERAL inventory_match(a.consumer_key, coalesce(a.name, t.app_name)) inv ON true
         WHERE t.org_id = $1 AND t.user_id = $2 AND t.gone_at IS NULL
         ORDER BY t.last_used_at DESC NULLS LAST, t.id
         LIMIT $3",
        org,
        user_id,
        limit
    )
    .fetch_all(pool)
    .await
}

/// What a person's page shows that is the same for every viewer (kept by
/// the page cache).
#[derive(Clone)]
struct UserPageData {
    user: UserInfo,
    /// The administrator's rights the last sync read (`None`: never read).
    admin_rights: Option<Vec<Grant>>,
    tokens: Vec<UserToken>,
    truncated: bool,
    events: Vec<EventRow>,
    older: Option<String>,
}

async fn load_user_page(
    pool: &PgPool,
    uid: i64,
    before: Option<&str>,
) -> Result<UserPageData, AppError> {
    let user = user_info(pool, uid).await?.ok_or(AppError::NotFound)?;
    let admin_rights = match admin_grants::read_at(pool, user.org_id).await? {
        Some(_) => Some(admin_grants::of_user(pool, user.org_id, &user.id).await?),
        None => None,
    };
    let mut tokens = user_tokens(pool, user.org_id, &user.id, MAX_TOKENS + 1).await?;
    let truncated = tokens.len() as i64 > MAX_TOKENS;
    tokens.truncate(MAX_TOKENS as usize);
    let (events, older) = timeline::for_user(pool, user.org_id, &user.id, before).await?;
    let older = older.map(|b| {
        format!(
            "/users/{}{}#history",
            user.uid,
            Qs::new().add("before", &b).finish()
        )
    });
    Ok(UserPageData {
        user,
        admin_rights,
        tokens,
        truncated,
        events,
        older,
    })
}

pub async fn user_show(
    State(pool): State<PgPool>,
    State(cache): State<PageCache>,
    In {
        object: PersonId(uid),
        grant,
        user,
    }: In<PersonId, Viewer>,
    Query(q): Query<UserQuery>,
) -> Result<Html<String>, AppError> {
    let before = q.before.as_deref();
    let data = cache
        .get_or_load(
            format!("user/{uid}/{}", before.unwrap_or_default()),
            |d| d.tokens.len() + d.events.len(),
            load_user_page(&pool, uid, before),
        )
        .await?;
    let data = UserPageData::clone(&data);
    let layout = Layout::load(&pool, &user, "users", "/users", Some(grant.org())).await?;
    Ok(Html(
        UserDetailPage {
            can_act: grant.role() >= cockpit_domain::role::Role::Admin,
            layout,
            user: data.user,
            admin_rights: data.admin_rights,
            tokens: data.tokens,
            truncated: data.truncated,
            events: data.events,
            older: data.older,
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn shows_apps_status_and_history(pool: PgPool) {
        let (org, mut s) = seeded(&pool, "Acme").await;
        // Carol is deactivated and still holds a Data Loader token; later she
        // also loses it.
        let carol = user_uid(&pool, org, "005C").await;
        let page = get_page(&pool, &format!("/users/{carol}")).await;
        assert_eq!(page.texts("h1 bdi"), ["Carol Jones"]);
        let status = page.texts(".user-status");
        assert!(status[0].starts_with("Deactivated"), "{status:?}");
        assert_eq!(page.attr(".user-status time", "datetime").len(), 20);
        assert_eq!(page.texts("#apps tbody td.app a"), ["Data Loader"]);
        assert_eq!(page.texts("#apps tbody td.uses"), ["3"]);
        assert_eq!(page.texts(".admin-rights"), ["not read yet"]);
        let grant = cockpit_db::admin_grants::Grant {
            user_id: "005C".into(),
            permission_set_id: "0PS1".into(),
            label: "<b>Auditor</b>".into(),
            via_profile: false,
            modify_all_data: true,
            view_all_data: true,
            customize_application: false,
        };
        cockpit_db::admin_grants::replace(&pool, org, &[grant])
            .await
            .unwrap();
        let page = get_page(&pool, &format!("/users/{carol}")).await;
        assert_eq!(
            page.texts(".admin-rights .grant"),
            ["Modify All Data, View All Data through the permission set <b>Auditor</b>"]
        );
        let alice = user_uid(&pool, org, "005A").await;
        let page = get_page(&pool, &format!("/users/{alice}")).await;
        assert_eq!(page.texts(".admin-rights"), ["none"]);

        s.tokens.retain(|t| t.id != "0CQ2");
        sync(&pool, org, &s).await;
        let page = get_page(&pool, &format!("/users/{carol}")).await;
        assert!(page.text().contains("holds no OAuth tokens"));
        let history = page.texts("#history li");
        assert!(
            history
                .iter()
                .any(|h| h.contains("Token revoked or expired") && h.contains("Data Loader")),
            "{history:?}"
        );

        // Alice is active.
        let alice = user_uid(&pool, org, "005A").await;
        let page = get_page(&pool, &format!("/users/{alice}")).await;
        assert!(page.texts(".user-status")[0].starts_with("Active"));
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn apps_outside_the_inventory_are_flagged_with_status_when_known(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let carol = user_uid(&pool, org, "005C").await;
        let uri = format!("/users/{carol}");
        let page = get_page(&pool, &uri).await;
        assert_eq!(
            page.texts("#apps tbody td.app .inv-unknown"),
            ["not in inventory"]
        );
        for (status, label) in [
            ("approved", "approved"),
            ("under_review", "under review"),
            ("not_approved", "not approved"),
        ] {
            // Matched by name, whatever its case.
            inventory(&pool, "DATA LOADER", None, status).await;
            let page = get_page(&pool, &uri).await;
            assert_eq!(page.texts("#apps tbody td.app .badge"), [label]);
            assert_eq!(
                page.select(&format!("#apps tbody td.app .inv-{status}"))
                    .len(),
                1
            );
            assert!(page.select("#apps .inv-unknown").is_empty());
        }
        // The hostile person's formula-named app is outside it, shown as text.
        let e = user_uid(&pool, org, "005E").await;
        let page = get_page(&pool, &format!("/users/{e}")).await;
        assert_eq!(page.texts("#apps tbody td.app a"), [FORMULA]);
        assert_eq!(
            page.texts("#apps tbody td.app .inv-unknown"),
            ["not in inventory"]
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn hostile_user_names_are_text(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let e = user_uid(&pool, org, "005E").await;
        let html = get_html(&pool, &format!("/users/{e}")).await;
        assert!(!html.contains(HOSTILE));
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(page.texts("h1 bdi"), [HOSTILE]);
        assert_eq!(page.texts("#apps tbody td.app a"), [FORMULA]);
        let (status, _, _) = get_raw(&pool, "/users/424242").await;
        assert_eq!(status, 404);
    }
}
