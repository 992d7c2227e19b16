//! Bulk revoke from a report: the rows of a report scoped to one org can be
//! ticked (or taken per app) and sent to the confirmation page as one
//! `bulk_revoke` action. Only admins of that org are offered it; the action
//! routes check the role again on every request.

use cockpit_domain::role::Role;
use uuid::Uuid;

/// The authorizations of one app shown on the page.
pub struct AppGroup {
    pub app_name: String,
    /// The app's key: apps are grouped by it, so two apps of one name
    /// (a lookalike, say) are never taken together.
    pub app_key: String,
    pub tokens: Vec<String>,
}

/// What an admin may select on a report page.
pub struct Selection {
    pub org: Uuid,
    pub groups: Vec<AppGroup>,
    /// On the stale report: its days, so each app can also be taken with
    /// every stale authorization it has, beyond the rows shown.
    pub stale_days: Option<i64>,
}

impl Selection {
    /// `rows` are (app name, app key, token id) in page order. `None` unless
    /// the report is scoped to one org in which the signed-in person is an
    /// admin.
    pub fn offer<'a>(
        user: &crate::auth::CurrentUser,
        org: Option<Uuid>,
        rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Option<Selection> {
        let org = org?;
        if !user.may(org, Role::Admin) {
            return None;
        }
        let mut groups: Vec<AppGroup> = Vec::new();
        for (app, key, token) in rows {
            match groups.iter_mut().find(|g| g.app_key == key) {
                Some(g) => g.tokens.push(token.to_owned()),
                None => groups.push(AppGroup {
                    app_name: app.to_owned(),
                    app_key: key.to_owned(),
                    tokens: vec![token.to_owned()],
                }),
            }
        }
        (!groups.is_empty()).then_some(Selection {
            org,
            groups,
            stale_days: None,
        })
    }

    /// Offers, per app, every authorization idle for `days` (all pages).
    pub fn stale(self, days: i64) -> Selection {
        Selection {
            stale_days: Some(days),
            ..self
        }
    }

    /// The confirmation page for every stale authorization of `group`'s app,
    /// chosen on the server; `None` off the stale report.
    pub fn stale_href(&self, group: &AppGroup) -> Option<String> {
        let days = self.stale_days?;
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("org", &self.org.to_string())
            .append_pair("kind", "revoke_app_stale")
            .append_pair("app", &group.app_key)
            .append_pair("days", &days.to_string())
            .finish();
        Some(format!("/actions/new?{q}"))
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
