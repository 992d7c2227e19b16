//! `/apps`: every app of every org (or of one), from `app_summary` (refreshed
//! by each sync), so the list never aggregates tokens at request time.
//! Sort by any column, filter by flag, kind, org and name, keyset pagination,
//! and `/apps.csv` with exactly the same filter, order and columns.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{Analyst, OrgScope, Viewer},
    csv_export, filters,
    layout::{Layout, Query as Qs, parse_org},
    page_cache::PageCache,
};

/// "Many users": an app with at least this many users…
pub const WIDE_USERS: i64 = 10;
/// "Few users": an app with at most this many users…
pub const NARROW_USERS: i64 = 3;
/// …and at least this many uses (lifetime or API requests in 7 days).
pub const HEAVY_USE: i64 = 1_000;
pub const PAGE: i64 = 50;
/// The export reads at most this many apps (the query budget).
pub const EXPORT_MAX: i64 = 10_000;

pub const FLAGS: [(&str, &str); 7] = [
    ("new", "New since the date"),
    ("stale", "Stale: every token unused for 90 days"),
    ("wide_idle", "Many users, little use"),
    ("narrow_heavy", "Few users, heavy use"),
    ("until_revoked", "Refresh token valid until revoked"),
    ("uninstalled", "Uninstalled"),
    ("unknown", "Unknown: not in the inventory"),
];

pub const KINDS: [(&str, &str); 3] = [
    ("connected_app", "Connected app"),
    ("external_client_app", "External Client App"),
    ("unknown", "Unknown"),
];

/// Sortable columns: (key, header, numeric sort by default descending).
pub const COLUMNS: [(&str, &str, bool); 14] = [
    ("name", "App", false),
    ("org", "Org", false),
    ("kind", "Kind", false),
    ("users", "Users", true),
    ("tokens", "Tokens", true),
    ("use", "Uses", true),
    ("last_used", "Last used", true),
    ("first_seen", "First seen", true),
    ("req24", "API 24 h", true),
    ("req7d", "API 7 d", true),
    ("err7d", "Errors 7 d", true),
    ("refresh", "Refresh token", false),
    ("permitted", "Permitted users", false),
    ("flags", "Flags", false),
];

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppsQuery {
    /// One org's id; absent, every org.
    pub org: Option<String>,
    /// Part of the app's name, any case.
    pub q: Option<String>,
    /// `connected_app`, `external_client_app` or `unknown`.
    pub kind: Option<String>,
    /// Only apps with this flag (`new`, `stale`, `unknown`, …).
    pub flag: Option<String>,
    /// First seen on or after this day (`2026-11-22`).
    pub since: Option<String>,
    /// A column: `name`, `org`, `users`, `tokens`, `last_used`, ….
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    /// The `next` of the previous page (same filter and sort).
    pub after: Option<String>,
}

/// The request, validated.
#[derive(Debug, Clone)]
pub struct Filter {
    pub org: Option<Uuid>,
    pub q: String,
    pub kind: String,
    pub flag: String,
    pub since: NaiveDate,
    pub sort: &'static str,
    pub desc: bool,
    pub after: Option<Cursor>,
}

/// Keyset position: the last row's sort keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub num: i64,
    pub id: i64,
    pub txt: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}~{}~{}", self.num, self.id, self.txt)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let mut parts = s.splitn(3, '~');
        Some(Cursor {
            num: parts.next()?.parse().ok()?,
            id: parts.next()?.parse().ok()?,
            txt: parts.next()?.to_owned(),
        })
    }
}

