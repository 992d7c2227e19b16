//! `/users?q=`: find a person by the start of their name, username or email
//! (case-insensitive, on indexes in the page's order: see `search`), in one
//! org or all of them, in keyset pages ordered by name.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Html,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    AppError,
    auth::scope::{OrgScope, Viewer},
    filters,
    layout::{Layout, Query as Qs},
    page_cache::PageCache,
};

pub const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    pub org: Option<String>,
    pub q: Option<String>,
    /// `<lower(name)>~<uid>` of the last row shown.
    pub after: Option<String>,
}

#[derive(Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UserRow {
    pub uid: i64,
    pub org_name: String,
    pub name: String,
    pub username: String,
    pub email: Option<String>,
    pub is_active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub apps: i64,
    #[serde(skip)]
    pub sort_name: String,
}

#[derive(Template)]
#[template(path = "pages/users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub q: String,
    pub rows: Vec<UserRow>,
    pub next: Option<String>,
    pub paged: bool,
}

/// The exclusive upper bound of strings starting with `prefix` in byte
/// order (`text_pattern_ops`): the range keeps the search on the index
/// whatever plan the prepared statement gets.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// The `after` position of a users list: `<lower(name)>~<uid>`.
pub fn parse_after(s: &str) -> Option<(String, i64)> {
    let (n, id) = s.rsplit_once('~')?;
    Some((n.to_owned(), id.parse().ok()?))
}

/// People whose name, username or email starts with `prefix` (lower case;
/// empty: everyone), in name order after a keyset position.
pub async fn search(
    pool: &PgPool,
    org: Option<Uuid>,
    prefix: &str,
    after: Option<&(String, i64)>,
    limit: i64,
) -> sqlx::Result<Vec<UserRow>> {
    let (after_name, after_uid) = match after {
        Some((n, id)) => (n.as_str(), *id),
        None => ("", 0),
    };
    // Two statements rather than one with `$q = '' OR …`: a generic plan of
    // the combined one walks every user in name order to find a rare prefix.
    // Apps are counted for the rows shown only.
    if prefix.is_empty() {
        sqlx::query_as!(
            UserRow,
            r#"SELECT u.uid, o.name AS org_name, u.name, u.username, u.email, u.is_active, u.deactivated_at,
                      u.last_login_at, lower(u.name) AS "sort_name!",
                      (SELECT count(DISTINCT t.app_key) FROM sf_tokens t
                       WHERE t.org_id = u.org_id AND t.user_id = u.id AND t.gone_at IS NULL) AS "apps!"
               FROM (SELECT * FROM sf_users u
                     WHERE ($1::uuid IS NULL OR u.org_id = $1) AND u.gone_at IS NULL
                       AND (lower(u.name), u.uid) > ($2, $3)
                     ORDER BY lower(u.name), u.uid LIMIT $4) u
               JOIN orgs o ON o.id = u.org_id
               ORDER BY lower(u.name), u.uid"#,
            org,
            after_name,
            after_uid,
            limit
        )
        .fetch_all(pool)
        .await
    } else {
        // Where the name range starts: after the keyset or at the prefix,
        // whichever is later (Rust compares strings by bytes, as "C" does).
        // One bound, so that the index scan starts there.
        let name_from = (after_name, after_uid).max((prefix, 0));
        // One page from each way to match, each in name order after the
        // keyset, then the first page of their union. Names matching the
        // prefix are a range of the name index, walked in order and stopped
        // after a page. Usernames and emails matching a prefix of three
        // characters or more share their first three, an index key followed
        // by the name (migration 0014): walked in order too, stopped after a
        // page. A shorter prefix is a range of those first three, sorted by
        // name. Of each pair of branches, the one whose length test fails is
        // skipped whole (a one-time filter, in generic plans as well). "C" is
        // the code point order of the default collation, with memcmp
        // comparisons.
        sqlx::query_as!(
            UserRow,
            r#"SELECT u.uid, o.name AS org_name, u.name, u.username, u.email, u.is_active, u.deactivated_at,
                      u.last_login_at, lower(u.name) AS "sort_name!",
                      (SELECT count(DISTINCT t.app_key) FROM sf_tokens t
                       WHERE t.org_id = u.org_id AND t.user_id = u.id AND t.gone_at IS NULL) AS "apps!"
               FROM (SELECT * FROM sf_users u
                     WHERE u.uid IN (
                       (SELECT m.uid FROM sf_users m
                        WHERE ($1::uuid IS NULL OR m.org_id = $1) AND m.gone_at IS NULL
                          AND lower(m.name) COLLATE "C" < $3 AND starts_with(lower(m.name), $2)
                          AND (lower(m.name) COLLATE "C", m.uid) > ($7, $8)
                        ORDER BY lower(m.name) COLLATE "C", m.uid LIMIT $6)
                       UNION ALL
                       (SELECT m.uid FROM sf_users m
                        WHERE char_length($2) >= 3 AND ($1::uuid IS NULL OR m.org_id = $1) AND m.gone_at IS NULL
                          AND left(lower(m.username), 3) COLLATE "C" = left($2, 3)
                          AND starts_with(lower(m.username), $2)
                          AND (lower(m.name) COLLATE "C", m.uid) > ($4, $5)
                        ORDER BY lower(m.name) COLLATE "C", m.uid LIMIT $6)
                       UNION ALL
                       (SELECT m.uid FROM sf_users m
                        WHERE char_length($2) < 3 AND ($1::uuid IS NULL OR m.org_id = $1) AND m.gone_at IS NULL
                          AND left(lower(m.username), 3) COLLATE "C" >= $2
                          AND left(lower(m.username), 3) COLLATE "C" < $3
                          AND starts_with(lower(m.username), $2)
                          AND (lower(m.name) COLLATE "C", m.uid) > ($4, $5)
                        ORDER BY lower(m.name) COLLATE "C", m.uid LIMIT $6)
                       UNION ALL
                       (SELECT m.uid FROM sf_users m
                        WHERE char_length($2) >= 3 AND ($1::uuid IS NULL OR m.org_id = $1) AND m.gone_at IS NULL
                          AND left(lower(m.email), 3) COLLATE "C" = left($2, 3)
                          AND starts_with(lower(m.email), $2)
                          AND (lower(m.name) COLLATE "C", m.uid) > ($4, $5)
                        ORDER BY lower(m.name) COLLATE "C", m.uid LIMIT $6)
                       UNION ALL
                       (SELECT m.uid FROM sf_users m
                        WHERE char_length($2) < 3 AND ($1::uuid IS NULL OR m.org_id = $1) AND m.gone_at IS NULL
                          AND left(lower(m.email), 3) COLLATE "C" >= $2
                          AND left(lower(m.email), 3) COLLATE "C" < $3
                          AND starts_with(lower(m.email), $2)
                          AND (lower(m.name) COLLATE "C", m.uid) > ($4, $5)
                        ORDER BY lower(m.name) COLLATE "C", m.uid LIMIT $6))
                     ORDER BY lower(u.name) COLLATE "C", u.uid LIMIT $6) u
               JOIN orgs o ON o.id = u.org_id
               ORDER BY lower(u.name) COLLATE "C", u.uid"#,
            org,
            prefix,
            prefix_end(&prefix),
            after_name,
            after_uid,
            limit,
            name_from.0,
            name_from.1
        )
        .fetch_all(pool)
        .await
    }
}

