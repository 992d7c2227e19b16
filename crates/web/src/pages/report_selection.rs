//! Bulk revoke from a report: the rows of a report scoped to one org can be
//! ticked (or taken per app) and sent to the confirmation page as one
//! `bulk_revoke` action. Only admins of that org are offered it; the action
//! routes check the role again on every request.

use cockpit_domain::role::Role;
use uuid::Uuid;

/// The authorizations of one app shown on the page.
pub struct AppGroup {
    pub app_name: String,
    pub tokens: Vec<String>,
}

/// What an admin may select on a report page.
pub struct Selection {
    pub org: Uuid,
    pub groups: Vec<AppGroup>,
}

impl Selection {
    /// `rows` are (app name, token id) in page order. `None` unless the
    /// report is scoped to one org in which the signed-in person is an admin.
    pub fn offer<'a>(
        org: Option<Uuid>,
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Selection> {
        let org = org?;
        let admin = crate::auth::current()
            .and_then(|u| u.role_in(org))
            .is_some_and(|r| r >= Role::Admin);
        if !admin {
            return None;
        }
        let mut groups: Vec<AppGroup> = Vec::new();
        for (app, token) in rows {
            match groups.iter_mut().find(|g| g.app_name == app) {
                Some(g) => g.tokens.push(token.to_owned()),
                None => groups.push(AppGroup {
                    app_name: app.to_owned(),
                    tokens: vec![token.to_owned()],
                }),
            }
        }
        (!groups.is_empty()).then_some(Selection { org, groups })
    }

    /// The confirmation page for every authorization of `group` shown here.
    pub fn all_href(&self, group: &AppGroup) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("org", &self.org.to_string())
            .append_pair("kind", "bulk_revoke");
        for t in &group.tokens {
            q.append_pair("token", t);
        }
        format!("/actions/new?{}", q.finish())
    }
}
