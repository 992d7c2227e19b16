//! Incidents through the API: declare one from a search, read one back with
//! its apps, containment actions and timeline, ask for its containment.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiCaller, ApiJson};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Across, Admin, Analyst, Anywhere, IncidentId, Viewer},
    pages::incidents::{DeclareForm, check_declaration, declare, view},
};

#[derive(Debug, Deserialize)]
pub struct AppRef {
    pub org: Uuid,
    /// The app's key, as `GET /api/v1/apps/where` gives it.
    pub app: String,
}

#[derive(Debug, Deserialize)]
pub struct DeclareBody {
    pub title: String,
    #[serde(default)]
    pub ticket: Option<String>,
    pub severity: String,
    #[serde(default)]
    pub owner: Option<String>,
    /// What to search for: a name, consumer key or app id.
    pub q: String,
    /// The matches confirmed; absent, every match in the token's orgs.
    #[serde(default)]
    pub apps: Option<Vec<AppRef>>,
}

/// `POST /api/v1/incidents`: 201 with the incident as `GET` shows it.
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Analyst>,
    ApiJson(body): ApiJson<DeclareBody>,
) -> Result<Response, ApiError> {
    let chosen: Option<Vec<String>> = body.apps.as_ref().map(|apps| {
        apps.iter()
            .map(|a| format!("{}:{}", a.org, a.app))
            .collect()
    });
    let form = DeclareForm {
        q: body.q,
        title: body.title,
        ticket: body.ticket.unwrap_or_default(),
        severity: body.severity,
        owner: body.owner.unwrap_or_default(),
        app: Vec::new(),
    };
    let d = check_declaration(&state, &caller.user, &form, chosen.as_deref()).await?;
    let id = declare(&state, &d, &caller.actor()).await?;
    let orgs: Vec<Uuid> = d.apps.iter().map(|(o, _, _)| *o).collect();
    let v = view(&state, id, &orgs).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/incidents/{id}`: the incident, its apps, containment
/// actions and timeline in the token's orgs.
pub async fn show(
    State(state): State<AppState>,
    across: Across<IncidentId, Viewer>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let IncidentId(id) = across.object;
    let v = view(&state, id, &across.orgs).await?;
    let mut j = serde_json::to_value(v).map_err(|e| AppError::Internal(e.to_string()))?;
    j["complete"] = serde_json::json!(across.every);
    Ok(Json(j))
}

#[derive(Debug, Deserialize)]
pub struct ContainBody {
    pub reason: String,
}

/// `POST /api/v1/incidents/{id}/contain`: 202. Under the two-person rule the
/// request waits for a second admin, who approves it in the web interface
/// (`"status": "awaiting_approval"` with the request); otherwise the
/// containment's actions are queued (`"status": "containing"`). 409 when
/// the incident is contained or closed already.
pub async fn contain(
    State(state): State<AppState>,
    caller: ApiCaller,
    across: Across<IncidentId, Admin>,
    ApiJson(body): ApiJson<ContainBody>,
) -> Result<Response, ApiError> {
    across.require_every()?;
    let IncidentId(id) = across.object;
    let reason = body.reason.trim();
    if !crate::pages::action_new::reason_ok(reason) {
        return Err(AppError::BadRequest(crate::pages::action_new::REASON_NEEDED.into()).into());
    }
    let not_open = |status: String| {
        ApiError::from(AppError::Conflict(format!(
            "the incident is {status}: it cannot be contained again"
        )))
    };
    if state.two_person.contain {
        let expires = chrono::Duration::from_std(state.two_person.expires_after)
            .unwrap_or(chrono::Duration::hours(4));
        let approval = cockpit_db::incidents::request_contain(
            &state.pool,
            id,
            &caller.actor(),
            reason,
            expires,
        )
        .await
        .map_err(AppError::from)?
        .map_err(|cockpit_db::incidents::ContainRefused::NotOpen(s)| not_open(s))?;
        let body = serde_json::json!({ "status": "awaiting_approval", "approval": approval });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let actions = cockpit_db::incidents::contain(&state.pool, id, &caller.actor(), reason)
        .await
        .map_err(AppError::from)?
        .map_err(|cockpit_db::incidents::ContainRefused::NotOpen(s)| not_open(s))?;
    state.wake_worker();
    let body = serde_json::json!({ "status": "containing", "actions": actions });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