impl Filter {
    pub fn parse(q: AppsQuery) -> Filter {
        let since = q
            .since
            .as_deref()
            .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
            .unwrap_or_else(|| (Utc::now() - Duration::days(30)).date_naive());
        let (sort, numeric) = COLUMNS
            .iter()
            .find(|(k, _, _)| Some(*k) == q.sort.as_deref() && *k != "flags")
            .map_or(("tokens", true), |(k, _, n)| (*k, *n));
        let desc = match q.dir.as_deref() {
            Some("asc") => false,
            Some("desc") => true,
            _ => numeric,
        };
        let pick = |v: Option<String>, allowed: &[(&str, &str)]| {
            v.filter(|v| allowed.iter().any(|(k, _)| k == v))
                .unwrap_or_default()
        };
        Filter {
            org: parse_org(q.org.as_deref()),
            q: q.q.unwrap_or_default().trim().chars().take(200).collect(),
            kind: pick(q.kind, &KINDS),
            flag: pick(q.flag, &FLAGS),
            since,
            sort,
            desc,
            after: q.after.as_deref().and_then(Cursor::decode),
        }
    }

    /// The query string of this filter, optionally with another sort, and a
    /// cursor.
    fn qs(&self, sort: Option<(&str, bool)>, after: Option<&Cursor>) -> String {
        let (sort, desc) = sort.unwrap_or((self.sort, self.desc));
        let org = self.org.map(|o| o.to_string()).unwrap_or_default();
        let since = self.since.format("%Y-%m-%d").to_string();
        let default_since = (Utc::now() - Duration::days(30)).date_naive() == self.since;
        Qs::new()
            .add("org", &org)
            .add("q", &self.q)
            .add("kind", &self.kind)
            .add("flag", &self.flag)
            .add("since", if default_since { "" } else { &since })
            .add("sort", sort)
            .add("dir", if desc { "desc" } else { "asc" })
            .add("after", &after.map(Cursor::encode).unwrap_or_default())
            .finish()
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AppRow {
    pub id: i64,
    pub org_name: String,
    pub name: String,
    pub kind: String,
    pub installed: bool,
    pub refresh_policy: Option<String>,
    pub permitted_users: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub users: i64,
    pub tokens: i64,
    pub total_use: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub requests_24h: i64,
    pub errors_24h: i64,
    pub requests_7d: i64,
    pub errors_7d: i64,
    #[serde(skip)]
    pub f_new: bool,
    #[serde(skip)]
    pub f_stale: bool,
    #[serde(skip)]
    pub f_wide_idle: bool,
    #[serde(skip)]
    pub f_narrow_heavy: bool,
    #[serde(skip)]
    pub f_until_revoked: bool,
    #[serde(skip)]
    pub f_uninstalled: bool,
    /// Not matched by any inventory entry (consumer key or name).
    #[serde(skip)]
    pub f_unknown: bool,
    pub inventory_status: Option<String>,
    #[serde(skip)]
    pub sk_num: i64,
    #[serde(skip)]
    pub sk_txt: String,
}

impl AppRow {
    pub fn kind_label(&self) -> &'static str {
        kind_label(&self.kind)
    }

    /// The flags this app raises, as (key, short label).
    pub fn flags(&self) -> Vec<(&'static str, &'static str)> {
        [
            (self.f_new, "new", "new"),
            (self.f_stale, "stale", "stale"),
            (self.f_wide_idle, "wide_idle", "many users, little use"),
            (self.f_narrow_heavy, "narrow_heavy", "few users, heavy use"),
            (self.f_until_revoked, "until_revoked", "valid until revoked"),
            (self.f_uninstalled, "uninstalled", "uninstalled"),
            (self.f_unknown, "unknown", "not in inventory"),
        ]
        .into_iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, k, l)| (k, l))
        .collect()
    }

    pub fn err_rate_24h(&self) -> String {
        filters::rate(self.errors_24h, self.requests_24h)
    }

    pub fn err_rate_7d(&self) -> String {
        filters::rate(self.errors_7d, self.requests_7d)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            num: self.sk_num,
            id: self.id,
            txt: self.sk_txt.clone(),
        }
    }

    /// The exported cells, in the page's column order.
    fn csv_cells(&self) -> Vec<String> {
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
            self.users.to_string(),
            self.tokens.to_string(),
            self.total_use.to_string(),
            t(self.last_used_at),
            t(Some(self.first_seen_at)),
            format!("{} ({} errors)", self.requests_24h, self.errors_24h),
            self.requests_7d.to_string(),
            self.errors_7d.to_string(),
            policy_label(self.refresh_policy.as_deref()),
            policy_label(self.permitted_users.as_deref()),
            self.flags()
                .iter()
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("; "),
        ]
    }
}

