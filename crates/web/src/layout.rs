//! What every page shows around its content: the navigation and the org
//! switcher. The chosen org travels as `?org=<uuid>`; absent means all orgs.

use sqlx::PgExecutor;
use url::form_urlencoded;
use uuid::Uuid;

/// One entry of the org switcher.
#[derive(Debug, Clone)]
pub struct OrgChoice {
    pub id: Uuid,
    pub name: String,
}

/// Who is signed in, for the navigation and the sign-out form.
#[derive(Debug, Clone)]
pub struct NavUser {
    pub email: String,
    pub csrf: String,
    pub analyst: bool,
    pub admin: bool,
    /// Admin in every org: may manage accounts and API tokens.
    pub accounts: bool,
}

fn nav_user(user: Option<&crate::auth::CurrentUser>) -> Option<NavUser> {
    user.map(|u| {
        let top = u.max_role();
        NavUser {
            email: u.email.clone(),
            csrf: u.csrf.clone(),
            analyst: top.is_some_and(|r| r >= cockpit_domain::role::Role::Analyst),
            admin: top.is_some_and(|r| r >= cockpit_domain::role::Role::Admin),
            accounts: u.global_role == Some(cockpit_domain::role::Role::Admin),
        }
    })
}

/// The page frame: section for `aria-current`, the orgs to switch between,
/// and the org in view.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `None` on pages shown before sign-in.
    pub user: Option<NavUser>,
    pub section: &'static str,
    /// Where the org switcher sends its choice (a list page).
    pub switch_to: &'static str,
    pub orgs: Vec<OrgChoice>,
    pub org: Option<Uuid>,
}

impl Layout {
    /// The frame of a page for the person signed in: their navigation and
    /// the orgs they have a role in.
    pub async fn load(
        db: impl PgExecutor<'_>,
        user: &crate::auth::CurrentUser,
        section: &'static str,
        switch_to: &'static str,
        org: Option<Uuid>,
    ) -> sqlx::Result<Layout> {
        // The session query brought the orgs the person has a role in.
        let orgs = match user.org_names.as_ref() {
            Some(names) => names
                .iter()
                .map(|(id, name)| OrgChoice {
                    id: *id,
                    name: name.clone(),
                })
                .collect(),
            None => {
                let mut orgs = sqlx::query_as!(
                    OrgChoice,
                    "SELECT id, name FROM orgs ORDER BY lower(name), id"
                )
                .fetch_all(db)
                .await?;
                // Only the orgs the person has a role in.
                orgs.retain(|o| user.role_in(o.id).is_some());
                orgs
            }
        };
        // An org that does not exist (deleted, mistyped) shows all orgs.
        let org = org.filter(|id| orgs.iter().any(|o| o.id == *id));
        Ok(Layout {
            user: nav_user(Some(user)),
            section,
            switch_to,
            orgs,
            org,
        })
    }

    /// The frame of the pages shown before sign-in.
    pub fn bare() -> Layout {
        Layout {
            user: None,
            section: "",
            switch_to: "/",
            orgs: Vec::new(),
            org: None,
        }
    }

    /// The frame without orgs, for error pages (which must render without
    /// the database).
    pub fn bare_for(user: &crate::auth::CurrentUser) -> Layout {
        Layout {
            user: nav_user(Some(user)),
            section: "",
            switch_to: "/",
            orgs: Vec::new(),
            org: None,
        }
    }

    /// `?org=…` to append to a bare path, or nothing.
    pub fn org_q(&self) -> String {
        match self.org {
            Some(id) => format!("?org={id}"),
            None => String::new(),
        }
    }

    pub fn is_org(&self, id: &Uuid) -> bool {
        self.org == Some(*id)
    }

    pub fn org_name(&self) -> &str {
        self.org
            .and_then(|id| self.orgs.iter().find(|o| o.id == id))
            .map_or("All orgs", |o| o.name.as_str())
    }

    pub fn current(&self, section: &str) -> bool {
        self.section == section
    }
}

