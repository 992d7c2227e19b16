//! Incidents: declare one from "Where is this app?" (the person confirms the
//! app matched in each org), contain it everywhere with one confirmation
//! (block, then revoke every authorization, through the ordinary actions),
//! follow each org's progress and the timeline, close it with a note.

use askama::Template;
use axum::{
    extract::{Query, State},
    http::header,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::{
    app_search::Found,
    incidents::{
        Approval, ContainRefused, DecideRefused, Event, Incident, IncidentAction, IncidentApp,
        NewIncident, SEVERITIES,
    },
};
use cockpit_domain::role::Role;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Across, Admin, Analyst, Anywhere, IncidentId, Viewer},
    filters,
    form::{DecisionForm, Form, Unconfirmed, confirmed},
    layout::Layout,
    pages::app_search,
};

/// Seconds between reloads of an incident's page while its actions run.
pub const REFRESH_SECONDS: u32 = 5;

#[derive(Template)]
#[template(path = "pages/incidents.html")]
pub struct IncidentsPage {
    pub layout: Layout,
    pub incidents: Vec<Incident>,
    pub can_declare: bool,
}

pub async fn incidents_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
) -> Result<Html<String>, AppError> {
    let incidents = cockpit_db::incidents::list(&state.pool, &user.visible_orgs()).await?;
    let layout = Layout::load(&state.pool, &user, "incidents", "/incidents", None).await?;
    Ok(Html(
        IncidentsPage {
            layout,
            incidents,
            can_declare: user.max_role().is_some_and(|r| r >= Role::Analyst),
        }
        .render()?,
    ))
}

#[derive(Template)]
#[template(path = "pages/incident_new.html")]
pub struct NewPage {
    pub layout: Layout,
    pub csrf: String,
    pub q: String,
    pub rows: Vec<Found>,
    pub severities: &'static [&'static str],
    pub error: Option<String>,
    pub form: DeclareForm,
}

/// The declaration form (also what the API takes, without `app`).
#[derive(Debug, Default, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub owner: String,
    /// `org:app_key` of every match the person confirmed.
    #[serde(default)]
    pub app: Vec<String>,
}

async fn new_page(
    state: &AppState,
    user: &CurrentUser,
    form: DeclareForm,
    error: Option<String>,
) -> Result<NewPage, AppError> {
    let rows = match app_search::search_text(&form.q)? {
        Some(q) => {
            cockpit_db::app_search::find(
                &state.pool,
                &user.orgs_with(Role::Analyst),
                q,
                app_search::LIMIT,
            )
            .await?
        }
        None => Vec::new(),
    };
    Ok(NewPage {
        layout: Layout::load(&state.pool, user, "incidents", "/incidents", None).await?,
        csrf: user.csrf.clone(),
        q: form.q.trim().to_owned(),
        rows,
        severities: &SEVERITIES,
        error,
        form,
    })
}

pub async fn incident_new(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Query(form): Query<DeclareForm>,
) -> Result<Html<String>, AppError> {
    Ok(Html(new_page(&state, &user, form, None).await?.render()?))
}

/// A declaration checked: its fields and the confirmed matches, each in an
/// org where the declarer is an analyst and matching what was searched.
pub struct Declaration {
    pub title: String,
    pub ticket: Option<String>,
    pub severity: String,
    pub owner: Option<String>,
    pub query: String,
    pub apps: Vec<(Uuid, String, String)>,
}

