//! `/reports/new-apps?since=YYYY-MM-DD`: apps first seen in an org since a
//! date (30 days ago by default). The apps present at an org's first sync
//! are its baseline, not news, and are left out.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, Response},
};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{Analyst, OrgScope, Viewer},
    csv_export, filters,
    layout::{Layout, Query as Qs},
    pages::{
        apps::{kind_label, policy_label},
        inventory::export_status,
    },
};

pub const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NewAppsQuery {
    pub org: Option<String>,
    pub since: Option<String>,
    /// `<unix micros>~<app id>`
    pub after: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NewAppRow {
    pub id: i64,
    pub org_name: String,
    pub name: String,
    pub kind: String,
    pub installed: bool,
    pub refresh_policy: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub users: Option<i64>,
    pub tokens: Option<i64>,
    pub total_use: Option<i64>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The app's inventory status; `None`: not in the inventory.
    pub inventory_status: Option<String>,
}

impl NewAppRow {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }
    pub fn refresh(&self) -> String {
        policy_label(self.refresh_policy.as_deref())
    }
    pub fn cursor(&self) -> (DateTime<Utc>, i64) {
        (self.first_seen_at, self.id)
    }
    fn cells(&self) -> Vec<String> {
        let t = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        vec![
            self.name.clone(),
            self.org_name.clone(),
            format!(
                "{}{}",
                self.kind_label(),
                if self.installed {
                    ""
                } else {
                    " (not installed)"
                }
            ),
            t(Some(self.first_seen_at)),
            self.users.unwrap_or(0).to_string(),
            self.tokens.unwrap_or(0).to_string(),
            self.total_use.unwrap_or(0).to_string(),
            t(self.last_used_at),
            self.refresh(),
            export_status(self.inventory_status.as_deref()),
        ]
    }
}

pub const HEADER: [&str; 10] = [
    "App",
    "Org",
    "Kind",
    "First seen",
    "Users",
    "Tokens",
    "Uses",
    "Last used",
    "Refresh token",
    "inventory_status",
];

fn since(raw: Option<&str>) -> NaiveDate {
    raw.and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        .unwrap_or_else(|| (Utc::now() - Duration::days(30)).date_naive())
}

pub async fn fetch(
    pool: &PgPool,
    org: Option<Uuid>,
    since: NaiveDate,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> sqlx::Result<Vec<NewAppRow>> {
    let since = since.and_time(NaiveTime::MIN).and_utc();
    // The first page starts after every row (no `IS NULL OR` in the keyset).
    let (c_at, c_id) = match after {
        Some((t, id)) => (t, id),
        None => (crate::pages::app_detail::end_of_time(), i64::MAX),
    };
    sqlx::query_as!(
        NewAppRow,
        r#"SELECT a.id, o.name AS org_name, a.name, a.kind, a.installed, a.refresh_policy, a.first_seen_at,
                  s.users AS "users?", s.tokens AS "tokens?", s.total_use AS "total_use?", s.last_used_at,
                  inv.status AS "inventory_status?"
           FROM sf_apps a
           JOIN orgs o ON o.id = a.org_id
           LEFT JOIN app_summary s ON s.org_id = a.org_id AND s.app_key = a.app_key
           LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) inv ON true
           WHERE a.gone_at IS NULL AND ($1::uuid IS NULL OR a.org_id = $1)
             AND a.first_seen_at >= $2 AND a.first_seen_at > coalesce(o.first_synced_at, '-infinity')
             AND (a.first_seen_at, a.id) < ($3, $4)
           ORDER BY a.first_seen_at DESC, a.id DESC
           LIMIT $5"#,
        org,
        since,
        c_at,
        c_id,
        limit
    )
    .fetch_all(pool)
    .await
}

#[derive(Template)]
#[template(path = "pages/report_new_apps.html")]
pub struct NewAppsPage {
    pub layout: Layout,
    pub since: String,
    pub rows: Vec<NewAppRow>,
    pub next: Option<String>,
    pub paged: bool,
    pub csv_href: String,
}

fn qs(org: Option<Uuid>, since: NaiveDate, after: Option<(DateTime<Utc>, i64)>) -> String {
    Qs::new()
        .add("org", &org.map(|o| o.to_string()).unwrap_or_default())
        .add("since", &since.format("%Y-%m-%d").to_string())
        .add(
            "after",
            &after
                .map(|(t, id)| format!("{}~{id}", t.timestamp_micros()))
                .unwrap_or_default(),
        )
        .finish()
}

pub fn parse_after(s: Option<&str>) -> Option<(DateTime<Utc>, i64)> {
    let (t, id) = s?.split_once('~')?;
    Some((
        DateTime::from_timestamp_micros(t.parse().ok()?)?,
        id.parse().ok()?,
    ))
}

pub async fn new_apps_report(
    State(pool): State<PgPool>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
    Query(q): Query<NewAppsQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "reports", "/reports/new-apps", org).await?;
    let since = since(q.since.as_deref());
    let after = parse_after(q.after.as_deref());
    let mut rows = fetch(&pool, org, since, after, PAGE + 1).await?;
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        format!(
            "/reports/new-apps{}",
            qs(org, since, rows.last().map(NewAppRow::cursor))
        )
    });
    Ok(Html(
        NewAppsPage {
            layout,
            since: since.format("%Y-%m-%d").to_string(),
            rows,
            next,
            paged: after.is_some(),
            csv_href: format!("/reports/new-apps.csv{}", qs(org, since, None)),
        }
        .render()?,
    ))
}