pub fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Unknown", |(_, l)| l)
}

/// Policy codes as people read them; unknown codes are shown as they are.
pub fn policy_label(p: Option<&str>) -> String {
    match p {
        None => "–".to_owned(),
        Some("valid_until_revoked") => "Valid until revoked".to_owned(),
        Some("all_self_authorized") => "All users may self-authorize".to_owned(),
        Some("admin_approved_pre_authorized") => {
            "Admin-approved users are pre-authorized".to_owned()
        }
        Some(p) => {
            if let Some(rest) = p.strip_prefix("expires_after_") {
                format!("Expires after {rest}")
            } else if let Some(rest) = p.strip_prefix("expires_inactive_") {
                format!("Expires after {rest} inactive")
            } else {
                p.replace('_', " ")
            }
        }
    }
}

/// One page (or the export) of the list, in the filter's order.
pub async fn fetch(pool: &PgPool, f: &Filter, limit: i64) -> sqlx::Result<Vec<AppRow>> {
    let since = f.since.and_time(chrono::NaiveTime::MIN).and_utc();
    let (cur_num, cur_id, cur_txt) = match &f.after {
        Some(c) => (c.num, Some(c.id), c.txt.as_str()),
        None => (0, None, ""),
    };
    sqlx::query_as!(
        AppRow,
        r#"SELECT id AS "id!", org_name AS "org_name!", name AS "name!", kind AS "kind!",
                  installed AS "installed!", refresh_policy, permitted_users, first_seen_at AS "first_seen_at!",
                  users AS "users!", tokens AS "tokens!", total_use AS "total_use!", last_used_at,
                  requests_24h AS "requests_24h!", errors_24h AS "errors_24h!",
                  requests_7d AS "requests_7d!", errors_7d AS "errors_7d!",
                  f_new AS "f_new!", f_stale AS "f_stale!", f_wide_idle AS "f_wide_idle!",
                  f_narrow_heavy AS "f_narrow_heavy!", f_until_revoked AS "f_until_revoked!",
                  f_uninstalled AS "f_uninstalled!", f_unknown AS "f_unknown!", inventory_status AS "inventory_status?",
                  sk_num AS "sk_num!", sk_txt AS "sk_txt!"
           FROM (
             SELECT a.id, o.name AS org_name, a.name, a.kind, a.installed, a.refresh_policy, a.permitted_users,
                    a.first_seen_at, s.users, s.tokens, s.total_use, s.last_used_at, s.requests_24h, s.errors_24h,
                    s.requests_7d, s.errors_7d,
                    coalesce(a.first_seen_at >= $5 AND a.first_seen_at > coalesce(o.first_synced_at, '-infinity'), false) AS f_new,
                    (s.tokens > 0 AND s.stale_tokens = s.tokens) AS f_stale,
                    (s.users >= $6 AND s.total_use <= s.users) AS f_wide_idle,
                    (s.users BETWEEN 1 AND $7 AND (s.total_use >= $8 OR s.requests_7d >= $8)) AS f_narrow_heavy,
                    coalesce(a.refresh_policy = 'valid_until_revoked', false) AS f_until_revoked,
                    NOT a.installed AS f_uninstalled,
                    (ik.id IS NULL AND iname.id IS NULL) AS f_unknown,
                    coalesce(ik.status, iname.status) AS inventory_status,
                    CASE $9::text
                      WHEN 'users' THEN s.users WHEN 'tokens' THEN s.tokens WHEN 'use' THEN s.total_use
                      WHEN 'last_used' THEN coalesce((extract(epoch FROM s.last_used_at) * 1000000)::bigint, -1)
                      WHEN 'first_seen' THEN (extract(epoch FROM a.first_seen_at) * 1000000)::bigint
                      WHEN 'req24' THEN s.requests_24h WHEN 'req7d' THEN s.requests_7d
                      WHEN 'err7d' THEN CASE WHEN s.requests_7d > 0 THEN s.errors_7d * 1000000 / s.requests_7d ELSE -1 END
                      ELSE 0 END AS sk_num,
                    CASE $9::text
                      WHEN 'name' THEN lower(a.name) WHEN 'org' THEN lower(o.name) WHEN 'kind' THEN a.kind
                      WHEN 'refresh' THEN coalesce(a.refresh_policy, '') WHEN 'permitted' THEN coalesce(a.permitted_users, '')
                      ELSE '' END AS sk_txt
             FROM app_summary s
             JOIN sf_apps a ON a.org_id = s.org_id AND a.app_key = s.app_key
             JOIN orgs o ON o.id = s.org_id
             -- The rule of inventory_match() (migration 0012), spelled as two hash
             -- joins because this list reads every app: the entry with the app's
             -- consumer key, else the one with its name when either side has no key.
             LEFT JOIN inventory ik ON ik.consumer_key = a.consumer_key
             LEFT JOIN inventory iname ON lower(iname.name) = lower(a.name)
                                      AND (iname.consumer_key IS NULL OR a.consumer_key IS NULL)
             WHERE ($1::uuid IS NULL OR s.org_id = $1) AND a.gone_at IS NULL
               AND ($2 = '' OR a.kind = $2)
               AND ($3 = '' OR strpos(lower(a.name), lower($3)) > 0)
           ) x
           WHERE CASE $4::text
                   WHEN 'new' THEN f_new WHEN 'stale' THEN f_stale WHEN 'wide_idle' THEN f_wide_idle
                   WHEN 'narrow_heavy' THEN f_narrow_heavy WHEN 'until_revoked' THEN f_until_revoked
                   WHEN 'uninstalled' THEN f_uninstalled WHEN 'unknown' THEN f_unknown ELSE true END
             AND ($12::bigint IS NULL
                  OR ($10 AND (sk_num, sk_txt, id) < ($11, $13, $12))
                  OR (NOT $10 AND (sk_num, sk_txt, id) > ($11, $13, $12)))
           ORDER BY CASE WHEN $10 THEN sk_num END DESC, CASE WHEN $10 THEN sk_txt END DESC,
                    CASE WHEN $10 THEN id END DESC, sk_num, sk_txt, id
           LIMIT $14"#,
        f.org,
        f.kind,
        f.q,
        f.flag,
        since,
        WIDE_USERS,
        NARROW_USERS,
        HEAVY_USE,
        f.sort,
        f.desc,
        cur_num,
        cur_id,
        cur_txt,
        limit
    )
    .fetch_all(pool)
    .await
}

