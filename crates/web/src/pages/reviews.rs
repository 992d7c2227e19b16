//! The review routine: the monthly review of what changed and the quarterly
//! audit of stale authorizations, with decisions, bulk revocation and an
//! evidence pack (CSV and a printable page).

use std::collections::BTreeMap;

use crate::form::Form;
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::reviews::{ItemRow, ReviewRow};
use cockpit_domain::role::Role;
use serde::Deserialize;

use crate::filters;
use crate::pages::inventory::{export_status, status_label};
use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Admin, Analyst, Anywhere, Viewer},
    layout::Layout,
};

/// Items on one page of a review (pages go both ways); the evidence pack
/// has all of them.
pub const PAGE: usize = 200;

#[derive(Template)]
#[template(path = "pages/reviews.html")]
pub struct ReviewsPage {
    pub layout: Layout,
    pub csrf: String,
    pub reviews: Vec<ReviewRow>,
    pub can_run: bool,
    pub now: DateTime<Utc>,
}

pub async fn reviews_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
) -> Result<Html<String>, AppError> {
    let reviews = cockpit_db::reviews::list(&state.pool).await?;
    let layout = Layout::load(&state.pool, &user, "reviews", "/reviews", None).await?;
    Ok(Html(
        ReviewsPage {
            layout,
            csrf: user.csrf.clone(),
            reviews,
            can_run: user.max_role().is_some_and(|r| r >= Role::Analyst),
            now: Utc::now(),
        }
        .render()?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    pub kind: String,
    #[serde(default)]
    pub stale_days: Option<String>,
}

pub async fn review_start(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Form(f): Form<StartForm>,
) -> Result<Response, AppError> {
    // A review covers the orgs where its starter is an analyst.
    let orgs = user.orgs_with(Role::Analyst);
    let id = match f.kind.as_str() {
        "monthly" => cockpit_db::reviews::start_monthly(&state.pool, &orgs, &user.actor()).await?,
        "quarterly" => {
            let days = f
                .stale_days
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i32>())
                .transpose()
                .map_err(|_| {
                    AppError::BadRequest("The stale threshold is a number of days.".into())
                })?
                .unwrap_or(90);
            if !(1..=3650).contains(&days) {
                return Err(AppError::BadRequest(
                    "The stale threshold is between 1 and 3,650 days.".into(),
                ));
            }
            cockpit_db::reviews::start_quarterly(&state.pool, &orgs, &user.actor(), days).await?
        }
        _ => {
            return Err(AppError::BadRequest(
                "Choose a monthly review or a quarterly audit.".into(),
            ));
        }
    };
    Ok(Redirect::to(&format!("/reviews/{id}")).into_response())
}

/// Items of one app in a quarterly audit, for the per-app decision.
pub struct AppGroup {
    pub app_key: String,
    pub label: String,
    pub count: usize,
    pub undecided: usize,
    pub inventory_status: Option<String>,
}

/// Which page of a review: the items after a sequence number (the first
/// page by default) or the page that ends before one (the way back).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct PageQuery {
    #[serde(default, deserialize_with = "lenient_seq")]
    pub after: Option<i32>,
    #[serde(default, deserialize_with = "lenient_seq")]
    pub before: Option<i32>,
}

/// A sequence number from a link or a form; anything else is ignored
/// (the first page), never an error.
fn lenient_seq<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|n| *n >= 0))
}

/// The page's slice of `items` (in sequence order) and the links to the
/// pages before and after it.
fn page_of(
    id: i64,
    items: Vec<ItemRow>,
    at: PageQuery,
) -> (Vec<ItemRow>, Option<String>, Option<String>) {
    let (mut start, mut end) = match (at.before, at.after) {
        (Some(b), _) => {
            let end = items.partition_point(|i| i.seq < b);
            (end.saturating_sub(PAGE), end)
        }
        (None, a) => {
            let start = items.partition_point(|i| i.seq <= a.unwrap_or(0));
            (start, (start + PAGE).min(items.len()))
        }
    };
    if start == end {
        // A link past either end (items are fixed, but a stale or edited
        // link can point anywhere): the first page.
        (start, end) = (0, PAGE.min(items.len()));
    }
    let href = |k: &str, seq: i32| format!("/reviews/{id}?{k}={seq}#items");
    let previous = (start > 0).then(|| href("before", items[start].seq));
    let next = (end < items.len()).then(|| href("after", items[end - 1].seq));
    let page = items.into_iter().skip(start).take(end - start).collect();
    (page, previous, next)
}