pub async fn new_apps_csv(
    State(pool): State<PgPool>,
    OrgScope { org, .. }: OrgScope<Analyst>,
    Query(q): Query<NewAppsQuery>,
) -> Result<Response, AppError> {
    let since = since(q.since.as_deref());
    Ok(csv_export::paged(
        &csv_export::dated("new-apps"),
        HEADER.iter().map(|h| (*h).to_owned()).collect(),
        move |cursor: Option<(DateTime<Utc>, i64)>| {
            let pool = pool.clone();
            async move {
                let rows = fetch(&pool, org, since, cursor, csv_export::BATCH).await?;
                let next = (rows.len() as i64 == csv_export::BATCH)
                    .then(|| rows.last().map(NewAppRow::cursor))
                    .flatten();
                Ok((rows.iter().map(NewAppRow::cells).collect(), next))
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use chrono::{Duration, Utc};
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn apps_that_appeared_after_the_baseline(pool: PgPool) {
        let org = new_org(&pool, "Acme").await;
        let mut s = standard();
        sync_at(&pool, org, &s, Utc::now() - Duration::days(60)).await;
        let page = get_page(&pool, "/reports/new-apps").await;
        assert!(
            page.text().contains("No new app"),
            "the first sync is the baseline"
        );

        s.apps.push(app(
            "0H4N",
            "Shiny New Tool",
            "connected_app",
            true,
            "valid_until_revoked",
        ));
        sync_at(&pool, org, &s, Utc::now() - Duration::days(40)).await;
        s.apps
            .push(app("0H4M", "Newer Tool", "connected_app", true, ""));
        sync(&pool, org, &s).await;

        inventory(&pool, "shiny new tool", Some("3MVG9-shiny"), "under_review").await;
        inventory(&pool, HOSTILE, None, "not_approved").await;
        let page = get_page(&pool, "/reports/new-apps").await;
        assert_eq!(page.texts("table.report tbody td.app a"), ["Newer Tool"]);
        let since = (Utc::now() - Duration::days(50))
            .format("%Y-%m-%d")
            .to_string();
        let page = get_page(&pool, &format!("/reports/new-apps?since={since}")).await;
        assert_eq!(
            page.texts("table.report tbody td.app a"),
            ["Newer Tool", "Shiny New Tool"]
        );
        assert_eq!(page.attr("input#r-since", "value"), since);
        // The app without a consumer key on record is matched by name.
        assert_eq!(
            page.texts("table.report tbody td.app .badge"),
            ["not in inventory", "under review"]
        );
        let rows = get_csv(&pool, &page.attr("a.export", "href")).await;
        assert_eq!(
            rows[0],
            [
                page.texts("table.report thead th"),
                vec!["inventory_status".into()]
            ]
            .concat()
        );
        assert_eq!(rows[1][0], "Newer Tool");
        assert_eq!(rows[2][0], "Shiny New Tool");
        assert_eq!(rows[2][8], "Valid until revoked");
        assert_eq!(rows[2][9], "under_review");

        // The apps list flags the same apps as new since that date.
        let page = get_page(
            &pool,
            &format!("/apps?flag=new&since={since}&sort=name&dir=asc"),
        )
        .await;
        assert_eq!(
            page.texts("table.apps tbody td.name"),
            ["Newer Tool", "Shiny New Tool"]
        );

        // A look-alike: named like an approved app, with another consumer key.
        let mut lookalike = app("0H4L", "Shiny New Tool", "connected_app", true, "");
        lookalike.consumer_key = Some("3MVG9-other".into());
        s.apps.push(lookalike);
        s.apps.push(app("0H4H", HOSTILE, "connected_app", true, ""));
        sync(&pool, org, &s).await;

        let html = get_html(&pool, "/reports/new-apps").await;
        assert!(!html.contains(HOSTILE), "hostile name escaped");
        let page = Page(scraper::Html::parse_document(&html));
        let mut names = page.texts("table.report tbody td.app a");
        names.sort();
        assert_eq!(names, [HOSTILE, "Newer Tool", "Shiny New Tool"]);
        let flagged = |sel: &str| {
            let mut v: Vec<String> = page
                .select("table.report tbody tr")
                .iter()
                .filter(|tr| {
                    tr.select(&scraper::Selector::parse(sel).unwrap())
                        .next()
                        .is_some()
                })
                .map(|tr| {
                    tr.select(&scraper::Selector::parse("td.app a").unwrap())
                        .next()
                        .unwrap()
                        .text()
                        .collect()
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            flagged("td.app .inv-unknown"),
            ["Newer Tool", "Shiny New Tool"]
        );
        assert_eq!(flagged("td.app .inv-not_approved"), [HOSTILE]);
        // The CSV says the same, in its inventory_status column.
        let rows = get_csv(&pool, &page.attr("a.export", "href")).await;
        assert_eq!(rows[0][9], "inventory_status");
        let mut statuses: Vec<(String, String)> = rows[1..]
            .iter()
            .map(|r| (r[0].clone(), r[9].clone()))
            .collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [
                (HOSTILE.to_owned(), "not_approved".to_owned()),
                ("Newer Tool".to_owned(), "unknown".to_owned()),
                ("Shiny New Tool".to_owned(), "unknown".to_owned()),
            ]
        );
    }
}