/// Checks a declaration. `chosen`: the `org:app_key` pairs confirmed, or
/// `None` for every match of the query in the declarer's analyst orgs.
pub async fn check_declaration(
    state: &AppState,
    user: &CurrentUser,
    form: &DeclareForm,
    chosen: Option<&[String]>,
) -> Result<Declaration, AppError> {
    let bad = |m: &str| AppError::BadRequest(m.to_owned());
    let title = form.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(bad("Give the incident a title of 1 to 200 characters."));
    }
    let severity = form.severity.trim();
    if !SEVERITIES.contains(&severity) {
        return Err(bad("The severity is one of low, medium, high or critical."));
    }
    let ticket = Some(form.ticket.trim()).filter(|t| !t.is_empty());
    if ticket.is_some_and(|t| t.chars().count() > 100) {
        return Err(bad("The ticket reference is at most 100 characters."));
    }
    let owner = Some(form.owner.trim()).filter(|t| !t.is_empty());
    if owner.is_some_and(|t| t.chars().count() > 200) {
        return Err(bad("The owner is at most 200 characters."));
    }
    let q = app_search::search_text(&form.q)?
        .ok_or_else(|| bad("Search for the app first: its name, consumer key or app id."))?;
    let found = cockpit_db::app_search::find(
        &state.pool,
        &user.orgs_with(Role::Analyst),
        q,
        app_search::LIMIT,
    )
    .await?;
    let apps: Vec<(Uuid, String, String)> = match chosen {
        None => found
            .iter()
            .map(|f| (f.org_id, f.app_key.clone(), f.matched_by.clone()))
            .collect(),
        Some(pairs) => {
            let mut apps = Vec::new();
            for pair in pairs {
                let (org, key) = pair
                    .split_once(':')
                    .ok_or_else(|| bad("An app of the list was not understood; search again."))?;
                let org = Uuid::parse_str(org).map_err(|_| AppError::NotFound)?;
                user.grant::<Analyst>(org)?;
                let hit = found
                    .iter()
                    .find(|f| f.org_id == org && f.app_key == key)
                    .ok_or_else(|| {
                        bad("An app chosen no longer matches the search; search again.")
                    })?;
                apps.push((org, hit.app_key.clone(), hit.matched_by.clone()));
            }
            apps
        }
    };
    if apps.is_empty() {
        return Err(bad(
            "Confirm the app in at least one org: tick it in the list.",
        ));
    }
    Ok(Declaration {
        title: title.to_owned(),
        ticket: ticket.map(str::to_owned),
        severity: severity.to_owned(),
        owner: owner.map(str::to_owned),
        query: q.to_owned(),
        apps,
    })
}

pub async fn declare(state: &AppState, d: &Declaration, actor: &str) -> Result<i64, AppError> {
    Ok(cockpit_db::incidents::declare(
        &state.pool,
        &NewIncident {
            title: &d.title,
            ticket: d.ticket.as_deref(),
            severity: &d.severity,
            owner: d.owner.as_deref(),
            query: &d.query,
            apps: &d.apps,
            actor,
        },
    )
    .await?)
}

pub async fn incident_create(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Form(form): Form<DeclareForm>,
) -> Result<Response, AppError> {
    let checked = check_declaration(&state, &user, &form, Some(&form.app)).await;
    let d = match checked {
        Ok(d) => d,
        Err(AppError::BadRequest(msg)) => {
            let page = new_page(&state, &user, form, Some(msg)).await?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
        }
        Err(e) => return Err(e),
    };
    let id = declare(&state, &d, &user.actor()).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

/// An incident as the caller may see it: its apps, actions and timeline in
/// their orgs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub incident: Incident,
    pub apps: Vec<IncidentApp>,
    pub actions: Vec<IncidentAction>,
    pub timeline: Vec<Event>,
    /// Requests under the two-person rule, newest first.
    pub approvals: Vec<Approval>,
    /// What the syncs after containment found: the app coming back.
    pub watch: Vec<cockpit_db::watch::Finding>,
    /// The follow-up checklist.
    pub tasks: Vec<cockpit_db::incident_tasks::Task>,
}

impl IncidentView {
    /// The name of an org of the incident; empty for none or another org.
    pub fn org_name(&self, org: Option<Uuid>) -> &str {
        org.and_then(|o| self.apps.iter().find(|a| a.org_id == o))
            .map_or("", |a| a.org_name.as_str())
    }

    /// The request waiting for a second admin, if any.
    pub fn pending(&self) -> Option<&Approval> {
        self.approvals.iter().find(|a| a.status == "pending")
    }
}