/// Parses `?org=` leniently: empty or malformed means all orgs.
pub fn parse_org(raw: Option<&str>) -> Option<Uuid> {
    raw.and_then(|s| Uuid::parse_str(s.trim()).ok())
}

/// Builds query strings for links: `Query::new().add("org", …).finish()`.
#[derive(Default)]
pub struct Query {
    ser: Option<form_urlencoded::Serializer<'static, String>>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds a pair unless the value is empty.
    pub fn add(mut self, key: &str, value: &str) -> Query {
        if !value.is_empty() {
            self.ser
                .get_or_insert_with(|| form_urlencoded::Serializer::new(String::new()))
                .append_pair(key, value);
        }
        self
    }

    /// `?a=1&b=2`, or an empty string.
    pub fn finish(self) -> String {
        match self.ser {
            Some(mut s) => format!("?{}", s.finish()),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_empty_values_and_encode() {
        assert_eq!(Query::new().add("q", "").finish(), "");
        assert_eq!(
            Query::new().add("q", "a&b c").add("sort", "name").finish(),
            "?q=a%26b+c&sort=name"
        );
    }

    #[test]
    fn malformed_org_means_all() {
        assert_eq!(parse_org(Some("")), None);
        assert_eq!(parse_org(Some("nope")), None);
        let id = Uuid::new_v4();
        assert_eq!(parse_org(Some(&id.to_string())), Some(id));
    }

    /// Every page: the frame (skip link, navigation, org switcher), a label
    /// for every input, and nothing the CSP would block (no inline script,
    /// no inline style, no event handler attributes).
    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn every_page_has_the_frame_and_nothing_inline(pool: sqlx::PgPool) {
        use crate::testutil::*;
        let (org, _) = seeded(&pool, "Acme").await;
        let app = app_id(&pool, org, "0H4A").await;
        let user = user_uid(&pool, org, "005C").await;
        for uri in [
            "/".to_owned(),
            format!("/?org={org}"),
            "/apps".to_owned(),
            "/apps/where?q=a".to_owned(),
            "/incidents".to_owned(),
            "/incidents/new?q=a".to_owned(),
            format!("/apps/{app}"),
            "/users".to_owned(),
            format!("/users/{user}"),
            "/reports".to_owned(),
            "/reports/stale".to_owned(),
            "/reports/offboarding".to_owned(),
            "/reports/new-apps".to_owned(),
            "/admin/accounts".to_owned(),
            "/admin/accounts/00000000-0000-0000-0000-00000000a0a0".to_owned(),
            "/admin/api-tokens".to_owned(),
            "/nowhere".to_owned(),
        ] {
            let (_, _, html) = get_raw(&pool, &uri).await;
            let page = Page(scraper::Html::parse_document(&html));
            assert_eq!(page.attr("a.skip", "href"), "#main", "{uri}");
            assert_eq!(page.select("main#main").len(), 1, "{uri}");
            // The pages' sections come first; other sections may follow.
            let nav = page.texts("nav[aria-label=Main] a");
            assert_eq!(
                nav.get(..4),
                Some(&["Overview", "Apps", "Users", "Reports"].map(String::from)[..]),
                "{uri}"
            );
            assert!(page.select("script").is_empty(), "{uri}: no script at all");
            assert!(page.select("[style]").is_empty(), "{uri}: no inline style");
            assert!(page.select("style").is_empty(), "{uri}: no style element");
            for el in page.select("*") {
                assert!(
                    !el.value().attrs().any(|(name, _)| name.starts_with("on")),
                    "{uri}: event handler attribute on {:?}",
                    el.value().name()
                );
            }
            for input in page.select("input:not([type=hidden]), select") {
                let id = input
                    .value()
                    .id()
                    .unwrap_or_else(|| panic!("{uri}: input without id"));
                assert_eq!(
                    page.select(&format!("label[for='{id}']")).len(),
                    1,
                    "{uri}: label for #{id}"
                );
            }
        }
    }
}
