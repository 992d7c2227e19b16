//! The overview: every connected org with its status and last sync, the
//! totals, the risk signals (each linking to its report) and the trends.

use askama::Template;
use axum::{extract::State, response::Html};
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{OrgScope, Viewer},
    chart::{self, LineChart},
    filters,
    layout::Layout,
    page_cache::PageCache,
    pages::apps::{HEAVY_USE, NARROW_USERS, WIDE_USERS},
};
use cockpit_db::orgs::OrgRow;

#[derive(Clone)]
pub struct Totals {
    pub apps: i64,
    pub users: i64,
    pub tokens: i64,
}

#[derive(Clone)]
pub struct Signals {
    pub stale: i64,
    pub leaks: i64,
    pub new_apps: i64,
    pub until_revoked: i64,
    pub uninstalled: i64,
    pub wide_idle: i64,
    pub narrow_heavy: i64,
    /// Apps seen in an org (and still there) that no inventory entry matches.
    pub unknown: i64,
}

/// A risk signal as the overview lists it.
pub struct Signal {
    pub count: i64,
    pub label: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub orgs: Vec<OrgRow>,
    pub totals: Totals,
    pub signals: Vec<Signal>,
    pub tokens_chart: Option<LineChart>,
    pub apps_chart: Option<LineChart>,
    /// Reviews that are due: (text, link).
    pub reminders: Vec<(String, &'static str)>,
    /// Contained incidents whose app was seen again (the watch's findings), read
    /// fresh on every visit: the red signals.
    pub incident_alerts: Vec<cockpit_db::watch::Signal>,
    /// Hits of the active indicator sets in new logs, not acknowledged yet,
    /// read fresh on every visit: red signals too.
    pub indicator_hits: Vec<cockpit_db::hunts::HitApp>,
    /// Apps that called from a network or with a user agent new to them in
    /// the last 30 days, not reviewed yet: amber.
    pub new_sources: Vec<cockpit_db::sources::AppWithNewSources>,
}

/// The monthly review is due 30 days after the last completed one, the
/// quarterly audit 90 days after; both are due before the first.
async fn reminders(pool: &PgPool) -> sqlx::Result<Vec<(String, &'static str)>> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (kind, days, label) in [
        ("monthly", 30, "monthly review"),
        ("quarterly", 90, "quarterly audit of stale authorizations"),
    ] {
        match cockpit_db::reviews::last_completed(pool, kind).await? {
            None => out.push((format!("The {label} has never been done."), "/reviews")),
            Some(t) if now - t > chrono::Duration::days(days) => out.push((
                format!(
                    "The {label} is due: the last one was completed {} days ago.",
                    (now - t).num_days()
                ),
                "/reviews",
            )),
            Some(_) => {}
        }
    }
    Ok(out)
}

