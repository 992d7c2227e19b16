//! Incidents through the API: declare one from a search, read one back with
//! its apps, containment actions and timeline.

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
    auth::scope::{Across, Analyst, Anywhere, IncidentId, Viewer},
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
