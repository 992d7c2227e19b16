//! `/reports/stale?days=N`: live authorizations unused for N days (90 by
//! default), longest idle first, across orgs or in one, with a CSV export.
//! Keyset over the `sf_tokens_idle` indexes: a page reads what it shows.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, Response},
};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError, csv_export, filters,
    layout::{Layout, Query as Qs, parse_org},
};

pub const PAGE: i64 = 100;
pub const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Default, Deserialize)]
pub struct StaleQuery {
    pub org: Option<String>,
    pub days: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StaleCursor {
    pub idle_since: DateTime<Utc>,
    pub org_id: Uuid,
    pub token_id: String,
}

impl StaleCursor {
    pub fn encode(&self) -> String {
        format!(
            "{}~{}~{}",
            self.idle_since.timestamp_micros(),
            self.org_id,
            self.token_id
        )
    }
    pub fn decode(s: &str) -> Option<StaleCursor> {
        let mut p = s.splitn(3, '~');
        Some(StaleCursor {
            idle_since: DateTime::from_timestamp_micros(p.next()?.parse().ok()?)?,
            org_id: Uuid::parse_str(p.next()?).ok()?,
            token_id: p.next()?.to_owned(),
        })
    }
}

#[derive(serde::Serialize)]
pub struct StaleRow {
    pub org_id: Uuid,
    pub org_name: String,
    pub token_id: String,
    pub app_id: Option<i64>,
    pub app_name: String,
    pub uid: Option<i64>,
    pub user_name: Option<String>,
    pub username: Option<String>,
    pub is_active: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
    pub idle_since: DateTime<Utc>,
}

impl StaleRow {
    pub fn idle_days(&self) -> i64 {
        (Utc::now() - self.idle_since).num_days()
    }
    pub fn cursor(&self) -> StaleCursor {
        StaleCursor {
            idle_since: self.idle_since,
            org_id: self.org_id,
            token_id: self.token_id.clone(),
        }
    }
    fn cells(&self) -> Vec<String> {
        let t = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        vec![
            self.app_name.clone(),
            self.org_name.clone(),
            self.user_name.clone().unwrap_or_default(),
            self.username.clone().unwrap_or_default(),
            match self.is_active {
                Some(true) => "active",
                Some(false) => "deactivated",
                None => "unknown",
            }
            .to_owned(),
            t(self.created_at),
            t(self.last_used_at),
            self.use_count.map(|n| n.to_string()).unwrap_or_default(),
            self.idle_days().to_string(),
        ]
    }
}

pub const HEADER: [&str; 9] = [
    "App",
    "Org",
    "User",
    "Username",
    "User status",
    "Authorized",
    "Last used",
    "Uses",
    "Days idle",
];

/// Sorts before every real time: the keyset start of an oldest-first list.
fn beginning_of_time() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn days(raw: Option<&str>) -> i64 {
    raw.and_then(|d| d.trim().parse::<i64>().ok())
        .map_or(DEFAULT_DAYS, |d| d.clamp(1, 3_650))
}

pub async fn fetch(
    pool: &PgPool,
    org: Option<Uuid>,
    days: i64,
    after: Option<&StaleCursor>,
    limit: i64,
) -> sqlx::Result<Vec<StaleRow>> {
    let cutoff = Utc::now() - Duration::days(days);
    // The first page starts before every row (no `IS NULL OR` in the keyset,
    // so prepared statements keep their index plans).
    let (c_at, c_org, c_id) = match after {
        Some(c) => (c.idle_since, c.org_id, c.token_id.as_str()),
        None => (beginning_of_time(), Uuid::nil(), ""),
    };
    sqlx::query_as!(
        StaleRow,
        r#"SELECT t.org_id, o.name AS org_name, t.id AS token_id, a.id AS "app_id?",
                  coalesce(a.name, t.app_name) AS "app_name!", u.uid AS "uid?", u.name AS "user_name?",
                  u.username AS "username?", u.is_active AS "is_active?", t.created_at, t.last_used_at,
                  t.use_count, coalesce(t.last_used_at, t.created_at, t.first_seen_at) AS "idle_since!"
           FROM sf_tokens t
           JOIN orgs o ON o.id = t.org_id
           LEFT JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
           LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
           WHERE t.gone_at IS NULL AND ($1::uuid IS NULL OR t.org_id = $1)
             AND coalesce(t.last_used_at, t.created_at, t.first_seen_at) < $2
             AND (coalesce(t.last_used_at, t.created_at, t.first_seen_at), t.org_id, t.id) > ($3, $4, $5)
           ORDER BY coalesce(t.last_used_at, t.created_at, t.first_seen_at), t.org_id, t.id
           LIMIT $6"#,
        org,
        cutoff,
        c_at,
        c_org,
        c_id,
        limit
    )
    .fetch_all(pool)
    .await
}

#[derive(Template)]
#[template(path = "pages/report_stale.html")]
pub struct StalePage {
    pub layout: Layout,
    pub days: i64,
    pub rows: Vec<StaleRow>,
    pub next: Option<String>,
    pub paged: bool,
    pub csv_href: String,
}

fn qs(org: Option<Uuid>, days: i64, after: Option<&StaleCursor>) -> String {
    Qs::new()
        .add("org", &org.map(|o| o.to_string()).unwrap_or_default())
        .add("days", &days.to_string())
        .add("after", &after.map(StaleCursor::encode).unwrap_or_default())
        .finish()
}

pub async fn stale_report(
    State(pool): State<PgPool>,
    Query(q): Query<StaleQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(
        &pool,
        "reports",
        "/reports/stale",
        parse_org(q.org.as_deref()),
    )
    .await?;
    let org = layout.org;
    let days = days(q.days.as_deref());
    let after = q.after.as_deref().and_then(StaleCursor::decode);
    let mut rows = fetch(&pool, org, days, after.as_ref(), PAGE + 1).await?;
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        format!(
            "/reports/stale{}",
            qs(org, days, rows.last().map(StaleRow::cursor).as_ref())
        )
    });
    Ok(Html(
        StalePage {
            layout,
            days,
            rows,
            next,
            paged: after.is_some(),
            csv_href: format!("/reports/stale.csv{}", qs(org, days, None)),
        }
        .render()?,
    ))
}

