//! `/reports/offboarding`: deactivated users whose tokens still work — one
//! row per token, most recent deactivation first, with a CSV export.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{Analyst, OrgScope, Viewer},
    csv_export, filters,
    layout::{Layout, Query as Qs},
    pages::{inventory::export_status, report_selection::Selection},
};

pub const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeakQuery {
    pub org: Option<String>,
    pub after: Option<String>,
}

/// Keyset position, in the order of the `sf_users_deactivated` index.
#[derive(Debug, Clone)]
pub struct LeakCursor {
    pub deactivated: DateTime<Utc>,
    pub org_id: Uuid,
    pub user_id: String,
    pub token_id: String,
}

impl LeakCursor {
    pub fn encode(&self) -> String {
        format!(
            "{}~{}~{}~{}",
            self.deactivated.timestamp_micros(),
            self.org_id,
            self.user_id,
            self.token_id
        )
    }
    pub fn decode(s: &str) -> Option<LeakCursor> {
        let mut p = s.splitn(4, '~');
        Some(LeakCursor {
            deactivated: DateTime::from_timestamp_micros(p.next()?.parse().ok()?)?,
            org_id: Uuid::parse_str(p.next()?).ok()?,
            user_id: p.next()?.to_owned(),
            token_id: p.next()?.to_owned(),
        })
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LeakRow {
    pub org_id: Uuid,
    pub org_name: String,
    pub user_id: String,
    pub uid: i64,
    pub user_name: String,
    pub username: String,
    pub deactivated_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub sort_at: DateTime<Utc>,
    pub token_id: String,
    pub app_key: String,
    pub app_id: Option<i64>,
    pub app_name: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
    /// The app's inventory status; `None`: not in the inventory.
    pub inventory_status: Option<String>,
}

impl LeakRow {
    pub fn cursor(&self) -> LeakCursor {
        LeakCursor {
            deactivated: self.sort_at,
            org_id: self.org_id,
            user_id: self.user_id.clone(),
            token_id: self.token_id.clone(),
        }
    }
    /// Used after the user was deactivated: someone still uses the access.
    pub fn used_after(&self) -> bool {
        matches!((self.last_used_at, self.deactivated_at), (Some(u), Some(d)) if u > d)
    }
    fn cells(&self) -> Vec<String> {
        let t = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        vec![
            self.user_name.clone(),
            self.username.clone(),
            self.org_name.clone(),
            t(self.deactivated_at),
            self.app_name.clone(),
            t(self.created_at),
            t(self.last_used_at),
            self.use_count.map(|n| n.to_string()).unwrap_or_default(),
            if self.used_after() { "yes" } else { "no" }.to_owned(),
            export_status(self.inventory_status.as_deref()),
        ]
    }
}

pub const HEADER: [&str; 10] = [
    "User",
    "Username",
    "Org",
    "Deactivated",
    "App",
    "Authorized",
    "Last used",
    "Uses",
    "Used after deactivation",
    "inventory_status",
];

pub async fn fetch(
    pool: &PgPool,
    org: Option<Uuid>,
    after: Option<&LeakCursor>,
    limit: i64,
) -> sqlx::Result<Vec<LeakRow>> {
    // The first page starts after every row: the largest uuid and a user
    // and token id above any Salesforce id (no `IS NULL OR` in the keyset).
    let (c_at, c_org, c_user, c_tok) = match after {
        Some(c) => (
            c.deactivated,
            c.org_id,
            c.user_id.as_str(),
            c.token_id.as_str(),
        ),
        None => (
            crate::pages::app_detail::end_of_time(),
            Uuid::max(),
            "\u{10FFFF}",
            "\u{10FFFF}",
        ),
    };
    sqlx::query_as!(
        LeakRow,
        r#"SELECT u.org_id, o.name AS org_name, u.id AS user_id, u.uid, u.name AS user_name, u.username,
                  u.deactivated_at, coalesce(u.deactivated_at, '1970-01-01 00:00:00+00'::timestamptz) AS "sort_at!",
                  t.id AS token_id, t.app_key, a.id AS "app_id?", coalesce(a.name, t.app_name) AS "app_name!",
                  t.created_at, t.last_used_at, t.use_count, inv.status AS "inventory_status?"
           FROM sf_users u
           JOIN orgs o ON o.id = u.org_id
           JOIN sf_tokens t ON t.org_id = u.org_id AND t.user_id = u.id AND t.gone_at IS NULL
           LEFT JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
           LEFT JOIN LATERAL inventory_match(a.consumer_key, coalesce(a.name, t.app_name)) inv ON true
           WHERE NOT u.is_active AND u.gone_at IS NULL AND ($1::uuid IS NULL OR u.org_id = $1)
             AND (coalesce(u.deactivated_at, '1970-01-01 00:00:00+00'::timestamptz), u.org_id, u.id, t.id)
                 < ($2, $3, $4, $5)
           ORDER BY coalesce(u.deactivated_at, '1970-01-01 00:00:00+00'::timestamptz) DESC, u.org_id DESC,
                    u.id DESC, t.id DESC
           LIMIT $6"#,
        org,
        c_at,
        c_org,
        c_user,
        c_tok,
        limit
    )
    .fetch_all(pool)
    .await
}

#[derive(Template)]
#[template(path = "pages/report_offboarding.html")]
pub struct LeakPage {
    pub layout: Layout,
    pub rows: Vec<LeakRow>,
    pub next: Option<String>,
    pub paged: bool,
    pub csv_href: String,
    pub selection: Option<Selection>,
}

fn qs(org: Option<Uuid>, after: Option<&LeakCursor>) -> String {
    Qs::new()
        .add("org", &org.map(|o| o.to_string()).unwrap_or_default())
        .add("after", &after.map(LeakCursor::encode).unwrap_or_default())
        .finish()
}

pub async fn offboarding_report(
    State(pool): State<PgPool>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
    Query(q): Query<LeakQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "reports", "/reports/offboarding", org).await?;
    let after = q.after.as_deref().and_then(LeakCursor::decode);
    let mut rows = fetch(&pool, org, after.as_ref(), PAGE + 1).await?;
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        format!(
            "/reports/offboarding{}",
            qs(org, rows.last().map(LeakRow::cursor).as_ref())
        )
    });
    let selection = Selection::offer(
        &user,
        org,
        rows.iter()
            .map(|r| (r.app_name.as_str(), r.app_key.as_str(), r.token_id.as_str())),
    );
    Ok(Html(
        LeakPage {
            layout,
            rows,
            next,
            paged: after.is_some(),
            csv_href: format!("/reports/offboarding.csv{}", qs(org, None)),
            selection,
        }
        .render()?,
    ))
}

