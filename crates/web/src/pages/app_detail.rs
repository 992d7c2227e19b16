//! `/apps/{id}`: one app — policies, figures, every authorization (keyset
//! pages; an app may hold 100k), 30 days of usage and logins, and its
//! history; for its org's admins, the revoke and block buttons.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, Redirect},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cockpit_db::eca_usage::{EcaAppUsage, EcaUserRow};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{Analyst, AppId, In, NewSourceId, Viewer},
    chart::{self, BarChart},
    filters,
    layout::{Layout, Query as Qs},
    page_cache::PageCache,
    pages::{
        apps::{kind_label, policy_label},
        timeline::{self, EventRow},
    },
};

pub const PAGE: i64 = 100;
const USAGE_DAYS: u32 = 30;

#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AppInfo {
    pub id: i64,
    pub org_id: Uuid,
    pub org_name: String,
    pub app_key: String,
    pub kind: String,
    pub sf_app_id: Option<String>,
    pub name: String,
    pub installed: bool,
    pub consumer_key: Option<String>,
    pub admin_approved_only: Option<bool>,
    pub refresh_policy: Option<String>,
    pub ip_relaxation: Option<String>,
    pub permitted_users: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub gone_at: Option<DateTime<Utc>>,
    pub users: Option<i64>,
    pub tokens: Option<i64>,
    pub total_use: Option<i64>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub requests_24h: Option<i64>,
    pub errors_24h: Option<i64>,
    pub requests_7d: Option<i64>,
    pub errors_7d: Option<i64>,
    pub stale_tokens: Option<i64>,
    pub inactive_users: Option<i64>,
}

impl AppInfo {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }
    pub fn refresh(&self) -> String {
        policy_label(self.refresh_policy.as_deref())
    }
    pub fn permitted(&self) -> String {
        policy_label(self.permitted_users.as_deref())
    }
    pub fn ip(&self) -> String {
        policy_label(self.ip_relaxation.as_deref())
    }
    pub fn rate_7d(&self) -> String {
        filters::rate(self.errors_7d.unwrap_or(0), self.requests_7d.unwrap_or(0))
    }
}

#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Authorization {
    pub token_id: String,
    pub user_id: String,
    pub uid: Option<i64>,
    pub user_name: Option<String>,
    pub username: Option<String>,
    pub is_active: Option<bool>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
}

impl Authorization {
    /// Keyset position after this row: `<unix micros>~<token id>`.
    pub fn cursor(&self) -> String {
        format!(
            "{}~{}",
            self.last_used_at.unwrap_or_else(epoch).timestamp_micros(),
            self.token_id
        )
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// Authorizations after this position: `<unix micros>~<token id>`.
    pub after: Option<String>,
    /// History before this position: `<unix micros>~<event id>`.
    pub before: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/app_detail.html")]
pub struct AppDetailPage {
    pub layout: Layout,
    pub app: AppInfo,
    pub auths: Vec<Authorization>,
    pub next: Option<String>,
    pub paged: bool,
    pub usage: BarChart,
    pub logins: BarChart,
    pub events: Vec<EventRow>,
    pub older: Option<String>,
    /// The signed-in person may revoke and block in this app's org.
    pub can_act: bool,
    /// The last block or unblock of this app that succeeded was a block.
    pub blocked: bool,
    /// The matching inventory entry's status; `None`: not in the inventory.
    pub inventory: Option<(i64, String)>,
    /// For an External Client App: its usage as the Connect usage endpoints
    /// report it (latest succeeded sync), beside what OauthToken gave.
    pub eca_usage: Option<(EcaAppUsage, Vec<EcaUserRow>)>,
    /// Where it called from in the last 30 days (the log archive): networks
    /// and user agents with their volumes, and the networks and user agents
    /// new to it (not reviewed first).
    pub networks: Vec<cockpit_db::log_archive::Source>,
    pub user_agents: Vec<cockpit_db::log_archive::Source>,
    pub new_sources: Vec<cockpit_db::sources::NewSource>,
    /// Analyst or more in the app's org: may mark a new source reviewed.
    pub can_review: bool,
}

/// Networks and user agents listed on an app's page.
pub const SOURCES_SHOWN: i64 = 50;

/// Users of an ECA listed on its page.
pub const ECA_USERS_SHOWN: i64 = 200;

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// Sorts after every real time: the keyset start of a newest-first list.
pub fn end_of_time() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub fn parse_after(s: &str) -> Option<(DateTime<Utc>, String)> {
    let (micros, id) = s.split_once('~')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id.to_owned(),
    ))
}

