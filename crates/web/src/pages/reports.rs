//! `/reports`: the list of reports, each with what it finds and its export.

use askama::Template;
use axum::{extract::State, response::Html};
use sqlx::PgPool;

use crate::{
    AppError,
    auth::scope::{OrgScope, Viewer},
    layout::Layout,
};

pub struct ReportLink {
    pub href: &'static str,
    pub title: &'static str,
    pub about: &'static str,
}

pub const REPORTS: [ReportLink; 3] = [
    ReportLink {
        href: "/reports/stale",
        title: "Stale authorizations",
        about: "Tokens not used for N days (90 unless you choose): access nobody needs that still works.",
    },
    ReportLink {
        href: "/reports/offboarding",
        title: "Offboarding leaks",
        about: "Deactivated users whose tokens still work: deactivating a user does not revoke them.",
    },
    ReportLink {
        href: "/reports/new-apps",
        title: "New apps",
        about: "Apps that appeared in an org since a date (30 days ago unless you choose).",
    },
];

#[derive(Template)]
#[template(path = "pages/reports.html")]
pub struct ReportsPage {
    pub layout: Layout,
    pub reports: &'static [ReportLink],
}

pub async fn reports_index(
    State(pool): State<PgPool>,
    OrgScope { org, user, .. }: OrgScope<Viewer>,
) -> Result<Html<String>, AppError> {
    let layout = Layout::load(&pool, &user, "reports", "/reports", org).await?;
    Ok(Html(
        ReportsPage {
            layout,
            reports: &REPORTS,
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn lists_every_report_with_the_org_carried(pool: PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let page = get_page(&pool, &format!("/reports?org={org}")).await;
        let hrefs: Vec<String> = page
            .select("ul.reports a")
            .iter()
            .map(|a| a.value().attr("href").unwrap().to_owned())
            .collect();
        assert_eq!(
            hrefs,
            [
                format!("/reports/stale?org={org}"),
                format!("/reports/offboarding?org={org}"),
                format!("/reports/new-apps?org={org}")
            ]
        );
        assert_eq!(
            page.attr("nav a[aria-current=page]", "href"),
            format!("/reports?org={org}")
        );
    }
}