pub async fn users_list(
    State(pool): State<PgPool>,
    State(cache): State<PageCache>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
    Query(q): Query<UsersQuery>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "users", "/users", org).await?;
    let org = layout.org;
    let search: String = q.q.unwrap_or_default().trim().chars().take(200).collect();
    let prefix = search.to_lowercase();
    let after = q.after.as_deref().and_then(parse_after);
    let key = format!(
        "users/{}/{}/{}",
        org.map(|o| o.to_string()).unwrap_or_default(),
        after
            .as_ref()
            .map(|(name, uid)| format!("{uid}~{name}"))
            .unwrap_or_default(),
        prefix
    );
    let found = cache
        .get_or_load(
            key,
            Vec::len,
            self::search(&pool, org, &prefix, after.as_ref(), PAGE + 1),
        )
        .await?;
    let mut rows = Vec::clone(&found);
    let next = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        let last = rows.last().expect("a full page");
        format!(
            "/users{}",
            Qs::new()
                .add("org", &org.map(|o| o.to_string()).unwrap_or_default())
                .add("q", &search)
                .add("after", &format!("{}~{}", last.sort_name, last.uid))
                .finish()
        )
    });
    Ok(Html(
        UsersPage {
            layout,
            q: search,
            rows,
            next,
            paged: after.is_some(),
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn search_by_name_username_or_email_prefix(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let page = get_page(&pool, "/users?q=alI").await;
        assert_eq!(page.texts("table.users tbody td.name a"), ["Alice Smith"]);
        let alice = user_uid(&pool, org, "005A").await;
        assert_eq!(
            page.attr("table.users tbody td.name a", "href"),
            format!("/users/{alice}")
        );
        assert_eq!(page.texts("table.users tbody td.apps"), ["1"]);
        // Username prefix, then email prefix.
        assert_eq!(page_names(&pool, "/users?q=005c@").await, ["Carol Jones"]);
        assert_eq!(
            page_names(&pool, "/users?q=005b@mail").await,
            ["Bob \"quoted\" O'Neil"]
        );
        // Prefix, not substring.
        assert!(page_names(&pool, "/users?q=smith").await.is_empty());
        // LIKE wildcards are plain characters.
        assert!(page_names(&pool, "/users?q=%25").await.is_empty());
        assert!(page_names(&pool, "/users?q=_").await.is_empty());
        let page = get_page(&pool, "/users?q=zzz").await;
        assert!(page.text().contains("No user matches"));
        // The label is tied to the input.
        assert_eq!(
            page.attr("label[for=u-q]", "for"),
            page.attr("input#u-q", "id")
        );
    }

    async fn page_names(pool: &PgPool, uri: &str) -> Vec<String> {
        get_page(pool, uri)
            .await
            .texts("table.users tbody td.name a")
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn status_and_escaping(pool: PgPool) {
        seeded(&pool, "Acme").await;
        let html = get_html(&pool, "/users").await;
        assert!(!html.contains(HOSTILE));
        let page = Page(scraper::Html::parse_document(&html));
        let names = page.texts("table.users tbody td.name a");
        assert_eq!(names.len(), 5);
        assert!(names.contains(&RTL.to_owned()));
        assert!(names.contains(&HOSTILE.to_owned()));
        let carol = page
            .select("table.users tbody tr")
            .into_iter()
            .find(|tr| tr.text().any(|t| t.contains("Carol")))
            .unwrap();
        assert!(carol.text().collect::<String>().contains("deactivated"));
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn name_and_username_matches_page_together_in_name_order(pool: PgPool) {
        let org = new_org(&pool, "Acme").await;
        let mut s = Snapshot::default();
        // 30 people whose name starts with "pat", 30 whose username does
        // (ids "pat…") and whose name sorts before and after them.
        for i in 0..30 {
            s.users
                .push(user(&format!("005{i:03}"), &format!("Pat {i:02}"), true));
            let mut u = user(
                &format!("PAT{i:03}"),
                &format!("{} {i:02}", ["Abe", "Zed"][i % 2]),
                true,
            );
            u.email = None;
            s.users.push(u);
        }
        // Neither name nor username nor email starts with "pat".
        s.users.push(user("005999", "Opal Pat", true));
        sync(&pool, org, &s).await;
        let mut expected: Vec<String> = (0..30)
            .map(|i| format!("Pat {i:02}"))
            .chain((0..30).map(|i| format!("{} {i:02}", ["Abe", "Zed"][i % 2])))
            .collect();
        expected.sort_by_key(|n| n.to_lowercase());
        // Three characters or more, and fewer (two ways to search the
        // usernames): the same people, in the same pages.
        for q in ["pat", "pa", "PAT0"] {
            let first = get_page(&pool, &format!("/users?q={q}")).await;
            let mut names = first.texts("table.users tbody td.name a");
            if q == "PAT0" {
                // The usernames "pat0…" only ("pat 0…" is no match).
                let want: Vec<String> = expected
                    .iter()
                    .filter(|n| !n.starts_with("Pat "))
                    .cloned()
                    .collect();
                assert_eq!(names, want, "{q}");
                continue;
            }
            assert_eq!(names, expected[..50], "{q}");
            let next = first.attr("a[rel=next]", "href");
            names.extend(page_names(&pool, &next).await);
            assert_eq!(names, expected, "{q}");
        }
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn pages_by_keyset_across_orgs(pool: PgPool) {
        for name in ["One", "Two", "Three"] {
            let org = new_org(&pool, name).await;
            let mut s = Snapshot::default();
            for i in 0..25 {
                s.users
                    .push(user(&format!("005{i:03}"), &format!("Person {i:02}"), true));
            }
            sync(&pool, org, &s).await;
        }
        let mut uri = "/users?q=person".to_owned();
        let mut seen = Vec::new();
        loop {
            let page = get_page(&pool, &uri).await;
            seen.extend(
                page.select("table.users tbody td.name a")
                    .iter()
                    .map(|a| a.value().attr("href").unwrap().to_owned()),
            );
            match page.select("a[rel=next]").first() {
                Some(a) => uri = a.value().attr("href").unwrap().to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 75);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 75);
    }
}