/// A column header: its sort link and `aria-sort`.
pub struct Header {
    pub label: &'static str,
    pub href: Option<String>,
    pub aria_sort: &'static str,
    pub numeric: bool,
}

#[derive(Template)]
#[template(path = "pages/apps.html")]
pub struct AppsPage {
    pub layout: Layout,
    pub filter: Filter,
    pub since: String,
    pub headers: Vec<Header>,
    pub rows: Vec<AppRow>,
    pub next: Option<String>,
    pub first_page: Option<String>,
    pub csv_href: String,
    pub flags: &'static [(&'static str, &'static str)],
    pub kinds: &'static [(&'static str, &'static str)],
}

pub async fn apps_list(
    State(pool): State<PgPool>,
    State(cache): State<PageCache>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
    Query(q): Query<AppsQuery>,
) -> Result<Html<String>, AppError> {
    let mut filter = Filter::parse(q);
    filter.org = org;
    let layout = Layout::load(&pool, &user, "apps", "/apps", org).await?;
    // The filter as its links write it (the org, every choice, the
    // position), with the day `since` means: one entry per list shown.
    let key = format!(
        "apps/{}{}",
        filter.since,
        filter.qs(None, filter.after.as_ref())
    );
    let found = cache
        .get_or_load(key, Vec::len, fetch(&pool, &filter, PAGE + 1))
        .await?;
    let mut rows = Vec::clone(&found);
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        format!(
            "/apps{}",
            filter.qs(None, rows.last().map(AppRow::cursor).as_ref())
        )
    });
    let headers = COLUMNS
        .iter()
        .map(|(key, label, numeric)| {
            let current = *key == filter.sort;
            Header {
                label,
                href: (*key != "flags").then(|| {
                    let desc = if current { !filter.desc } else { *numeric };
                    format!("/apps{}", filter.qs(Some((key, desc)), None))
                }),
                aria_sort: match (current, filter.desc) {
                    (false, _) => "none",
                    (true, true) => "descending",
                    (true, false) => "ascending",
                },
                // Times sort newest first but read as text.
                numeric: *numeric && !matches!(*key, "last_used" | "first_seen"),
            }
        })
        .collect();
    let first_page = filter
        .after
        .is_some()
        .then(|| format!("/apps{}", filter.qs(None, None)));
    let csv_href = format!("/apps.csv{}", filter.qs(None, None));
    Ok(Html(
        AppsPage {
            layout,
            since: filter.since.format("%Y-%m-%d").to_string(),
            filter,
            headers,
            rows,
            next,
            first_page,
            csv_href,
            flags: &FLAGS,
            kinds: &KINDS,
        }
        .render()?,
    ))
}