/// One app with its figures (`None`: no such app).
pub async fn app_info(pool: &PgPool, id: i64) -> sqlx::Result<Option<AppInfo>> {
    Ok(app_head(pool, id, Utc::now().date_naive())
        .await?
        .map(|h| h.info))
}

/// What the app page shows above its lists, read in one query: the app and
/// its figures, whether it is blocked, its inventory entry, and its usage
/// and logins per day from `since` on.
pub struct AppHead {
    pub info: AppInfo,
    /// The last block or unblock of this app that succeeded was a block.
    pub blocked: bool,
    pub inventory: Option<(i64, String)>,
    /// (day, requests, errors), by day.
    pub usage: Vec<(NaiveDate, i64, i64)>,
    /// (day, successes, failures), by day.
    pub logins: Vec<(NaiveDate, i64, i64)>,
}

pub async fn app_head(pool: &PgPool, id: i64, since: NaiveDate) -> sqlx::Result<Option<AppHead>> {
    let Some(r) = sqlx::query!(
        r#"SELECT a.id, a.org_id, o.name AS org_name, a.app_key, a.kind, a.sf_app_id, a.name, a.installed,
                a.consumer_key, a.admin_approved_only, a.refresh_policy, a.ip_relaxation, a.permitted_users,
                a.first_seen_at, a.gone_at,
                s.users AS "users?", s.tokens AS "tokens?", s.total_use AS "total_use?", s.last_used_at,
                s.requests_24h AS "requests_24h?", s.errors_24h AS "errors_24h?",
                s.requests_7d AS "requests_7d?", s.errors_7d AS "errors_7d?",
                s.stale_tokens AS "stale_tokens?", s.inactive_users AS "inactive_users?",
                coalesce((SELECT x.kind = 'block_app' FROM actions x
                          WHERE x.org_id = a.org_id AND x.app_key = a.app_key
                            AND x.kind IN ('block_app', 'unblock_app') AND x.status = 'succeeded'
                          ORDER BY x.finished_at DESC LIMIT 1), false) AS "blocked!",
                inv.id AS "inventory_id?", inv.status AS "inventory_status?",
                coalesce(u.days, '{}') AS "usage_days!", coalesce(u.requests, '{}') AS "usage_requests!",
                coalesce(u.errors, '{}') AS "usage_errors!",
                coalesce(l.days, '{}') AS "login_days!", coalesce(l.successes, '{}') AS "login_successes!",
                coalesce(l.failures, '{}') AS "login_failures!"
         FROM sf_apps a JOIN orgs o ON o.id = a.org_id
         LEFT JOIN app_summary s ON s.org_id = a.org_id AND s.app_key = a.app_key
         LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) inv ON true
         LEFT JOIN LATERAL (
           SELECT array_agg(d.day ORDER BY d.day) AS days, array_agg(d.requests ORDER BY d.day) AS requests,
                  array_agg(d.errors ORDER BY d.day) AS errors
           FROM app_usage_daily d WHERE d.org_id = a.org_id AND d.app_key = a.app_key AND d.day >= $2) u ON true
         LEFT JOIN LATERAL (
           SELECT array_agg(l.day ORDER BY l.day) AS days, array_agg(l.successes ORDER BY l.day) AS successes,
                  array_agg(l.failures ORDER BY l.day) AS failures
           FROM app_logins_daily l WHERE l.org_id = a.org_id AND l.app_name = a.name AND l.day >= $2) l ON true
         WHERE a.id = $1"#,
        id,
        since
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let triples = |days: Vec<NaiveDate>, a: Vec<i64>, b: Vec<i64>| {
        days.into_iter()
            .zip(a.into_iter().zip(b))
            .map(|(d, (a, b))| (d, a, b))
            .collect()
    };
    Ok(Some(AppHead {
        blocked: r.blocked,
        inventory: r.inventory_id.zip(r.inventory_status),
        usage: triples(r.usage_days, r.usage_requests, r.usage_errors),
        logins: triples(r.login_days, r.login_successes, r.login_failures),
        info: AppInfo {
            id: r.id,
            org_id: r.org_id,
            org_name: r.org_name,
            app_key: r.app_key,
            kind: r.kind,
            sf_app_id: r.sf_app_id,
            name: r.name,
            installed: r.installed,
            consumer_key: r.consumer_key,
            admin_approved_only: r.admin_approved_only,
            refresh_policy: r.refresh_policy,
            ip_relaxation: r.ip_relaxation,
            permitted_users: r.permitted_users,
            first_seen_at: r.first_seen_at,
            gone_at: r.gone_at,
            users: r.users,
            tokens: r.tokens,
            total_use: r.total_use,
            last_used_at: r.last_used_at,
            requests_24h: r.requests_24h,
            errors_24h: r.errors_24h,
            requests_7d: r.requests_7d,
            errors_7d: r.errors_7d,
            stale_tokens: r.stale_tokens,
            inactive_users: r.inactive_users,
        },
    }))
}

