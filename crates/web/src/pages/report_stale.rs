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
    AppError,
    auth::scope::{Analyst, OrgScope, Viewer},
    csv_export, filters,
    layout::{Layout, Query as Qs},
    pages::{inventory::export_status, report_selection::Selection},
};

pub const PAGE: i64 = 100;
pub const DEFAULT_DAYS: i64 = 90;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StaleRow {
    pub org_id: Uuid,
    pub org_name: String,
    pub token_id: String,
    pub app_key: String,
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
    /// The app's inventory status; `None`: not in the inventory.
    pub inventory_status: Option<String>,
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
            export_status(self.inventory_status.as_deref()),
        ]
    }
}

pub const HEADER: [&str; 10] = [
    "App",
    "Org",
    "User",
    "Username",
    "User status",
    "Authorized",
    "Last used",
    "Uses",
    "Days idle",
    "inventory_status",
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
        r#"SELECT t.org_id, o.name AS org_name, t.id AS token_id, t.app_key, a.id AS "app_id?",
                  coalesce(a.name, t.app_name) AS "app_name!", u.uid AS "uid?", u.name AS "user_name?",
                  u.username AS "username?", u.is_active AS "is_active?", t.created_at, t.last_used_at,
                  t.use_count, coalesce(t.last_used_at, t.created_at, t.first_seen_at) AS "idle_since!",
                  inv.status AS "inventory_status?"
           FROM sf_tokens t
           JOIN orgs o ON o.id = t.org_id
           LEFT JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
           LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
           LEFT JOIN LATERAL inventory_match(a.consumer_key, coalesce(a.name, t.app_name)) inv ON true
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
    pub selection: Option<Selection>,
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
    OrgScope { org, user, .. }: OrgScope<Viewer>,
    Query(q): Query<StaleQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "reports", "/reports/stale", org).await?;
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
    let selection = Selection::offer(
        &user,
        org,
        rows.iter()
            .map(|r| (r.app_name.as_str(), r.app_key.as_str(), r.token_id.as_str())),
    )
    .map(|s| s.stale(days));
    Ok(Html(
        StalePage {
            layout,
            days,
            rows,
            next,
            paged: after.is_some(),
            csv_href: format!("/reports/stale.csv{}", qs(org, days, None)),
            selection,
        }
        .render()?,
    ))
}