pub async fn view(state: &AppState, id: i64, orgs: &[Uuid]) -> Result<IncidentView, AppError> {
    let incident = cockpit_db::incidents::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(IncidentView {
        apps: cockpit_db::incidents::apps(&state.pool, id, orgs).await?,
        actions: cockpit_db::incidents::actions(&state.pool, id, orgs).await?,
        timeline: cockpit_db::incidents::timeline(&state.pool, id, orgs).await?,
        approvals: cockpit_db::incidents::approvals(&state.pool, id).await?,
        watch: cockpit_db::watch::findings(&state.pool, id, orgs).await?,
        tasks: cockpit_db::incident_tasks::list(&state.pool, id).await?,
        incident,
    })
}

#[derive(Template)]
#[template(path = "pages/incident_show.html")]
pub struct ShowPage {
    pub layout: Layout,
    pub csrf: String,
    pub v: IncidentView,
    /// The caller sees every org of the incident.
    pub whole: bool,
    pub can_contain: bool,
    /// Contain asks a second admin first.
    pub needs_approval: bool,
    /// The caller may approve or reject the waiting request (an admin of
    /// every org who did not make it).
    pub can_decide: bool,
    /// The caller made the waiting request.
    pub own_request: bool,
    /// A global admin may contain without a second person.
    pub can_break_glass: bool,
    pub can_close: bool,
    /// The evidence exports (analysts).
    pub can_export: bool,
    /// Adding and changing follow-up tasks (an analyst of every org, until
    /// the incident is closed).
    pub can_edit_tasks: bool,
    pub error: Option<String>,
    pub now: DateTime<Utc>,
}

/// A watch finding in words.
pub fn finding_words(kind: &str) -> &'static str {
    match kind {
        "live_token" => "live authorization",
        "failed_logins" => "failed OAuth logins (tokens replayed, or authorizing again)",
        "api_calls" => "API calls after the containment day",
        "block_removed" => "block removed outside the cockpit",
        _ => "finding",
    }
}

impl ShowPage {
    pub fn running(&self) -> bool {
        self.v
            .actions
            .iter()
            .any(|a| matches!(a.status.as_str(), "pending" | "running"))
    }

    pub fn actions_of(&self, org: &Uuid, key: &str) -> Vec<&IncidentAction> {
        self.v
            .actions
            .iter()
            .filter(|a| a.org_id == *org && a.app_key.as_deref() == Some(key))
            .collect()
    }
}

async fn show_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    orgs: &[Uuid],
    whole: bool,
    error: Option<String>,
) -> Result<ShowPage, AppError> {
    let v = view(state, id, orgs).await?;
    let every = |role: Role| v.apps.iter().all(|a| user.may(a.org_id, role));
    let can_contain = whole && v.incident.status == "open" && every(Role::Admin);
    let own_request = v.pending().is_some_and(|p| p.requested_by == user.actor());
    Ok(ShowPage {
        layout: Layout::load(&state.pool, user, "incidents", "/incidents", None).await?,
        csrf: user.csrf.clone(),
        can_contain,
        needs_approval: state.two_person.contain,
        can_decide: can_contain && v.pending().is_some() && !own_request,
        own_request,
        can_break_glass: can_contain
            && state.two_person.contain
            && user.global_role == Some(Role::Admin),
        can_close: whole && v.incident.status != "closed" && every(Role::Analyst),
        can_export: v.apps.iter().any(|a| user.may(a.org_id, Role::Analyst)),
        can_edit_tasks: whole && v.incident.status != "closed" && every(Role::Analyst),
        whole,
        v,
        error,
        now: Utc::now(),
    })
}

pub async fn incident_show(
    State(state): State<AppState>,
    across: Across<IncidentId, Viewer>,
) -> Result<Response, AppError> {
    let IncidentId(id) = across.object;
    let page = show_page(&state, &across.user, id, &across.orgs, across.every, None).await?;
    let html = Html(page.render()?);
    if page.running() {
        // Stops by itself once every action has finished.
        Ok(([(header::REFRESH, REFRESH_SECONDS.to_string())], html).into_response())
    } else {
        Ok(html.into_response())
    }
}