/// An app's authorizations, most recently used first, after a keyset
/// position (`parse_after`).
pub async fn authorizations(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    after: Option<&(DateTime<Utc>, String)>,
    limit: i64,
) -> sqlx::Result<Vec<Authorization>> {
    // The first page starts before the end of time: no `IS NULL OR` in the
    // keyset, so the prepared statement keeps its index plan on any page.
    let (after_used, after_id) = match after {
        Some((t, id)) => (*t, id.as_str()),
        None => (end_of_time(), ""),
    };
    sqlx::query_as!(
        Authorization,
        "SELECT t.id AS token_id, t.user_id, u.uid AS \"uid?\", u.name AS \"user_name?\", u.username AS \"username?\",
                u.is_active AS \"is_active?\", u.deactivated_at, t.created_at, t.last_used_at, t.use_count
         FROM sf_tokens t
         LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
         WHERE t.org_id = $1 AND t.app_key = $2 AND t.gone_at IS NULL
           AND (coalesce(t.last_used_at, '1970-01-01 00:00:00+00'::timestamptz), t.id) < ($3, $4)
         ORDER BY coalesce(t.last_used_at, '1970-01-01 00:00:00+00'::timestamptz) DESC, t.id DESC
         LIMIT $5",
        org,
        app_key,
        after_used,
        after_id,
        limit
    )
    .fetch_all(pool)
    .await
}

/// What the app page shows that is the same for everyone allowed to see it
/// (kept by the page cache): everything but the frame and the buttons.
#[derive(Clone)]
struct AppPageData {
    app: AppInfo,
    blocked: bool,
    inventory: Option<(i64, String)>,
    auths: Vec<Authorization>,
    next: Option<String>,
    paged: bool,
    usage: BarChart,
    logins: BarChart,
    events: Vec<EventRow>,
    older: Option<String>,
    eca_usage: Option<(EcaAppUsage, Vec<EcaUserRow>)>,
}

impl AppPageData {
    fn rows(&self) -> usize {
        self.auths.len()
            + self.events.len()
            + self.eca_usage.as_ref().map_or(0, |(_, users)| users.len())
            + 2 * USAGE_DAYS as usize
    }
}

