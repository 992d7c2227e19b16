//! The review routine: the monthly review of what changed and the quarterly
//! audit of stale authorizations, with decisions, bulk revocation and an
//! evidence pack (CSV and a printable page).

use std::collections::BTreeMap;

use crate::form::Form;
use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::reviews::{ItemRow, ReviewRow};
use cockpit_domain::role::Role;
use serde::Deserialize;

use crate::filters;
use crate::{AppError, AppState, auth::CurrentUser, layout::Layout};

/// Items shown on a review page; the evidence pack has all of them.
pub const SHOWN: i64 = 2_000;

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
    user: CurrentUser,
) -> Result<Html<String>, AppError> {
    user.require_any(Role::Viewer)?;
    let reviews = cockpit_db::reviews::list(&state.pool).await?;
    let layout = Layout::load(&state.pool, "reviews", "/reviews", None).await?;
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
    user: CurrentUser,
    Form(f): Form<StartForm>,
) -> Result<Response, AppError> {
    user.require_any(Role::Analyst)?;
    let id = match f.kind.as_str() {
        "monthly" => cockpit_db::reviews::start_monthly(&state.pool, &user.actor()).await?,
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
            cockpit_db::reviews::start_quarterly(&state.pool, &user.actor(), days).await?
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
}

#[derive(Template)]
#[template(path = "pages/review_show.html")]
pub struct ReviewShowPage {
    pub layout: Layout,
    pub csrf: String,
    pub review: ReviewRow,
    pub items: Vec<ItemRow>,
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
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    error: Option<String>,
) -> Result<ReviewShowPage, AppError> {
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let visible = user.visible_orgs();
    let items: Vec<ItemRow> = cockpit_db::reviews::items(&state.pool, id, i64::MAX)
        .await?
        .into_iter()
        .filter(|i| visible.contains(&i.org_id))
        .collect();
    let mut groups: BTreeMap<String, AppGroup> = BTreeMap::new();
    for i in items.iter().filter(|i| i.category == "stale") {
        let key = i.app_key.clone().unwrap_or_default();
        let g = groups.entry(key.clone()).or_insert_with(|| AppGroup {
            app_key: key,
            label: i.summary.split(" / ").next().unwrap_or("").to_owned(),
            count: 0,
            undecided: 0,
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
    let items = items.into_iter().take(SHOWN as usize).collect();
    let layout = Layout::load(&state.pool, "reviews", "/reviews", None).await?;
    let role = user.max_role();
    Ok(ReviewShowPage {
        layout,
        csrf: user.csrf.clone(),
        review,
        items,
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
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, AppError> {
    user.require_any(Role::Viewer)?;
    Ok(Html(show(&state, &user, id, None).await?.render()?))
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
}

pub async fn review_decide(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Result<Response, AppError> {
    user.require_any(Role::Analyst)?;
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
            Some("Add a note: it is the justification the evidence keeps.".into()),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    let visible = user.visible_orgs();
    let items = cockpit_db::reviews::items(&state.pool, id, i64::MAX).await?;
    let seqs: Vec<i32> = items
        .iter()
        .filter(|i| visible.contains(&i.org_id))
        .filter(|i| match &f.app {
            Some(app) => i.app_key.as_deref() == Some(app.as_str()) && i.decision.is_none(),
            None => f.seq.contains(&i.seq),
        })
        .map(|i| i.seq)
        .collect();
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
    Ok(Redirect::to(&format!("/reviews/{id}")).into_response())
}

pub async fn review_send(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require_any(Role::Admin)?;
    if !user.recently_authenticated(state.auth.reauth_after) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/reviews/{id}"))
            .finish();
        return Ok(Redirect::to(&format!("/reauth?{q}")).into_response());
    }
    cockpit_db::reviews::send_revocations(&state.pool, id, &user.actor()).await?;
    state.wake_worker();
    Ok(Redirect::to(&format!("/reviews/{id}")).into_response())
}

pub async fn review_complete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require_any(Role::Analyst)?;
    match cockpit_db::reviews::complete(&state.pool, id, &user.actor()).await? {
        Ok(()) => Ok(Redirect::to(&format!("/reviews/{id}")).into_response()),
        Err(open) => {
            let page = show(
                &state,
                &user,
                id,
                Some(format!("{open} item(s) still have no decision.")),
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}

/// The evidence pack as CSV: every item, its decision, who made it and when,
/// and the outcome verified in Salesforce.
pub async fn review_evidence_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require_any(Role::Viewer)?;
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let visible = user.visible_orgs();
    let items = cockpit_db::reviews::items(&state.pool, id, i64::MAX).await?;
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
    ]
    .map(String::from)
    .to_vec();
    let rows = items
        .into_iter()
        .filter(|i| visible.contains(&i.org_id))
        .map(|i| {
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
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, AppError> {
    user.require_any(Role::Viewer)?;
    let review = cockpit_db::reviews::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let visible = user.visible_orgs();
    let items = cockpit_db::reviews::items(&state.pool, id, i64::MAX)
        .await?
        .into_iter()
        .filter(|i| visible.contains(&i.org_id))
        .collect();
    let audit_head = cockpit_db::audit::head(&state.pool).await?;
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