pub async fn stale_csv(
    State(pool): State<PgPool>,
    Query(q): Query<StaleQuery>,
) -> Result<Response, AppError> {
    let org = parse_org(q.org.as_deref());
    let days = days(q.days.as_deref());
    Ok(csv_export::paged(
        &csv_export::dated(&format!("stale-authorizations-{days}d")),
        HEADER.iter().map(|h| (*h).to_owned()).collect(),
        move |cursor: Option<StaleCursor>| {
            let pool = pool.clone();
            async move {
                let rows = fetch(&pool, org, days, cursor.as_ref(), csv_export::BATCH).await?;
                let next = (rows.len() as i64 == csv_export::BATCH)
                    .then(|| rows.last().map(StaleRow::cursor))
                    .flatten();
                Ok((rows.iter().map(StaleRow::cells).collect(), next))
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrations = "../../migrations")]
    async fn lists_idle_tokens_longest_first_and_exports_the_same(pool: PgPool) {
        seeded(&pool, "Acme").await;
        let page = get_page(&pool, "/reports/stale").await;
        // Default 90 days: Legacy (never used, authorized 400 days ago), then Carol's Data Loader (200 days).
        assert_eq!(
            page.texts("table.report tbody td.app"),
            [FORMULA, "Data Loader"]
        );
        assert_eq!(page.texts("table.report tbody td.idle"), ["400", "200"]);
        assert_eq!(page.attr("input#r-days", "value"), "90");
        let page = get_page(&pool, "/reports/stale?days=300").await;
        assert_eq!(page.texts("table.report tbody td.app"), [FORMULA]);
        let page = get_page(&pool, "/reports/stale?days=1000").await;
        assert!(page.text().contains("No authorization has been idle"));

        let page = get_page(&pool, "/reports/stale").await;
        let rows = get_csv(&pool, &page.attr("a.export", "href")).await;
        assert_eq!(rows[0], page.texts("table.report thead th"));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][0], format!("'{FORMULA}"), "formula defused");
        assert_eq!(rows[2][0], "Data Loader");
        assert_eq!(rows[2][2], "Carol Jones");
        assert_eq!(rows[2][4], "deactivated");
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn pages_and_exports_past_one_batch(pool: PgPool) {
        let org = new_org(&pool, "Big").await;
        let a = app("0H4A", "Old", "connected_app", true, "");
        let mut s = Snapshot::default();
        let n = 5_000 + 17;
        for i in 0..n {
            s.tokens.push(token(
                &format!("0CQ{i:06}"),
                &a,
                "005X",
                Some(100 + i % 50),
                1,
            ));
        }
        s.apps.push(a);
        sync(&pool, org, &s).await;
        let rows = get_csv(&pool, "/reports/stale.csv").await;
        assert_eq!(rows.len() as i64, n + 1, "header and every stale token");
        let page = get_page(&pool, "/reports/stale").await;
        assert_eq!(
            page.select("table.report tbody tr").len() as i64,
            super::PAGE
        );
        let next = page.attr("a[rel=next]", "href");
        let page2 = get_page(&pool, &next).await;
        assert_eq!(
            page2.select("table.report tbody tr").len() as i64,
            super::PAGE
        );
        // Page two starts where page one ended, in the same order as the export.
        let first_idle: Vec<String> = rows[1..=(2 * super::PAGE as usize)]
            .iter()
            .map(|r| r[8].clone())
            .collect();
        let shown: Vec<String> = [page.texts("td.idle"), page2.texts("td.idle")].concat();
        assert_eq!(shown, first_idle);
    }
}