/// What the overview shows that is the same for every viewer of the same
/// org choice (kept by the page cache).
#[derive(Clone)]
struct HomeData {
    orgs: Vec<OrgRow>,
    totals: Totals,
    signals: Signals,
    points: Vec<(DateTime<Utc>, i64, i64, i64)>,
    reminders: Vec<(String, &'static str)>,
}

async fn load_home(pool: &PgPool, org: Option<Uuid>) -> sqlx::Result<HomeData> {
    let orgs: Vec<OrgRow> = cockpit_db::orgs::list(pool)
        .await?
        .into_iter()
        .filter(|o| org.is_none_or(|id| id == o.id))
        .collect();
    Ok(HomeData {
        orgs,
        totals: totals(pool, org).await?,
        signals: signals(pool, org).await?,
        points: trend_points(pool, org).await?,
        reminders: reminders(pool).await?,
    })
}

pub async fn home(
    State(pool): State<PgPool>,
    State(cache): State<PageCache>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "overview", "/", org).await?;
    let org = layout.org;
    let watched_orgs = org.map_or_else(|| user.visible_orgs(), |o| vec![o]);
    let incident_alerts = cockpit_db::watch::signals(&pool, &watched_orgs).await?;
    let indicator_hits = cockpit_db::hunts::live_hit_apps(&pool, &watched_orgs, 10).await?;
    let month_ago = chrono::Utc::now().date_naive() - chrono::Days::new(30);
    let new_sources = cockpit_db::sources::open_apps(&pool, &watched_orgs, month_ago, 10).await?;
    let data = cache
        .get_or_load(
            format!("home/{}", org.map(|o| o.to_string()).unwrap_or_default()),
            |d| d.orgs.len() + d.points.len(),
            load_home(&pool, org),
        )
        .await?;
    let HomeData {
        orgs,
        totals,
        signals: s,
        points,
        reminders,
    } = HomeData::clone(&data);
    let oq = |base: &str, extra: &str| {
        let mut href = format!("{base}?{extra}");
        if let Some(id) = org {
            href.push_str(&format!("&org={id}"));
        }
        href
    };
    let signals = vec![
        Signal {
            count: s.stale,
            label: "authorizations unused for 90 days",
            href: oq("/reports/stale", "days=90"),
        },
        Signal {
            count: s.leaks,
            label: "deactivated users still holding tokens (user × app)",
            href: oq("/reports/offboarding", ""),
        },
        Signal {
            count: s.new_apps,
            label: "apps new in the last 30 days",
            href: oq("/reports/new-apps", ""),
        },
        Signal {
            count: s.until_revoked,
            label: "apps with tokens whose refresh tokens are valid until revoked",
            href: oq("/apps", "flag=until_revoked"),
        },
        Signal {
            count: s.uninstalled,
            label: "uninstalled apps still holding tokens",
            href: oq("/apps", "flag=uninstalled"),
        },
        Signal {
            count: s.wide_idle,
            label: "apps with many users and little use",
            href: oq("/apps", "flag=wide_idle"),
        },
        Signal {
            count: s.narrow_heavy,
            label: "apps with few users and heavy use",
            href: oq("/apps", "flag=narrow_heavy"),
        },
        Signal {
            count: s.unknown,
            label: "apps not in the inventory",
            href: oq("/apps", "flag=unknown"),
        },
    ];
    let tokens_chart = chart::trend(
        "Tokens and users holding them, last 30 days",
        &points
            .iter()
            .map(|(t, _, users, tokens)| (*t, vec![*tokens, *users]))
            .collect::<Vec<_>>(),
        &[("tokens", "#0b5cad"), ("users", "#9a6700")],
    );
    let apps_chart = chart::trend(
        "Apps, last 30 days",
        &points
            .iter()
            .map(|(t, apps, _, _)| (*t, vec![*apps]))
            .collect::<Vec<_>>(),
        &[("apps", "#1a7f37")],
    );
    Ok(Html(
        HomePage {
            layout,
            orgs,
            totals,
            signals,
            tokens_chart,
            apps_chart,
            reminders,
            incident_alerts,
            indicator_hits,
            new_sources,
        }
        .render()?,
    ))
}

/// The latest snapshot of each org, summed.
async fn totals(pool: &PgPool, org: Option<Uuid>) -> sqlx::Result<Totals> {
    sqlx::query_as!(
        Totals,
        "SELECT coalesce(sum(s.apps), 0)::bigint AS \"apps!\",
                coalesce(sum(s.users_with_tokens), 0)::bigint AS \"users!\",
                coalesce(sum(s.tokens), 0)::bigint AS \"tokens!\"
         FROM orgs o
         CROSS JOIN LATERAL (SELECT apps, users_with_tokens, tokens FROM org_snapshots
                             WHERE org_id = o.id ORDER BY at DESC LIMIT 1) s
         WHERE $1::uuid IS NULL OR o.id = $1",
        org
    )
    .fetch_one(pool)
    .await
}

/// Risk signals from the per-app summaries (one row per app, never tokens).
async fn signals(pool: &PgPool, org: Option<Uuid>) -> sqlx::Result<Signals> {
    sqlx::query_as!(
        Signals,
        "SELECT coalesce(sum(s.stale_tokens), 0)::bigint AS \"stale!\",
                coalesce(sum(s.inactive_users), 0)::bigint AS \"leaks!\",
                count(*) FILTER (WHERE a.first_seen_at >= now() - interval '30 days'
                                   AND a.first_seen_at > coalesce(o.first_synced_at, '-infinity')) AS \"new_apps!\",
                count(*) FILTER (WHERE a.refresh_policy = 'valid_until_revoked' AND s.tokens > 0) AS \"until_revoked!\",
                count(*) FILTER (WHERE NOT a.installed AND s.tokens > 0) AS \"uninstalled!\",
                count(*) FILTER (WHERE s.users >= $2 AND s.total_use <= s.users) AS \"wide_idle!\",
                count(*) FILTER (WHERE s.users BETWEEN 1 AND $3 AND (s.total_use >= $4 OR s.requests_7d >= $4)) AS \"narrow_heavy!\",
                count(*) FILTER (WHERE inv.id IS NULL AND a.gone_at IS NULL) AS \"unknown!\"
         FROM app_summary s
         JOIN sf_apps a ON a.org_id = s.org_id AND a.app_key = s.app_key
         JOIN orgs o ON o.id = s.org_id
         LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) inv ON true
         WHERE $1::uuid IS NULL OR s.org_id = $1",
        org,
        WIDE_USERS,
        NARROW_USERS,
        HEAVY_USE
    )
    .fetch_one(pool)
    .await
}