pub async fn offboarding_csv(
    State(pool): State<PgPool>,
    OrgScope { org, .. }: OrgScope<Analyst>,
) -> Result<Response, AppError> {
    Ok(csv_export::paged(
        &csv_export::dated("offboarding-leaks"),
        HEADER.iter().map(|h| (*h).to_owned()).collect(),
        move |cursor: Option<LeakCursor>| {
            let pool = pool.clone();
            async move {
                let rows = fetch(&pool, org, cursor.as_ref(), csv_export::BATCH).await?;
                let next = (rows.len() as i64 == csv_export::BATCH)
                    .then(|| rows.last().map(LeakRow::cursor))
                    .flatten();
                Ok((rows.iter().map(LeakRow::cells).collect(), next))
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn deactivated_users_still_holding_tokens(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        inventory(&pool, "Data Loader", None, "not_approved").await;
        let html = get_html(&pool, "/reports/offboarding").await;
        assert!(!html.contains(HOSTILE));
        let page = Page(scraper::Html::parse_document(&html));
        let mut users = page.texts("table.report tbody td.user a");
        users.sort();
        assert_eq!(users, [HOSTILE, "Carol Jones"]);
        let dates = page.select("table.report tbody td.deactivated time");
        assert_eq!(dates.len(), 2, "the deactivation date is shown");
        let carol = user_uid(&pool, org, "005C").await;
        assert!(page.select(&format!("a[href='/users/{carol}']")).len() == 1);
        // Carol's Data Loader is in the inventory (not approved); the hostile
        // user's formula-named app is not.
        let mut apps = page.texts("table.report tbody td.app");
        apps.sort();
        assert_eq!(
            apps,
            [
                format!("{FORMULA} not in inventory"),
                "Data Loader not approved".into()
            ]
        );
        assert_eq!(page.select("td.app .inv-not_approved").len(), 1);
        assert_eq!(page.select("td.app .inv-unknown").len(), 1);

        let page = get_page(&pool, "/reports/offboarding").await;
        let rows = get_csv(&pool, &page.attr("a.export", "href")).await;
        assert_eq!(
            rows[0],
            [
                page.texts("table.report thead th"),
                vec!["inventory_status".into()]
            ]
            .concat()
        );
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .any(|r| r[0] == "Carol Jones" && r[4] == "Data Loader" && r[9] == "not_approved")
        );
        assert!(
            rows.iter()
                .any(|r| r[4] == format!("'{FORMULA}") && r[9] == "unknown")
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn nobody_leaks_empty_state(pool: PgPool) {
        let org = new_org(&pool, "Clean").await;
        let mut s = standard();
        s.users.iter_mut().for_each(|u| {
            u.is_active = true;
            u.deactivated_at = None;
        });
        sync(&pool, org, &s).await;
        let page = get_page(&pool, "/reports/offboarding").await;
        assert!(page.text().contains("No deactivated user holds a token"));
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn only_admins_of_the_org_are_offered_the_bulk_revoke(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let uri = format!("/reports/offboarding?org={org}");
        // An admin: a box per row, one form, one button per app shown.
        let page = get_page(&pool, &uri).await;
        let mut boxes = page
            .select("table.report tbody input[type=checkbox][form=bulk-revoke]")
            .iter()
            .map(|e| e.value().attr("value").unwrap().to_owned())
            .collect::<Vec<_>>();
        boxes.sort();
        assert_eq!(boxes, ["0CQ2", "0CQ4"]);
        assert_eq!(page.attr("form#bulk-revoke", "action"), "/actions/new");
        assert_eq!(page.attr("form#bulk-revoke", "method"), "get");
        assert_eq!(page.texts("form#bulk-revoke button"), ["Revoke selected"]);
        let per_app = page.texts("a.revoke-app");
        assert_eq!(per_app.len(), 2, "{per_app:?}");
        assert!(per_app.contains(&"Revoke the 1 shown for Data Loader".to_owned()));
        // Across every org there is nothing to select: an action is one org's.
        let page = get_page(&pool, "/reports/offboarding").await;
        assert!(page.select("form#bulk-revoke").is_empty());

        for role in ["viewer", "analyst"] {
            let (cookie, csrf) = member_cookie(&pool, org, role).await;
            let req = axum::http::Request::get(&uri)
                .body(axum::body::Body::empty())
                .unwrap();
            let (status, _, html) = send_raw(&pool, &cookie, req).await;
            assert_eq!(status, http::StatusCode::OK);
            let page = Page(scraper::Html::parse_document(&html));
            assert_eq!(page.select("table.report tbody tr").len(), 2);
            assert!(
                page.select("input[type=checkbox], form#bulk-revoke, a.revoke-app")
                    .is_empty(),
                "{role}"
            );
            // Nor can they send one by hand.
            let (status, _, _) = post_raw(
                &pool,
                &cookie,
                "/actions",
                format!(
                    "csrf={csrf}&org={org}&kind=bulk_revoke&token=0CQ2&reason=gone&idempotency_key=0123456789abcdef-{role}"
                ),
            )
            .await;
            assert_eq!(status, http::StatusCode::FORBIDDEN, "{role}");
        }
        let actions: i64 = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM actions")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(actions, 0);
    }
}