#[derive(Debug, Deserialize)]
pub struct ContainForm {
    #[serde(default)]
    pub reason: String,
}

pub async fn incident_contain(
    State(state): State<AppState>,
    across: Across<IncidentId, Admin>,
    Form(f): Form<ContainForm>,
) -> Result<Response, AppError> {
    // Containing changes every org of the incident: an admin of each.
    across.require_every()?;
    let IncidentId(id) = across.object;
    let user = &across.user;
    if !user.recently_authenticated(state.auth.reauth_after) {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("/incidents/{id}"))
            .finish();
        return Ok(Redirect::to(&format!("/reauth?{q}")).into_response());
    }
    let reason = f.reason.trim();
    if !crate::pages::action_new::reason_ok(reason) {
        let page = show_page(
            &state,
            user,
            id,
            &across.orgs,
            true,
            Some(crate::pages::action_new::REASON_NEEDED.into()),
        )
        .await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    if state.two_person.contain {
        let expires = chrono::Duration::from_std(state.two_person.expires_after)
            .unwrap_or(chrono::Duration::hours(4));
        // Waiting already, or contained meanwhile: the page shows which.
        cockpit_db::incidents::request_contain(&state.pool, id, &user.actor(), reason, expires)
            .await?
            .ok();
    } else if cockpit_db::incidents::contain(&state.pool, id, &user.actor(), reason)
        .await?
        .is_ok()
    {
        state.wake_worker();
    }
    // Contained already (perhaps by someone else a moment ago): the page
    // shows that containment.
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

/// Re-checks the password (or SSO) and the reason for a decision on the
/// incident; `Err` is the answer to send instead.
async fn confirm_decision(
    state: &AppState,
    across: &Across<IncidentId, Admin>,
    reason: &str,
    needed: &str,
) -> Result<Result<(), Response>, AppError> {
    let IncidentId(id) = across.object;
    match confirmed(state, &across.user, &format!("/incidents/{id}"), reason) {
        Ok(()) => Ok(Ok(())),
        Err(Unconfirmed::SignInAgain(to)) => Ok(Err(to.into_response())),
        Err(Unconfirmed::NoReason) => Ok(Err(refused(
            state,
            across,
            axum::http::StatusCode::BAD_REQUEST,
            needed,
        )
        .await?)),
    }
}

/// The incident's page with `message`, answered with `status`.
async fn refused<R>(
    state: &AppState,
    across: &Across<IncidentId, R>,
    status: axum::http::StatusCode,
    message: &str,
) -> Result<Response, AppError> {
    let IncidentId(id) = across.object;
    let page = show_page(
        state,
        &across.user,
        id,
        &across.orgs,
        true,
        Some(message.to_owned()),
    )
    .await?;
    Ok((status, Html(page.render()?)).into_response())
}

/// The second admin approves the waiting containment (which starts at
/// once) or rejects it; either way with a reason.
async fn decide(
    state: AppState,
    across: Across<IncidentId, Admin>,
    f: DecisionForm,
    approve: bool,
) -> Result<Response, AppError> {
    across.require_every()?;
    let IncidentId(id) = across.object;
    let reason = f.reason.trim();
    let needed =
        "Say why you approve or reject it (up to 2,000 characters): it goes into the audit log.";
    if let Err(answer) = confirm_decision(&state, &across, reason, needed).await? {
        return Ok(answer);
    }
    let actor = across.user.actor();
    match cockpit_db::incidents::decide(&state.pool, id, &actor, approve, reason).await? {
        Ok(actions) => {
            if !actions.is_empty() {
                state.wake_worker();
            }
            Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
        }
        Err(DecideRefused::OwnRequest) => {
            refused(
                &state,
                &across,
                axum::http::StatusCode::FORBIDDEN,
                "You asked for this containment: a second admin must approve it.",
            )
            .await
        }
        Err(DecideRefused::NonePending) => {
            refused(
                &state,
                &across,
                axum::http::StatusCode::CONFLICT,
                "No request is waiting any more: it was decided by someone else, or it expired.",
            )
            .await
        }
    }
}

pub async fn incident_approve(
    State(state): State<AppState>,
    across: Across<IncidentId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, across, f, true).await
}