/// `/apps.csv`: the list as shown, every page of it, same filter and order.
pub async fn apps_csv(
    State(pool): State<PgPool>,
    OrgScope { org, .. }: OrgScope<Analyst>,
    Query(q): Query<AppsQuery>,
) -> Result<Response, AppError> {
    let mut filter = Filter::parse(q);
    filter.org = org;
    filter.after = None;
    let rows = fetch(&pool, &filter, EXPORT_MAX).await?;
    let header: Vec<String> = COLUMNS.iter().map(|(_, l, _)| (*l).to_owned()).collect();
    let bytes =
        csv_export::encode(std::iter::once(header).chain(rows.iter().map(AppRow::csv_cells)))?;
    Ok(csv_export::attachment(&csv_export::dated("apps"), bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn cursors_round_trip_even_with_tildes() {
        let c = Cursor {
            num: -1,
            id: 42,
            txt: "a~b~c".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("x~1~"), None);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn columns_flags_and_escaping(pool: PgPool) {
        seeded(&pool, "Acme").await;
        let html = get_html(&pool, "/apps").await;
        assert!(!html.contains(HOSTILE), "hostile name must be escaped");
        assert!(
            !html.contains('\u{202E}') || html.contains("<bdi"),
            "RTL text is isolated"
        );
        let page = Page(scraper::Html::parse_document(&html));
        let headers = page.texts("table.apps thead th");
        for h in [
            "App",
            "Org",
            "Kind",
            "Users",
            "Tokens",
            "Uses",
            "Last used",
            "First seen",
            "API 24 h",
            "API 7 d",
            "Errors 7 d",
            "Refresh token",
            "Permitted users",
            "Flags",
        ] {
            assert!(
                headers.iter().any(|x| x.starts_with(h)),
                "{h} in {headers:?}"
            );
        }
        // Default order: most tokens first.
        let names = page.texts("table.apps tbody td.name");
        assert_eq!(names[0], "Data Loader");
        assert!(
            names.contains(&HOSTILE.to_owned()),
            "shown as text: {names:?}"
        );
        let loader = &page.select("table.apps tbody tr")[0];
        let cells: Vec<String> = loader
            .select(&scraper::Selector::parse("td").unwrap())
            .map(|td| {
                td.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(cells[3], "2", "users");
        assert_eq!(cells[4], "2", "tokens");
        assert_eq!(cells[5], "503", "uses");
        assert!(cells[8].starts_with("100"), "API 24 h: {cells:?}");
        assert!(cells[10].contains("3.3%"), "7-day error rate: {cells:?}");
        assert!(cells[13].contains("valid until revoked"), "{cells:?}");
        // Full names stay available on hover when the cell truncates them.
        assert_eq!(
            page.attr("table.apps tbody td.name a", "title"),
            "Data Loader"
        );
        assert!(
            page.attr("table.apps tbody td.name a", "href")
                .starts_with("/apps/")
        );
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn filter_search_and_sort(pool: PgPool) {
        let (acme, _) = seeded(&pool, "Acme").await;
        seeded(&pool, "Globex").await;
        let page = get_page(&pool, "/apps?flag=uninstalled").await;
        assert_eq!(page.texts("table.apps tbody td.name"), [FORMULA, FORMULA]);
        let page = get_page(&pool, &format!("/apps?flag=uninstalled&org={acme}")).await;
        assert_eq!(page.texts("table.apps tbody td.org"), ["Acme"]);
        let page = get_page(&pool, "/apps?kind=external_client_app").await;
        assert_eq!(page.texts("table.apps tbody td.name"), [HOSTILE, HOSTILE]);
        let page = get_page(&pool, "/apps?q=LOADER").await;
        assert_eq!(
            page.texts("table.apps tbody td.name"),
            ["Data Loader", "Data Loader"]
        );
        let page = get_page(&pool, "/apps?q=nothing-like-this").await;
        assert!(page.text().contains("No app matches"));

        let page = get_page(&pool, "/apps?sort=name&dir=asc").await;
        let names = page.texts("table.apps tbody td.name");
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        assert_eq!(names, sorted);
        assert_eq!(
            page.attr("th[aria-sort='ascending'] a", "href"),
            "/apps?sort=name&dir=desc"
        );
        let page = get_page(&pool, "/apps?sort=name&dir=desc").await;
        let mut desc = page.texts("table.apps tbody td.name");
        desc.reverse();
        assert_eq!(desc, sorted);
        let page = get_page(&pool, "/apps?sort=use&dir=desc").await;
        assert_eq!(
            page.texts("table.apps tbody td.name")[..2],
            ["Data Loader", "Data Loader"]
        );
        // A filter survives a change of sort.
        let page = get_page(&pool, "/apps?flag=stale").await;
        let href = page.attr("th a[href*='sort=users']", "href");
        assert!(href.contains("flag=stale"), "{href}");
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn every_column_sorts_both_ways_and_bad_input_is_tolerated(pool: PgPool) {
        seeded(&pool, "Acme").await;
        for (key, label, _) in COLUMNS.iter().filter(|(k, _, _)| *k != "flags") {
            for dir in ["asc", "desc"] {
                let page = get_page(&pool, &format!("/apps?sort={key}&dir={dir}")).await;
                assert_eq!(page.select("table.apps tbody tr").len(), 3, "{key} {dir}");
                let want = if dir == "asc" {
                    "ascending"
                } else {
                    "descending"
                };
                assert_eq!(page.texts(&format!("th[aria-sort={want}]")), [*label]);
            }
        }
        // Uses, ascending: 0, 10, then 503 (Data Loader).
        let page = get_page(&pool, "/apps?sort=use&dir=asc").await;
        assert_eq!(page.texts("table.apps tbody td.name")[2], "Data Loader");
        for junk in [
            "sort=drop%20table",
            "after=garbage",
            "after=1~x~y",
            "flag=nope&kind=nope",
            "since=yesterday",
        ] {
            let page = get_page(&pool, &format!("/apps?{junk}")).await;
            assert_eq!(page.select("table.apps tbody tr").len(), 3, "{junk}");
        }
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn keyset_pages_cover_every_app_once(pool: PgPool) {
        let org = new_org(&pool, "Big").await;
        let mut s = Snapshot::default();
        for i in 0..(PAGE * 2 + 7) {
            s.apps.push(app(
                &format!("0H4{i:04}"),
                &format!("App {:03}", i % 40),
                "connected_app",
                true,
                "",
            ));
        }
        sync(&pool, org, &s).await;
        for (sort, dir) in [
            ("name", "asc"),
            ("name", "desc"),
            ("tokens", "desc"),
            ("first_seen", "asc"),
        ] {
            let mut seen = Vec::new();
            let mut uri = format!("/apps?sort={sort}&dir={dir}");
            let mut pages = 0;
            loop {
                let page = get_page(&pool, &uri).await;
                seen.extend(
                    page.texts("table.apps tbody td.name a").into_iter().zip(
                        page.select("table.apps tbody td.name a")
                            .iter()
                            .map(|a| a.value().attr("href").unwrap().to_owned())
                            .collect::<Vec<_>>(),
                    ),
                );
                pages += 1;
                match page.select("a[rel=next]").first() {
                    Some(a) => uri = a.value().attr("href").unwrap().to_owned(),
                    None => break,
                }
            }
            assert_eq!(pages, 3, "{sort} {dir}");
            let mut ids: Vec<&String> = seen.iter().map(|(_, h)| h).collect();
            assert_eq!(ids.len() as i64, PAGE * 2 + 7);
            ids.sort();
            ids.dedup();
            assert_eq!(
                ids.len() as i64,
                PAGE * 2 + 7,
                "no app twice ({sort} {dir})"
            );
            if sort == "name" {
                let names: Vec<String> = seen.iter().map(|(n, _)| n.clone()).collect();
                let mut sorted = names.clone();
                sorted.sort();
                if dir == "desc" {
                    sorted.reverse();
                }
                assert_eq!(names, sorted);
            }
        }
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn csv_matches_the_page(pool: PgPool) {
        seeded(&pool, "Acme").await;
        let page = get_page(&pool, "/apps?sort=name&dir=asc").await;
        let csv_href = page.attr("a.export", "href");
        assert_eq!(csv_href, "/apps.csv?sort=name&dir=asc");
        let rows = get_csv(&pool, &csv_href).await;
        assert_eq!(rows[0], page.texts("table.apps thead th"));
        let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        let shown = page.texts("table.apps tbody td.name");
        assert_eq!(names.len(), shown.len());
        for (csv, html) in names.iter().zip(&shown) {
            // The formula name is defused in the file, shown as is on the page.
            assert!(
                *csv == html || *csv == format!("'{html}"),
                "{csv} vs {html}"
            );
        }
        assert!(names.contains(&format!("'{FORMULA}").as_str()));
        assert!(names.contains(&HOSTILE));
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_simulated_org_lists_its_apps(pool: PgPool) {
        let (_, sim) = sim_org(
            &pool,
            "Sim",
            sfsim::SimConfig {
                tokens: 600,
                users: 120,
                apps: 12,
                ..sfsim::SimConfig::default()
            },
        )
        .await;
        let html = get_html(&pool, "/apps?sort=name&dir=asc").await;
        assert!(
            !html.contains("<script>alert"),
            "simulator's hostile names are escaped"
        );
        let page = Page(scraper::Html::parse_document(&html));
        let stored: i64 = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM app_summary")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(stored >= 12);
        assert_eq!(
            page.select("table.apps tbody tr").len() as i64,
            stored.min(PAGE)
        );
        let tokens: i64 = page
            .texts("table.apps tbody td.tokens")
            .iter()
            .map(|t| t.replace(',', "").parse::<i64>().unwrap())
            .sum();
        if stored <= PAGE {
            assert_eq!(tokens as usize, sim.sim.token_count());
        }
    }
}