#[derive(Template)]
#[template(path = "pages/review_show.html")]
pub struct ReviewShowPage {
    pub layout: Layout,
    pub csrf: String,
    pub review: ReviewRow,
    /// This page's items.
    pub items: Vec<ItemRow>,
    /// Every item the viewer may see, over all pages.
    pub total: usize,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub groups: Vec<AppGroup>,
    pub undecided: usize,
    pub to_send: usize,
    pub can_decide: bool,
    pub can_send: bool,
    pub now: DateTime<Utc>,
    pub error: Option<String>,
}

impl ReviewShowPage {
    pub fn open(&self) -> bool {
        self.review.completed_at.is_none()
    }
    pub fn title(&self) -> String {
        match self.review.kind.as_str() {
            "monthly" => format!("Monthly review #{}", self.review.id),
            _ => format!(
                "Quarterly audit #{} (stale for {} days)",
                self.review.id,
                self.review.stale_days.unwrap_or(90)
            ),
        }
    }
    /// The `after` that leads back to this page (for the forms on it).
    pub fn here(&self) -> i32 {
        self.items.first().map_or(0, |i| i.seq - 1)
    }
}

/// A review's items from the orgs where the caller holds at least `min`,
/// numbered 1, 2, … among themselves (the numbers shown, linked and posted
/// are these, so nobody learns how many items other orgs have), with each
/// one's sequence number in the review.
pub(crate) async fn items_for(
    state: &AppState,
    user: &CurrentUser,
    min: Role,
    id: i64,
) -> Result<Vec<(i32, ItemRow)>, AppError> {
    let orgs = user.orgs_with(min);
    Ok(cockpit_db::reviews::items(&state.pool, id, i64::MAX)
        .await?
        .into_iter()
        .filter(|i| orgs.contains(&i.org_id))
        .enumerate()
        .map(|(n, mut i)| {
            let seq = i.seq;
            i.seq = n as i32 + 1;
            (seq, i)
        })
        .collect())
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    at: PageQuery,
    error: Option<String>,
) -> Result<ReviewShowPage, AppError> {
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let items: Vec<ItemRow> = items_for(state, user, Role::Viewer, id)
        .await?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let mut groups: BTreeMap<String, AppGroup> = BTreeMap::new();
    for i in items.iter().filter(|i| i.category == "stale") {
        let key = i.app_key.clone().unwrap_or_default();
        let g = groups.entry(key.clone()).or_insert_with(|| AppGroup {
            app_key: key,
            label: i.summary.split(" / ").next().unwrap_or("").to_owned(),
            count: 0,
            undecided: 0,
            inventory_status: i.inventory_status.clone(),
        });
        g.count += 1;
        if i.decision.is_none() {
            g.undecided += 1;
        }
    }
    let undecided = items.iter().filter(|i| i.decision.is_none()).count();
    let to_send = items
        .iter()
        .filter(|i| i.decision.as_deref() == Some("revoke") && i.action_id.is_none())
        .count();
    let total = items.len();
    let (items, previous, next) = page_of(id, items, at);
    let layout = Layout::load(&state.pool, user, "reviews", "/reviews", None).await?;
    let role = user.max_role();
    Ok(ReviewShowPage {
        layout,
        csrf: user.csrf.clone(),
        review,
        items,
        total,
        previous,
        next,
        groups: groups.into_values().collect(),
        undecided,
        to_send,
        can_decide: role.is_some_and(|r| r >= Role::Analyst),
        can_send: role.is_some_and(|r| r >= Role::Admin),
        now: Utc::now(),
        error,
    })
}

pub async fn review_show(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Path(id): Path<i64>,
    Query(at): Query<PageQuery>,
) -> Result<Html<String>, AppError> {
    Ok(Html(show(&state, &user, id, at, None).await?.render()?))
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    pub seq: Vec<i32>,
    #[serde(default)]
    pub app: Option<String>,
    pub decision: String,
    #[serde(default)]
    pub note: String,
    /// The page the form was on, to return to it.
    #[serde(default, deserialize_with = "lenient_seq")]
    pub after: Option<i32>,
}