pub async fn incident_reject(
    State(state): State<AppState>,
    across: Across<IncidentId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    decide(state, across, f, false).await
}

/// A global admin contains without a second person: the reason is
/// mandatory, and the timeline and the audit log show it in red.
pub async fn incident_break_glass(
    State(state): State<AppState>,
    across: Across<IncidentId, Admin>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, AppError> {
    across.require_every()?;
    if across.user.global_role != Some(Role::Admin) {
        return Err(AppError::Forbidden);
    }
    let IncidentId(id) = across.object;
    let reason = f.reason.trim();
    let needed = "Breaking glass needs a reason (up to 2,000 characters): why this cannot wait for a second admin.";
    if let Err(answer) = confirm_decision(&state, &across, reason, needed).await? {
        return Ok(answer);
    }
    match cockpit_db::incidents::break_glass(&state.pool, id, &across.user.actor(), reason).await? {
        Ok(_) => state.wake_worker(),
        Err(ContainRefused::NotOpen(_)) => {}
    }
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    pub note: String,
}

pub async fn incident_close(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
    Form(f): Form<CloseForm>,
) -> Result<Response, AppError> {
    across.require_every()?;
    let IncidentId(id) = across.object;
    let note = f.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        let page = show_page(
            &state,
            &across.user,
            id,
            &across.orgs,
            true,
            Some("Closing an incident needs a note (up to 2,000 characters): what was done and what is left.".into()),
        )
        .await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
    }
    cockpit_db::incidents::close(&state.pool, id, &across.user.actor(), note).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

/// The evidence pack's page: every step with its UTC time, for the clocks
/// regulators run (GDPR 72 hours, SEC 8-K four business days). Printable;
/// also as CSV and JSON.
#[derive(Template)]
#[template(path = "pages/incident_evidence.html")]
pub struct EvidencePage {
    pub v: IncidentView,
    pub whole: bool,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub audit_head: Option<(i64, String)>,
}

/// The printable evidence report (analysts: it is an export).
pub async fn incident_evidence(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
) -> Result<Html<String>, AppError> {
    let IncidentId(id) = across.object;
    let v = view(&state, id, &across.orgs).await?;
    let audit_head = crate::pages::audit::chain_head(&state, &across.user).await?;
    Ok(Html(
        EvidencePage {
            v,
            whole: across.every,
            generated_at: Utc::now(),
            generated_by: across.user.email.clone(),
            audit_head,
        }
        .render()?,
    ))
}

/// The timeline as CSV, one row per step: time (UTC, RFC 3339), who, what,
/// org, detail (JSON); then the approval requests.
pub async fn incident_evidence_csv(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
) -> Result<Response, AppError> {
    let IncidentId(id) = across.object;
    let v = view(&state, id, &across.orgs).await?;
    let header = ["incident", "at_utc", "actor", "event", "org", "detail"]
        .map(String::from)
        .to_vec();
    let rows = v.timeline.iter().map(|e| {
        vec![
            id.to_string(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.actor.clone(),
            e.kind.clone(),
            v.org_name(e.org_id).to_owned(),
            e.detail.to_string(),
        ]
    });
    let body = crate::csv_export::encode(std::iter::once(header).chain(rows))?;
    Ok(crate::csv_export::attachment(
        &format!("incident-{id}-timeline.csv"),
        body,
    ))
}

/// Everything the incident's page shows, as JSON, with when and by whom it
/// was exported and whether it covers every org of the incident.
pub async fn incident_evidence_json(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
) -> Result<Response, AppError> {
    let IncidentId(id) = across.object;
    let v = view(&state, id, &across.orgs).await?;
    let mut j = serde_json::to_value(&v).map_err(|e| AppError::Internal(e.to_string()))?;
    j["complete"] = serde_json::json!(across.every);
    j["exported_at"] = serde_json::json!(Utc::now());
    j["exported_by"] = serde_json::json!(across.user.actor());
    let body = serde_json::to_vec_pretty(&j).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"incident-{id}.json\""),
        )],
        body,
    )
        .into_response())
}