/// One point per day: each org's last snapshot of the day, summed over orgs.
async fn trend_points(
    pool: &PgPool,
    org: Option<Uuid>,
) -> sqlx::Result<Vec<(DateTime<Utc>, i64, i64, i64)>> {
    let rows = sqlx::query!(
        "SELECT day AS \"day!\", sum(apps)::bigint AS \"apps!\", sum(users_with_tokens)::bigint AS \"users!\",
                sum(tokens)::bigint AS \"tokens!\"
         FROM (SELECT DISTINCT ON (org_id, (at AT TIME ZONE 'UTC')::date)
                      (at AT TIME ZONE 'UTC')::date AS day, apps, users_with_tokens, tokens
               FROM org_snapshots
               WHERE at >= now() - interval '30 days' AND ($1::uuid IS NULL OR org_id = $1)
               ORDER BY org_id, (at AT TIME ZONE 'UTC')::date, at DESC) d
         GROUP BY day ORDER BY day",
        org
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.day.and_time(NaiveTime::MIN).and_utc(),
                r.apps,
                r.users,
                r.tokens,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn empty_state_says_what_to_do(pool: PgPool) {
        let page = get_page(&pool, "/").await;
        assert!(page.text().contains("No Salesforce org is connected yet"));
        assert!(page.select("form.org-switch").is_empty());
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn shows_orgs_totals_signals_and_trends(pool: PgPool) {
        let (acme, _) = seeded(&pool, "Acme").await;
        let other = seeded(&pool, "Globex").await.0;
        let page = get_page(&pool, "/").await;
        let orgs = page.texts("table.orgs tbody tr td:first-child");
        assert_eq!(orgs, ["Acme", "Globex"]);
        // Totals are the sum of both orgs' latest snapshots: 4 live tokens each.
        assert_eq!(page.texts("#total-tokens"), ["8"]);
        assert_eq!(page.texts("#total-apps"), ["6"]);
        // Signals link to their reports, carrying nothing when all orgs are shown.
        let stale = page.attr("#signals a[href^='/reports/stale']", "href");
        assert_eq!(stale, "/reports/stale?days=90");
        // Two stale tokens and two deactivated holders in each org.
        assert_eq!(
            page.texts("#signals a[href^='/reports/stale'] .count"),
            ["4"]
        );
        assert_eq!(
            page.texts("#signals a[href^='/reports/offboarding'] .count"),
            ["4"]
        );
        assert_eq!(
            page.texts("#signals a[href*='flag=uninstalled'] .count"),
            ["2"]
        );
        assert_eq!(page.select("svg polyline").len(), 3, "two trend charts");

        // One org: the switcher keeps it, links carry it, totals are its own.
        let page = get_page(&pool, &format!("/?org={acme}")).await;
        assert_eq!(page.texts("table.orgs tbody tr td:first-child"), ["Acme"]);
        assert_eq!(page.texts("#total-tokens"), ["4"]);
        assert_eq!(
            page.texts("#signals a[href^='/reports/stale'] .count"),
            ["2"]
        );
        assert_eq!(
            page.attr("#org-switch option[selected]", "value"),
            acme.to_string()
        );
        assert_eq!(
            page.attr("nav a[href^='/apps']", "href"),
            format!("/apps?org={acme}")
        );
        assert_eq!(
            page.attr("#signals a[href^='/reports/stale']", "href"),
            format!("/reports/stale?days=90&org={acme}")
        );
        let _ = other;
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn apps_outside_the_inventory_are_a_signal(pool: PgPool) {
        let (acme, _) = seeded(&pool, "Acme").await;
        seeded(&pool, "Globex").await;
        let sel = "#signals a[href^='/apps?flag=unknown']";
        let page = get_page(&pool, "/").await;
        assert_eq!(page.texts(&format!("{sel} .count")), ["6"]);
        assert_eq!(page.attr(sel, "href"), "/apps?flag=unknown");
        assert!(page.texts(sel)[0].ends_with("apps not in the inventory"));
        inventory(&pool, "Data Loader", None, "approved").await;
        let page = get_page(&pool, "/").await;
        assert_eq!(
            page.texts(&format!("{sel} .count")),
            ["4"],
            "two orgs' Data Loader"
        );
        // One org: its own count, and the link lands on the same apps.
        let page = get_page(&pool, &format!("/?org={acme}")).await;
        assert_eq!(page.texts(&format!("{sel} .count")), ["2"]);
        let href = page.attr(sel, "href");
        assert_eq!(href, format!("/apps?flag=unknown&org={acme}"));
        let apps = get_page(&pool, &href).await;
        let mut names = apps.texts("table.apps tbody td.name");
        names.sort();
        assert_eq!(names, [HOSTILE, FORMULA]);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn hostile_org_and_app_names_are_escaped(pool: PgPool) {
        seeded(&pool, "<script>alert(1)</script>").await;
        let html = get_html(&pool, "/").await;
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;")
        );
    }
}