pub async fn review_decide(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, AppError> {
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let allowed: &[&str] = if review.kind == "quarterly" {
        &["keep", "revoke"]
    } else {
        &["accepted"]
    };
    if !allowed.contains(&f.decision.as_str()) {
        return Err(AppError::BadRequest(format!(
            "A {} review takes the decisions: {}.",
            review.kind,
            allowed.join(", ")
        )));
    }
    let note = f.note.trim();
    if note.is_empty() {
        let page = show(
            &state,
            &user,
            id,
            PageQuery {
                after: f.after,
                before: None,
            },
            Some("Add a note: it is the justification the evidence keeps.".into()),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    // Numbers as the page showed them; an item of an org where the caller
    // is no analyst is refused, never skipped in silence.
    let seen = items_for(&state, &user, Role::Viewer, id).await?;
    let decidable = user.orgs_with(Role::Analyst);
    let chosen: Vec<&(i32, ItemRow)> = seen
        .iter()
        .filter(|(_, i)| match &f.app {
            Some(app) => {
                i.app_key.as_deref() == Some(app.as_str())
                    && i.decision.is_none()
                    && decidable.contains(&i.org_id)
            }
            None => f.seq.contains(&i.seq),
        })
        .collect();
    if chosen.iter().any(|(_, i)| !decidable.contains(&i.org_id)) {
        return Err(AppError::Forbidden);
    }
    let seqs: Vec<i32> = chosen.iter().map(|(seq, _)| *seq).collect();
    if seqs.is_empty() {
        return Err(AppError::BadRequest("Nothing selected to decide.".into()));
    }
    cockpit_db::reviews::decide(
        &state.pool,
        id,
        &seqs,
        &f.decision,
        Some(note),
        &user.actor(),
    )
    .await?;
    let back = match f.after.filter(|a| *a > 0) {
        Some(a) => format!("/reviews/{id}?after={a}#items"),
        None => format!("/reviews/{id}"),
    };
    Ok(Redirect::to(&back).into_response())
}

pub async fn review_send(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Admin>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    if !user.recently_authenticated(state.auth.reauth_after) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/reviews/{id}"))
            .finish();
        return Ok(Redirect::to(&format!("/reauth?{q}")).into_response());
    }
    cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // Only the revocations of the orgs where the sender is an admin.
    let orgs = user.orgs_with(Role::Admin);
    let rule = state.two_person;
    cockpit_db::reviews::send_revocations(
        &state.pool,
        id,
        &orgs,
        &user.actor(),
        &move |kind, n| rule.wait_for(kind, n),
    )
    .await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/reviews/{id}")).into_response())
}

pub async fn review_complete(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A review covers every org it has items in: completing it is for an
    // analyst of each of them.
    let analyst_in = user.orgs_with(Role::Analyst);
    let all = cockpit_db::reviews::items(&state.pool, id, i64::MAX).await?;
    if all.iter().any(|i| !analyst_in.contains(&i.org_id)) {
        return Err(AppError::Forbidden);
    }
    match cockpit_db::reviews::complete(&state.pool, id, &user.actor()).await? {
        Ok(()) => Ok(Redirect::to(&format!("/reviews/{id}")).into_response()),
        Err(open) => {
            let page = show(
                &state,
                &user,
                id,
                PageQuery::default(),
                Some(format!("{open} item(s) still have no decision.")),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}

/// An item's inventory status when its review started, in the export's
/// words: `unknown` for an app outside the inventory, empty when not recorded.
pub fn at_start_export(status: Option<&str>) -> String {
    match status {
        Some("none") => export_status(None),
        Some(s) => export_status(Some(s)),
        None => String::new(),
    }
}

/// An inventory status in words for the evidence page: `none` is an app
/// outside the inventory; nothing when not recorded or not about an app.
pub fn inventory_words(status: Option<&str>) -> &'static str {
    match status {
        None => "",
        Some("none") => "not in inventory",
        Some(s) => status_label(s),
    }
}

/// The evidence pack as CSV: every item, its decision, who made it and when,
/// and the outcome verified in Salesforce.
pub async fn review_evidence_csv(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // An export: the items of the orgs where the caller is an analyst.
    let items = items_for(&state, &user, Role::Analyst, id).await?;
    let header = [
        "review",
        "kind",
        "item",
        "category",
        "org",
        "app_key",
        "user_id",
        "authorization",
        "summary",
        "decision",
        "note",
        "decided_by",
        "decided_at",
        "action",
        "verified_outcome",
        "inventory_status_at_start",
        "inventory_status_now",
    ]
    .map(String::from)
    .to_vec();
    let rows = items.into_iter().map(|(_, i)| {
        let inventory_now = if i.app_key.is_some() {
            export_status(i.inventory_status.as_deref())
        } else {
            String::new()
        };
        vec![
            review.id.to_string(),
            review.kind.clone(),
            i.seq.to_string(),
            i.category,
            i.org_name,
            i.app_key.unwrap_or_default(),
            i.user_id.unwrap_or_default(),
            i.token_id.unwrap_or_default(),
            i.summary,
            i.decision.unwrap_or_default(),
            i.note.unwrap_or_default(),
            i.decided_by.unwrap_or_default(),
            i.decided_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            i.action_id.map(|a| a.to_string()).unwrap_or_default(),
            i.outcome.unwrap_or_default(),
            at_start_export(i.inventory_at_start.as_deref()),
            inventory_now,
        ]
    });
    let body = crate::csv_export::encode(std::iter::once(header).chain(rows))?;
    Ok(crate::csv_export::attachment(
        &format!("review-{id}-evidence.csv"),
        body,
    ))
}

#[derive(Template)]
#[template(path = "pages/review_evidence.html")]
pub struct EvidencePage {
    pub review: ReviewRow,
    pub items: Vec<ItemRow>,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub audit_head: Option<(i64, String)>,
}

/// The printable evidence report.
pub async fn review_evidence(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Path(id): Path<i64>,
) -> Result<Html<String>, AppError> {
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let items = items_for(&state, &user, Role::Viewer, id)
        .await?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let audit_head = crate::pages::audit::chain_head(&state, &user).await?;
    Ok(Html(
        EvidencePage {
            review,
            items,
            generated_at: Utc::now(),
            generated_by: user.email.clone(),
            audit_head,
        }
        .render()?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use sqlx::PgPool;

    /// The sequence numbers of the items a review page shows.
    fn seqs(page: &Page) -> Vec<i32> {
        page.texts("table.items tbody tr td:first-child")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect()
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_long_review_pages_forward_and_back(pool: PgPool) {
        let org = new_org(&pool, "Big").await;
        let known = app("0H4A", "Old Tool", "connected_app", true, "");
        let hostile = app("0H4B", HOSTILE, "connected_app", true, "");
        let mut s = Snapshot::default();
        let n = 2 * super::PAGE + 50;
        for i in 0..n {
            let a = if i % 2 == 0 { &known } else { &hostile };
            s.tokens.push(token(
                &format!("0CQ{i:05}"),
                a,
                "005X",
                Some(100 + i as i64),
                1,
            ));
        }
        s.apps = vec![known, hostile];
        sync(&pool, org, &s).await;
        inventory(&pool, "old tool", None, "approved").await;
        let id = cockpit_db::reviews::start_quarterly(
            &pool,
            &all_orgs(&pool).await,
            "user:test@example.com",
            90,
        )
        .await
        .unwrap();

        let first = get_html(&pool, &format!("/reviews/{id}")).await;
        assert!(!first.contains(HOSTILE), "hostile app name escaped");
        let first = Page(scraper::Html::parse_document(&first));
        assert_eq!(seqs(&first), (1..=super::PAGE as i32).collect::<Vec<_>>());
        assert!(
            first.select("a[rel=prev]").is_empty(),
            "no way back from the first page"
        );
        assert_eq!(
            first.texts(".page-range"),
            [format!("Items 1–{} of {n}.", super::PAGE)]
        );
        // Every item about an app carries its place in the inventory, and so
        // does the per-app decision.
        assert_eq!(
            first
                .select("table.items tbody td.name .inv-approved")
                .len()
                + first.select("table.items tbody td.name .inv-unknown").len(),
            super::PAGE
        );
        assert_eq!(
            first
                .texts("table.grid td.app")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            [
                "Old Tool approved",
                format!("{HOSTILE} not in inventory").as_str()
            ]
        );

        let second = get_page(&pool, &first.attr("a[rel=next]", "href")).await;
        assert_eq!(
            seqs(&second),
            (super::PAGE as i32 + 1..=2 * super::PAGE as i32).collect::<Vec<_>>()
        );
        let back = get_page(&pool, &second.attr("a[rel=prev]", "href")).await;
        assert_eq!(
            seqs(&back),
            seqs(&first),
            "Previous returns to the page before"
        );
        let last = get_page(&pool, &second.attr("a[rel=next]", "href")).await;
        assert_eq!(seqs(&last).len(), 50);
        assert!(last.select("a[rel=next]").is_empty());
        assert_eq!(
            seqs(&get_page(&pool, &last.attr("a[rel=prev]", "href")).await),
            seqs(&second)
        );

        // Deciding on page two comes back to page two.
        let here = second.attr("input[name=after]", "value");
        assert_eq!(here, super::PAGE.to_string());
        let seq = seqs(&second)[3];
        let cookie = admin_cookie(&pool).await;
        let (status, headers, _) = post_raw(
            &pool,
            &cookie,
            &format!("/reviews/{id}/decide"),
            format!("csrf={TEST_CSRF}&seq={seq}&after={here}&decision=keep&note=needed"),
        )
        .await;
        assert_eq!(status, http::StatusCode::SEE_OTHER);
        let back = headers[http::header::LOCATION].to_str().unwrap();
        assert_eq!(back, format!("/reviews/{id}?after={here}#items"));
        let again = get_page(&pool, back).await;
        assert_eq!(seqs(&again), seqs(&second));

        // Links that point nowhere show the first page.
        for junk in ["after=abc", "before=1", "after=99999", "before=-3"] {
            let page = get_page(&pool, &format!("/reviews/{id}?{junk}")).await;
            assert_eq!(seqs(&page), seqs(&first), "{junk}");
        }
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn monthly_items_about_apps_show_their_inventory_status(pool: PgPool) {
        seeded(&pool, "Acme").await;
        inventory(&pool, "Data Loader", None, "under_review").await;
        let id = cockpit_db::reviews::start_monthly(
            &pool,
            &all_orgs(&pool).await,
            "user:test@example.com",
        )
        .await
        .unwrap();
        let html = get_html(&pool, &format!("/reviews/{id}")).await;
        assert!(!html.contains(HOSTILE));
        let page = Page(scraper::Html::parse_document(&html));
        let rows = page.select("table.items tbody tr");
        let mut seen = Vec::new();
        for tr in &rows {
            let cells: Vec<String> = tr
                .select(&scraper::Selector::parse("td").unwrap())
                .map(|td| text_of(&td))
                .collect();
            let badge: Vec<String> = tr
                .select(&scraper::Selector::parse("td.name .badge").unwrap())
                .map(|b| b.text().collect())
                .collect();
            seen.push((cells[1].clone(), cells[3].clone(), badge));
        }
        let new_apps: Vec<_> = seen.iter().filter(|(c, _, _)| c == "new_app").collect();
        assert_eq!(new_apps.len(), 3, "{seen:?}");
        for (_, summary, badge) in new_apps {
            let want = if summary.contains("Data Loader") {
                "under review"
            } else {
                "not in inventory"
            };
            assert_eq!(badge, &[want], "{summary}");
        }
        let leavers: Vec<_> = seen.iter().filter(|(c, _, _)| c == "leaver").collect();
        assert!(!leavers.is_empty());
        assert!(
            leavers.iter().all(|(_, _, b)| b.is_empty()),
            "no app, no badge: {leavers:?}"
        );

        // Approved after the review started: the evidence keeps what the
        // reviewer saw then, beside today's status.
        inventory(&pool, "Data Loader", None, "approved").await;
        let csv = get_csv(&pool, &format!("/reviews/{id}/evidence.csv")).await;
        let col = |name: &str| csv[0].iter().position(|h| h == name).unwrap();
        let (start, now, summary) = (
            col("inventory_status_at_start"),
            col("inventory_status_now"),
            col("summary"),
        );
        let loader: Vec<_> = csv[1..]
            .iter()
            .filter(|r| r[summary].contains("Data Loader"))
            .collect();
        assert!(!loader.is_empty());
        for r in &loader {
            assert_eq!(
                (r[start].as_str(), r[now].as_str()),
                ("under_review", "approved")
            );
        }
        let others: Vec<_> = csv[1..]
            .iter()
            .filter(|r| r[col("category")] == "new_app" && !r[summary].contains("Data Loader"))
            .collect();
        assert!(
            others
                .iter()
                .all(|r| r[start] == "unknown" && r[now] == "unknown")
        );
        assert!(
            csv[1..]
                .iter()
                .filter(|r| r[col("category")] == "leaver")
                .all(|r| r[start].is_empty() && r[now].is_empty()),
            "not about an app"
        );
        let page = get_page(&pool, &format!("/reviews/{id}/evidence")).await;
        let starts = page.texts("td.inv-start");
        let nows = page.texts("td.inv-now");
        assert!(
            starts
                .iter()
                .zip(&nows)
                .any(|(s, n)| s == "under review" && n == "approved"),
            "{starts:?} {nows:?}"
        );
    }
}
