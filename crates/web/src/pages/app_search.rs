//! `/apps/where`: "Where is this app?" One search by name (contains, any
//! case), consumer key or Salesforce app id across every org the person may
//! see, answering per org: kind, installed, blocked, live authorizations,
//! the people holding them and how many are administrators, last use, API
//! calls, policies.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Html,
};
use cockpit_db::app_search::Found;
use serde::Deserialize;

use crate::{
    AppError, AppState,
    auth::scope::{Anywhere, Viewer},
    filters,
    layout::Layout,
};

/// Rows one search answers at most (an app in every org, and lookalikes).
pub const LIMIT: i64 = 500;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhereQuery {
    #[serde(default)]
    pub q: String,
    /// The API's `org`: one org only.
    #[serde(default)]
    pub org: Option<String>,
}

/// The search text, or why it cannot be searched.
pub fn search_text(q: &str) -> Result<Option<&str>, AppError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(None);
    }
    if q.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "Search for at most 200 characters: a name, a consumer key or an app id.".into(),
        ));
    }
    Ok(Some(q))
}

#[derive(Template)]
#[template(path = "pages/app_search.html")]
pub struct WherePage {
    pub layout: Layout,
    pub q: String,
    pub searched: bool,
    pub rows: Vec<Found>,
    pub truncated: bool,
}

impl WherePage {
    pub fn orgs(&self) -> usize {
        let mut orgs: Vec<_> = self.rows.iter().map(|r| r.org_id).collect();
        orgs.sort();
        orgs.dedup();
        orgs.len()
    }

    pub fn live_tokens(&self) -> i64 {
        self.rows.iter().map(|r| r.tokens).sum()
    }
}

pub async fn where_is(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Query(w): Query<WhereQuery>,
) -> Result<Html<String>, AppError> {
    let q = search_text(&w.q)?;
    let mut rows = match q {
        Some(q) => {
            cockpit_db::app_search::find(&state.pool, &user.visible_orgs(), q, LIMIT + 1).await?
        }
        None => Vec::new(),
    };
    let truncated = rows.len() as i64 > LIMIT;
    rows.truncate(LIMIT as usize);
    let layout = Layout::load(&state.pool, &user, "apps", "/apps", None).await?;
    Ok(Html(
        WherePage {
            layout,
            q: w.q.trim().to_owned(),
            searched: q.is_some(),
            rows,
            truncated,
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn finds_an_app_in_every_org_by_name_key_or_id(pool: PgPool) {
        let (acme, _) = seeded(&pool, "Acme").await;
        let (globex, _) = seeded(&pool, "Globex").await;
        let app = app_id(&pool, acme, "0H4A").await;
        let name: String = sqlx::query_scalar("SELECT name FROM sf_apps WHERE id = $1")
            .bind(app)
            .fetch_one(&pool)
            .await
            .unwrap();
        let part: String = name
            .chars()
            .skip(1)
            .take(4)
            .collect::<String>()
            .to_uppercase();
        let q: String = url::form_urlencoded::byte_serialize(part.as_bytes()).collect();
        let page = get_page(&pool, &format!("/apps/where?q={q}")).await;
        let orgs = page.texts("table.where tbody td.org");
        assert!(
            orgs.contains(&"Acme".to_owned()) && orgs.contains(&"Globex".to_owned()),
            "{orgs:?}"
        );
        let _ = globex;
        // By consumer key: exactly that app.
        sqlx::query("UPDATE sf_apps SET consumer_key = '3MVGkey' WHERE id = $1")
            .bind(app)
            .execute(&pool)
            .await
            .unwrap();
        let page = get_page(&pool, "/apps/where?q=3MVGkey").await;
        assert_eq!(page.texts("table.where tbody td.org"), ["Acme"]);
        assert_eq!(page.texts("table.where tbody td.matched"), ["consumer key"]);
        // By Salesforce app id, in its 18- or 15-character form.
        sqlx::query("UPDATE sf_apps SET sf_app_id = '0H4Hs000000XyZ1AAA' WHERE id = $1")
            .bind(app)
            .execute(&pool)
            .await
            .unwrap();
        for id in ["0H4Hs000000XyZ1AAA", "0H4Hs000000XyZ1"] {
            let page = get_page(&pool, &format!("/apps/where?q={id}")).await;
            assert_eq!(page.texts("table.where tbody td.org"), ["Acme"], "{id}");
            assert_eq!(
                page.texts("table.where tbody td.matched"),
                ["app id"],
                "{id}"
            );
        }
        // Ids are case-sensitive.
        let page = get_page(&pool, "/apps/where?q=0H4Hs000000XYZ1").await;
        assert_eq!(page.select("table.where").len(), 0);
        // Nothing found says so; an empty search shows the form.
        let page = get_page(&pool, "/apps/where?q=no-such-app-anywhere").await;
        assert_eq!(page.select("table.where").len(), 0);
        assert!(page.text().contains("No app matches"));
        let (status, _, _) = get_raw(&pool, &format!("/apps/where?q={}", "x".repeat(201))).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn holders_with_admin_rights_through_a_permission_set_count_as_administrators(
        pool: PgPool,
    ) {
        let (acme, _) = seeded(&pool, "Acme").await;
        let app = app_id(&pool, acme, "0H4A").await;
        sqlx::query("UPDATE sf_apps SET consumer_key = 'K1' WHERE id = $1")
            .bind(app)
            .execute(&pool)
            .await
            .unwrap();
        let admins = |pool: PgPool| async move {
            get_page(&pool, "/apps/where?q=K1")
                .await
                .texts("table.where td.admins")
        };
        assert_eq!(admins(pool.clone()).await, ["0"]);
        // Alice holds one of the app's authorizations; a permission set
        // (not her profile) gives her View All Data.
        let grant = |set: &str, view_all: bool| cockpit_db::admin_grants::Grant {
            user_id: "005A".into(),
            permission_set_id: set.into(),
            label: "Data <Auditor>".into(),
            via_profile: false,
            modify_all_data: false,
            view_all_data: view_all,
            customize_application: false,
        };
        cockpit_db::admin_grants::replace(&pool, acme, &[grant("0PS1", true)])
            .await
            .unwrap();
        assert_eq!(admins(pool.clone()).await, ["1"]);
        assert_eq!(
            cockpit_db::admin_grants::of_user(&pool, acme, "005A")
                .await
                .unwrap()[0]
                .rights(),
            ["View All Data"]
        );
        // The next read replaces the grants: the set was unassigned.
        cockpit_db::admin_grants::replace(&pool, acme, &[])
            .await
            .unwrap();
        assert_eq!(admins(pool.clone()).await, ["0"]);
    }
}