/// A follow-up task as the checklist's forms send it.
#[derive(Debug, Default, Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub owner: String,
    /// `YYYY-MM-DD`, or empty.
    #[serde(default)]
    pub due: String,
    #[serde(default)]
    pub note: String,
    /// Present (`on`) when ticked.
    #[serde(default)]
    pub done: Option<String>,
}

/// A task form, checked: its owner, due date, note and done.
fn task_fields(f: &TaskForm) -> Result<cockpit_db::incident_tasks::TaskChange<'_>, String> {
    let owner = Some(f.owner.trim()).filter(|o| !o.is_empty());
    if owner.is_some_and(|o| o.chars().count() > 200) {
        return Err("A task's owner is at most 200 characters.".into());
    }
    let due = match f.due.trim() {
        "" => None,
        d => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| "A due date is a day, as 2026-12-31.".to_owned())?,
        ),
    };
    let note = Some(f.note.trim()).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err("A task's note is at most 2,000 characters.".into());
    }
    Ok(cockpit_db::incident_tasks::TaskChange {
        owner,
        due,
        note,
        done: f.done.is_some(),
    })
}

/// The checklist may change: every org's analyst, incident not closed.
async fn tasks_editable(
    state: &AppState,
    across: &Across<IncidentId, Analyst>,
) -> Result<Result<(), Response>, AppError> {
    across.require_every()?;
    let IncidentId(id) = across.object;
    let incident = cockpit_db::incidents::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if incident.status == "closed" {
        return Ok(Err(refused(
            state,
            across,
            axum::http::StatusCode::CONFLICT,
            "The incident is closed: its checklist is kept as it was.",
        )
        .await?));
    }
    Ok(Ok(()))
}

/// Adds a task to the checklist.
pub async fn incident_task_add(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
    Form(f): Form<TaskForm>,
) -> Result<Response, AppError> {
    if let Err(answer) = tasks_editable(&state, &across).await? {
        return Ok(answer);
    }
    let IncidentId(id) = across.object;
    let bad = axum::http::StatusCode::BAD_REQUEST;
    let title = f.title.trim();
    if title.is_empty() || title.chars().count() > 300 {
        return refused(
            &state,
            &across,
            bad,
            "A task needs a title of 1 to 300 characters.",
        )
        .await;
    }
    let fields = match task_fields(&f) {
        Ok(fields) => fields,
        Err(m) => return refused(&state, &across, bad, &m).await,
    };
    cockpit_db::incident_tasks::add(
        &state.pool,
        id,
        &across.user.actor(),
        title,
        fields.owner,
        fields.due,
    )
    .await?;
    Ok(Redirect::to(&format!("/incidents/{id}#tasks")).into_response())
}

/// Changes a task: owner, due date, note, done.
pub async fn incident_task_update(
    State(state): State<AppState>,
    across: Across<IncidentId, Analyst>,
    axum::extract::Path((_, task)): axum::extract::Path<(String, String)>,
    Form(f): Form<TaskForm>,
) -> Result<Response, AppError> {
    if let Err(answer) = tasks_editable(&state, &across).await? {
        return Ok(answer);
    }
    let IncidentId(id) = across.object;
    let task: i64 = task.parse().map_err(|_| AppError::NotFound)?;
    let change = match task_fields(&f) {
        Ok(change) => change,
        Err(m) => {
            return refused(&state, &across, axum::http::StatusCode::BAD_REQUEST, &m).await;
        }
    };
    if !cockpit_db::incident_tasks::update(&state.pool, id, task, &across.user.actor(), &change)
        .await?
    {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("/incidents/{id}#tasks")).into_response())
}