async fn load_app_page(
    pool: &PgPool,
    id: i64,
    today: NaiveDate,
    after: Option<&(DateTime<Utc>, String)>,
    before: Option<&str>,
) -> Result<AppPageData, AppError> {
    let since = today - Duration::days(i64::from(USAGE_DAYS) - 1);
    let head = app_head(pool, id, since).await?.ok_or(AppError::NotFound)?;
    let app = head.info;
    let mut auths = authorizations(pool, app.org_id, &app.app_key, after, PAGE + 1).await?;
    let next = (auths.len() as i64 > PAGE).then(|| {
        auths.truncate(PAGE as usize);
        let key = auths.last().expect("a full page").cursor();
        format!(
            "/apps/{}{}#authorizations",
            app.id,
            Qs::new().add("after", &key).finish()
        )
    });

    let usage = chart::daily_bars(
        "API requests per day (event logs)",
        today,
        USAGE_DAYS,
        &head
            .usage
            .iter()
            .map(|(day, requests, errors)| (*day, requests - errors, *errors))
            .collect::<Vec<_>>(),
        [("ok", "#0b5cad"), ("errors", "#b42318")],
    );
    let logins = chart::daily_bars(
        "OAuth logins per day (login history)",
        today,
        USAGE_DAYS,
        &head.logins,
        [("logins", "#1a7f37"), ("failures", "#b42318")],
    );

    let (events, older) = timeline::for_app(pool, app.org_id, &app.app_key, before).await?;
    let older = older.map(|before| {
        format!(
            "/apps/{}{}#history",
            app.id,
            Qs::new().add("before", &before).finish()
        )
    });
    let eca_usage = if app.kind == "external_client_app" {
        cockpit_db::eca_usage::for_app(pool, app.org_id, &app.app_key, ECA_USERS_SHOWN).await?
    } else {
        None
    };
    Ok(AppPageData {
        app,
        blocked: head.blocked,
        inventory: head.inventory,
        auths,
        next,
        paged: after.is_some(),
        usage,
        logins,
        events,
        older,
        eca_usage,
    })
}

pub async fn app_show(
    State(pool): State<PgPool>,
    State(cache): State<PageCache>,
    In {
        object: AppId(id),
        grant,
        user,
    }: In<AppId, Viewer>,
    Query(q): Query<DetailQuery>,
) -> Result<Html<String>, AppError> {
    let today = Utc::now().date_naive();
    let after = q.after.as_deref().and_then(parse_after);
    let before = q.before.as_deref();
    let key = format!(
        "app/{id}/{today}/{}/{}",
        after
            .as_ref()
            .map(|(t, id)| format!("{}~{id}", t.timestamp_micros()))
            .unwrap_or_default(),
        before.unwrap_or_default()
    );
    let data = cache
        .get_or_load(
            key,
            AppPageData::rows,
            load_app_page(&pool, id, today, after.as_ref(), before),
        )
        .await?;
    let data = AppPageData::clone(&data);
    let layout = Layout::load(&pool, &user, "apps", "/apps", Some(grant.org())).await?;
    let can_act = grant.role() >= cockpit_domain::role::Role::Admin;
    // Read on every visit (not cached): the archive grows between syncs'
    // snapshots, and each read is one app's rows of 30 days.
    let since = today - chrono::Days::new(30);
    let (org, key) = (grant.org(), data.app.app_key.clone());
    let networks =
        cockpit_db::log_archive::networks(&pool, org, &key, since, SOURCES_SHOWN).await?;
    let user_agents =
        cockpit_db::log_archive::user_agents(&pool, org, &key, since, SOURCES_SHOWN).await?;
    let mut new_sources = cockpit_db::sources::of_app(&pool, org, &key, since).await?;
    new_sources.sort_by_key(|s| s.acknowledged_by.is_some());
    Ok(Html(
        AppDetailPage {
            layout,
            networks,
            user_agents,
            new_sources,
            can_review: grant.role() >= cockpit_domain::role::Role::Analyst,
            eca_usage: data.eca_usage,
            can_act,
            blocked: data.blocked,
            inventory: data.inventory,
            paged: data.paged,
            app: data.app,
            auths: data.auths,
            next: data.next,
            usage: data.usage,
            logins: data.logins,
            events: data.events,
            older: data.older,
        }
        .render()?,
    ))
}