pub async fn stale_csv(
    State(pool): State<PgPool>,
    OrgScope { org, .. }: OrgScope<Analyst>,
    Query(q): Query<StaleQuery>,
) -> Result<Response, AppError> {
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
    use uuid::Uuid;

    /// A simulated org synced into the cockpit.
    async fn sim(
        pool: &PgPool,
        tokens: usize,
        users: usize,
        apps: usize,
    ) -> (Uuid, sfsim::RunningSim) {
        sim_org(
            pool,
            "Sim",
            sfsim::SimConfig {
                tokens,
                users,
                apps,
                ..sfsim::SimConfig::default()
            },
        )
        .await
    }

    /// Runs the action a confirmed form redirected to; its id.
    async fn run_redirected(pool: &PgPool, headers: &http::HeaderMap) -> i64 {
        use cockpit_domain::secret::{Keyring, MasterKey};
        let id: i64 = headers[http::header::LOCATION]
            .to_str()
            .unwrap()
            .trim_start_matches("/actions/")
            .parse()
            .unwrap();
        let keyring = std::sync::Arc::new(Keyring::new(MasterKey::from_bytes([42; 32]), vec![]));
        cockpit_worker::actions::execute(pool, keyring, id)
            .await
            .unwrap();
        id
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn lists_idle_tokens_longest_first_and_exports_the_same(pool: PgPool) {
        seeded(&pool, "Acme").await;
        inventory(&pool, "data loader", None, "approved").await;
        let page = get_page(&pool, "/reports/stale").await;
        // Default 90 days: Legacy (never used, authorized 400 days ago), then Carol's Data Loader (200 days).
        assert_eq!(
            page.texts("table.report tbody td.app bdi"),
            [FORMULA, "Data Loader"]
        );
        // Each row's app: outside the inventory, or its status there.
        assert_eq!(
            page.texts("table.report tbody td.app .badge"),
            ["not in inventory", "approved"]
        );
        assert_eq!(
            page.select("tbody tr:first-child td.app .inv-unknown")
                .len(),
            1
        );
        assert_eq!(
            page.select("tbody tr:last-child td.app .inv-approved")
                .len(),
            1
        );
        assert_eq!(page.texts("table.report tbody td.idle"), ["400", "200"]);
        assert_eq!(page.attr("input#r-days", "value"), "90");
        let page = get_page(&pool, "/reports/stale?days=300").await;
        assert_eq!(page.texts("table.report tbody td.app bdi"), [FORMULA]);
        let page = get_page(&pool, "/reports/stale?days=1000").await;
        assert!(page.text().contains("No authorization has been idle"));

        let page = get_page(&pool, "/reports/stale").await;
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
        assert_eq!(rows[1][0], format!("'{FORMULA}"), "formula defused");
        assert_eq!(rows[1][9], "unknown");
        assert_eq!(rows[2][0], "Data Loader");
        assert_eq!(rows[2][2], "Carol Jones");
        assert_eq!(rows[2][4], "deactivated");
        assert_eq!(rows[2][9], "approved");
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
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

    /// Tick some stale authorizations of a simulated org, confirm, and let
    /// the executor run: exactly those are revoked at Salesforce, once each.
    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn revoke_selected_from_the_report(pool: PgPool) {
        let (org, sim) = sim(&pool, 400, 80, 6).await;
        let page = get_page(&pool, &format!("/reports/stale?org={org}&days=1")).await;
        let boxes: Vec<String> = page
            .select("table.report tbody input[type=checkbox][form=bulk-revoke]")
            .iter()
            .map(|e| e.value().attr("value").unwrap().to_owned())
            .collect();
        assert!(
            boxes.len() >= 6,
            "stale authorizations to pick: {}",
            boxes.len()
        );
        let picked: Vec<&String> = boxes.iter().step_by(3).take(5).collect();
        let left: Vec<&String> = boxes.iter().filter(|b| !picked.contains(b)).collect();

        // The form goes (by GET) to the confirmation page with the ticked boxes.
        let mut q = format!("org={org}&kind=bulk_revoke");
        for t in &picked {
            q.push_str(&format!("&token={t}"));
        }
        let confirm = get_page(&pool, &format!("/actions/new?{q}")).await;
        let facts = confirm.texts("dl.facts dd");
        assert_eq!(facts[0], "Sim");
        assert!(!confirm.texts("dl.facts dd.apps").is_empty(), "apps named");
        assert!(facts.contains(&"5".to_owned()), "{facts:?}");
        let hidden: Vec<String> = confirm
            .select("form input[name=token]")
            .iter()
            .map(|e| e.value().attr("value").unwrap().to_owned())
            .collect();
        assert_eq!(hidden.iter().collect::<Vec<_>>(), picked);
        let key = confirm.attr("input[name=idempotency_key]", "value");
        let cookie = admin_cookie(&pool).await;
        let mut body = format!("csrf={TEST_CSRF}&idempotency_key={key}&org={org}&kind=bulk_revoke");
        for t in &picked {
            body.push_str(&format!("&token={t}"));
        }
        body.push_str("&reason=");
        // A reason is required.
        let (status, _, _) = post_raw(&pool, &cookie, "/actions", body.clone()).await;
        assert_eq!(status, http::StatusCode::BAD_REQUEST);
        body.push_str("stale+for+a+year");
        let (status, headers, _) = post_raw(&pool, &cookie, "/actions", body.clone()).await;
        assert_eq!(status, http::StatusCode::SEE_OTHER);
        // A double submit is the same action.
        let (_, again, _) = post_raw(&pool, &cookie, "/actions", body).await;
        assert_eq!(
            again[http::header::LOCATION],
            headers[http::header::LOCATION]
        );
        let id = run_redirected(&pool, &headers).await;
        let shown = get_page(&pool, &format!("/actions/{id}")).await;
        assert_eq!(shown.texts("#count-revoked"), ["5"]);
        assert_eq!(shown.texts("#count-failed"), ["0"]);
        let calls = sim.sim.revoke_calls();
        for t in &picked {
            assert!(
                sim.sim.refresh_token_of(t).is_none(),
                "{t} revoked at Salesforce"
            );
            assert_eq!(calls.get(t.as_str()), Some(&1), "{t} revoked once");
        }
        assert_eq!(calls.len(), picked.len(), "nothing else was revoked");
        for t in &left {
            assert!(sim.sim.refresh_token_of(t).is_some(), "{t} left alone");
        }
        let audit = sqlx::query!(
            "SELECT action AS \"action!\", count(*) AS \"n!\" FROM audit_log
             WHERE target->>'action' = $1 GROUP BY action ORDER BY action",
            id.to_string()
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let audit: Vec<(String, i64)> = audit.into_iter().map(|r| (r.action, r.n)).collect();
        assert_eq!(
            audit,
            [
                ("action.completed".to_owned(), 1),
                ("action.requested".to_owned(), 1)
            ]
        );
        // The revoked authorizations leave the report.
        let page = get_page(&pool, &format!("/reports/stale?org={org}&days=1")).await;
        let still: Vec<String> = page
            .select("table.report tbody input[type=checkbox]")
            .iter()
            .map(|e| e.value().attr("value").unwrap().to_owned())
            .collect();
        assert!(picked.iter().all(|p| !still.contains(p)));
    }

    /// "Every stale authorization of an app", beyond the rows one page shows:
    /// the server picks the app's tokens idle for the given days when the
    /// confirmation counts them and again when the intent is written, so one
    /// used in between is left alone; sfsim sees exactly those revoked.
    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn revoke_every_stale_authorization_of_an_app(pool: PgPool) {
        use chrono::{DateTime, Utc};
        let (org, sim) = sim(&pool, 900, 150, 3).await;
        let days = 1;
        let page = get_page(&pool, &format!("/reports/stale?org={org}&days={days}")).await;
        let links: Vec<String> = page
            .select("a.revoke-app-stale")
            .iter()
            .map(|e| e.value().attr("href").unwrap().to_owned())
            .collect();
        assert!(!links.is_empty(), "offered per app to an admin");
        let href = &links[0];
        let app_key = url::form_urlencoded::parse(href.split_once('?').unwrap().1.as_bytes())
            .find(|(k, _)| k == "app")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        // The same app's "all N shown" link: the rows of this page only.
        let shown_href = page.attr("a.revoke-app", "href");
        let shown = shown_href.matches("token=").count();

        // What the rule should take, worked out here from the rows.
        let cutoff = Utc::now() - chrono::Duration::days(days);
        let rows = sqlx::query!(
            "SELECT id, last_used_at, created_at, first_seen_at FROM sf_tokens
             WHERE org_id = $1 AND app_key = $2 AND gone_at IS NULL",
            org,
            app_key
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let idle_since = |l: Option<DateTime<Utc>>, c: Option<DateTime<Utc>>, f: DateTime<Utc>| {
            l.or(c).unwrap_or(f)
        };
        let mut stale: Vec<String> = rows
            .iter()
            .filter(|r| idle_since(r.last_used_at, r.created_at, r.first_seen_at) < cutoff)
            .map(|r| r.id.clone())
            .collect();
        stale.sort();
        assert!(
            stale.len() > shown,
            "more stale authorizations than the page shows: {} > {shown}",
            stale.len()
        );
        assert!(
            stale.len() < rows.len(),
            "some of the app's tokens are in use"
        );

        let confirm = get_page(&pool, href).await;
        assert_eq!(confirm.texts("dl.facts dd.idle-days"), ["1 days"]);
        let facts = confirm.texts("dl.facts dd.num");
        assert_eq!(
            facts[0],
            crate::filters::grouped(stale.len() as i64),
            "{facts:?}"
        );
        assert!(
            confirm.select("form input[name=token]").is_empty(),
            "no ids carried"
        );
        assert_eq!(confirm.attr("form input[name=days]", "value"), "1");

        // Used between the confirmation and the submit: no longer stale.
        let used = stale.pop().unwrap();
        sqlx::query!(
            "UPDATE sf_tokens SET last_used_at = now() WHERE org_id = $1 AND id = $2",
            org,
            used
        )
        .execute(&pool)
        .await
        .unwrap();

        let key = confirm.attr("input[name=idempotency_key]", "value");
        let cookie = admin_cookie(&pool).await;
        let body = format!(
            "csrf={TEST_CSRF}&idempotency_key={key}&org={org}&kind=revoke_app_stale&app={}&days=1&reason=INC-7+stale",
            url::form_urlencoded::byte_serialize(app_key.as_bytes()).collect::<String>()
        );
        let (status, headers, _) = post_raw(&pool, &cookie, "/actions", body).await;
        assert_eq!(status, http::StatusCode::SEE_OTHER);
        let id = run_redirected(&pool, &headers).await;
        let shown = get_page(&pool, &format!("/actions/{id}")).await;
        assert_eq!(
            shown.texts("#count-revoked"),
            [crate::filters::grouped(stale.len() as i64)]
        );
        assert_eq!(shown.texts("#count-failed"), ["0"]);
        assert_eq!(shown.texts("dd.idle-days"), ["1 days"]);
        let calls = sim.sim.revoke_calls();
        let mut revoked: Vec<String> = calls.keys().cloned().collect();
        revoked.sort();
        assert_eq!(revoked, stale, "exactly the app's stale authorizations");
        assert!(calls.values().all(|n| *n == 1), "each revoked once");
        assert!(
            sim.sim.refresh_token_of(&used).is_some(),
            "the one used since is kept"
        );
        let target = sqlx::query_scalar!(
            "SELECT target FROM audit_log WHERE action = 'action.requested' AND target->>'action' = $1",
            id.to_string()
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(target["idle_days"], 1);
        assert_eq!(target["authorizations"], stale.len());
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn stale_revoke_needs_a_number_of_days(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        for days in ["", "&days=0", "&days=abc", "&days=99999"] {
            let (status, _, body) = get_raw(
                &pool,
                &format!("/actions/new?org={org}&kind=revoke_app_stale&app=0H4A{days}"),
            )
            .await;
            assert_eq!(status, http::StatusCode::BAD_REQUEST, "{days}");
            assert!(body.contains("how many days"), "{body}");
        }
        let page = get_page(
            &pool,
            &format!("/actions/new?org={org}&kind=revoke_app_stale&app=0H4A&days=30"),
        )
        .await;
        assert_eq!(page.texts("dd.idle-days"), ["30 days"]);
        assert!(
            page.text()
                .contains("Authorizations used since are left alone")
        );
    }
}