/// Marks a new network or user agent of an app reviewed (analyst or more
/// in its org), then shows the app's sources again.
pub async fn new_source_acknowledge(
    State(pool): State<PgPool>,
    it: In<NewSourceId, Analyst>,
) -> Result<Redirect, AppError> {
    let NewSourceId(id) = it.object;
    cockpit_db::sources::acknowledge(&pool, id, it.org(), &it.user.actor()).await?;
    let app = sqlx::query_scalar!(
        "SELECT min(p.id) FROM new_sources s JOIN sf_apps p ON p.org_id = s.org_id AND p.app_key = s.app_key
         WHERE s.id = $1",
        id
    )
    .fetch_one(&pool)
    .await?;
    Ok(Redirect::to(&match app {
        Some(app) => format!("/apps/{app}#sources"),
        None => "/".to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn shows_authorizations_usage_policies_and_history(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let id = app_id(&pool, org, "0H4A").await;
        let page = get_page(&pool, &format!("/apps/{id}")).await;
        assert_eq!(page.texts("h1 bdi"), ["Data Loader"]);
        // Most recently used first; users linked; deactivated users marked.
        let users = page.texts("#authorizations tbody td.user a");
        assert_eq!(users, ["Alice Smith", "Carol Jones"]);
        let alice = user_uid(&pool, org, "005A").await;
        assert_eq!(
            page.attr("#authorizations tbody td.user a", "href"),
            format!("/users/{alice}")
        );
        let status = page.texts("#authorizations tbody td.status");
        assert_eq!(status[0], "active");
        assert!(status[1].starts_with("deactivated"), "{status:?}");
        assert_eq!(page.texts("#authorizations tbody td.uses"), ["500", "3"]);
        // Each authorization shows when it was first used, with exact UTC on hover.
        let created = page.attr("#authorizations tbody td.created time", "title");
        assert!(created.ends_with(" UTC"), "{created}");
        // Policies.
        assert!(
            page.texts("#policies dd")
                .contains(&"Valid until revoked".to_owned())
        );
        // 30 days of usage: today's bar has 95 ok and 5 errors.
        let titles = page.texts("#usage svg rect title");
        assert!(
            titles.iter().any(|t| t.contains("95 ok, 5 errors")),
            "{titles:?}"
        );
        let logins = page.texts("#logins svg rect title");
        assert!(
            logins.iter().any(|t| t.contains("3 logins, 1 failures")),
            "{logins:?}"
        );
        // The action buttons' place exists (empty until revoke/block arrive).
        assert_eq!(page.select("section.actions").len(), 1);
        // History: the first sighting.
        assert!(
            page.texts("#history li")
                .iter()
                .any(|t| t.contains("First seen"))
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn hostile_names_render_as_text(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let id = app_id(&pool, org, "0xIB").await;
        let html = get_html(&pool, &format!("/apps/{id}")).await;
        assert!(!html.contains(HOSTILE));
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "escaped"
        );
        let page = Page(scraper::Html::parse_document(&html));
        assert_eq!(page.texts("h1 bdi"), [HOSTILE]);
        // The RTL user's name is isolated so it cannot flip the row.
        assert_eq!(page.texts("#authorizations tbody td.user a bdi"), [RTL]);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn authorizations_page_by_keyset(pool: PgPool) {
        let org = new_org(&pool, "Acme").await;
        let a = app("0H4A", "Busy", "connected_app", true, "");
        let mut s = Snapshot::default();
        let n = super::PAGE * 2 + 3;
        for i in 0..n {
            s.users
                .push(user(&format!("005{i:05}"), &format!("User {i}"), true));
            // Some never used; many share a last-used time.
            let used = if i % 5 == 0 { None } else { Some(i % 7) };
            s.tokens.push(token(
                &format!("0CQ{i:05}"),
                &a,
                &format!("005{i:05}"),
                used,
                i,
            ));
        }
        s.apps.push(a);
        sync(&pool, org, &s).await;
        let id = app_id(&pool, org, "0H4A").await;
        let mut uri = format!("/apps/{id}");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = get_page(&pool, &uri).await;
            seen.extend(page.texts("#authorizations tbody td.user a"));
            pages += 1;
            match page.select("a[rel=next]").first() {
                Some(a) => uri = a.value().attr("href").unwrap().to_owned(),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len() as i64, n);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len() as i64, n, "every authorization exactly once");
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn unknown_app_is_404(pool: PgPool) {
        let (status, _, body) = get_raw(&pool, "/apps/999999").await;
        assert_eq!(status, 404);
        assert!(body.contains("Not found"));
        let (status, _, _) = get_raw(&pool, "/apps/abc").await;
        assert!(status.is_client_error(), "{status}");
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn an_external_client_app_shows_the_usage_salesforce_reports(pool: PgPool) {
        let (org, _sim) = sim_org(
            &pool,
            "Sim",
            sfsim::SimConfig {
                tokens: 800,
                users: 120,
                apps: 12,
                ..sfsim::SimConfig::default()
            },
        )
        .await;
        let (key, tokens): (String, i64) = sqlx::query_as(
            "SELECT a.app_key, s.tokens::bigint FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
             WHERE a.org_id = $1 AND a.kind = 'external_client_app' AND s.tokens > 0 ORDER BY s.tokens DESC LIMIT 1",
        )
        .bind(org)
        .fetch_one(&pool)
        .await
        .unwrap();
        let page = get_page(&pool, &format!("/apps/{}", app_id(&pool, org, &key).await)).await;
        assert_eq!(page.texts("#eca-tokens"), [tokens.to_string()]);
        assert_eq!(page.texts("#oauth-tokens"), [tokens.to_string()]);
        assert_eq!(page.texts("#eca-users"), page.texts("#oauth-users"));
        assert!(page.select("#eca-mismatch").is_empty(), "the sources agree");
        let per_user: i64 = page
            .texts("table.eca-users td.tokens")
            .iter()
            .map(|t| t.replace(',', "").parse::<i64>().unwrap())
            .sum();
        assert_eq!(per_user, tokens);
        assert!(page.select("table.eca-users tr.mismatch").is_empty());

        // The OauthToken side is counted once per sync, not per request; a
        // page that finds it missing counts it, and keeps it.
        let stored = || async {
            sqlx::query_as::<_, (Option<i64>,)>(
                "SELECT oauth_tokens FROM eca_usage_apps WHERE org_id = $1 AND app_key = $2
                 ORDER BY sync_run_id DESC LIMIT 1",
            )
            .bind(org)
            .bind(&key)
            .fetch_one(&pool)
            .await
            .unwrap()
            .0
        };
        assert_eq!(stored().await, Some(tokens));
        sqlx::query("UPDATE eca_usage_apps SET oauth_tokens = NULL, oauth_users = NULL, only_in_oauth_token = NULL")
            .execute(&pool)
            .await
            .unwrap();
        let again = get_page(&pool, &format!("/apps/{}", app_id(&pool, org, &key).await)).await;
        assert_eq!(again.texts("#oauth-tokens"), [tokens.to_string()]);
        assert_eq!(again.texts("#oauth-users"), page.texts("#oauth-users"));
        assert_eq!(stored().await, Some(tokens));

        // A revoke between syncs: OauthToken has one fewer at once, which
        // Salesforce's usage figures (from the sync) do not show yet.
        let one: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sf_tokens WHERE org_id = $1 AND app_key = $2 AND gone_at IS NULL LIMIT 1",
        )
        .bind(org)
        .bind(&key)
        .fetch_all(&pool)
        .await
        .unwrap();
        let requested = cockpit_db::actions::request(
            &pool,
            &cockpit_db::actions::NewAction {
                org_id: org,
                kind: cockpit_db::actions::ActionKind::RevokeToken,
                app_key: Some(&key),
                user_id: None,
                token_ids: &one,
                idle_days: None,
                requested_by: "user:admin@example.com",
                reason: "test",
                idempotency_key: "eca-revoke-0123456789",
            },
        )
        .await
        .unwrap()
        .unwrap();
        let keyring = std::sync::Arc::new(cockpit_domain::secret::Keyring::new(
            cockpit_domain::secret::MasterKey::from_bytes([42; 32]),
            vec![],
        ));
        cockpit_worker::actions::execute(&pool, keyring, requested.id)
            .await
            .unwrap();
        let after = get_page(&pool, &format!("/apps/{}", app_id(&pool, org, &key).await)).await;
        assert_eq!(after.texts("#oauth-tokens"), [(tokens - 1).to_string()]);
        assert_eq!(after.texts("#eca-tokens"), [tokens.to_string()]);
        assert_eq!(
            after.select("#eca-mismatch").len(),
            1,
            "the sources now differ"
        );

        // A connected app has no such section.
        let (ca,): (String,) = sqlx::query_as(
            "SELECT app_key FROM sf_apps WHERE org_id = $1 AND kind = 'connected_app' LIMIT 1",
        )
        .bind(org)
        .fetch_one(&pool)
        .await
        .unwrap();
        let page = get_page(&pool, &format!("/apps/{}", app_id(&pool, org, &ca).await)).await;
        assert!(page.select("#eca-usage").is_empty());
    }
}
