//! Incidents through the API: declare one from a search, read one back with
//! its apps, containment actions and timeline, ask for its containment.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiCaller, ApiJson, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Across, Admin, Analyst, Anywhere, IncidentId, Viewer},
    pages::incidents::{DeclareForm, IncidentView, check_declaration, declare, view},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AppRef {
    pub org: Uuid,
    /// The app's key, as `GET /api/v1/apps/where` gives it.
    pub app: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeclareBody {
    pub title: String,
    /// The ticket in the team's tracker.
    #[serde(default)]
    pub ticket: Option<String>,
    /// `low`, `medium`, `high` or `critical`.
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
#[utoipa::path(post, path = "/api/v1/incidents", operation_id = "declare_incident", tag = "incidents", request_body = DeclareBody,
    responses((status = 201, description = "The incident, as `GET /api/v1/incidents/{id}` shows it", body = IncidentAnswer), (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
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
    let view = view(&state, id, &orgs).await?;
    Ok((
        StatusCode::CREATED,
        Json(IncidentAnswer {
            view,
            complete: true,
        }),
    )
        .into_response())
}

/// `GET /api/v1/incidents/{id}`: the incident, its apps, containment
/// actions and timeline in the token's orgs.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", operation_id = "get_incident", tag = "incidents",
    params(("id" = i64, Path, description = "The incident's id")),
    responses((status = 200, description = "The incident, its apps, containment actions and timeline in the token's orgs; `complete` is false when the incident reaches orgs the token may not see", body = IncidentAnswer), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    across: Across<IncidentId, Viewer>,
) -> Result<Json<IncidentAnswer>, ApiError> {
    let IncidentId(id) = across.object;
    Ok(Json(IncidentAnswer {
        view: view(&state, id, &across.orgs).await?,
        complete: across.every,
    }))
}

/// An incident as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct IncidentAnswer {
    #[serde(flatten)]
    pub view: IncidentView,
    /// False when the incident reaches orgs the token may not see (their
    /// apps and actions are left out).
    pub complete: bool,
}

/// `POST /api/v1/incidents/{id}/contain`, accepted.
#[derive(Serialize, ToSchema)]
pub struct ContainAnswer {
    /// `containing` (the actions are queued) or `awaiting_approval` (a
    /// second admin approves in the web interface).
    pub status: &'static str,
    /// The queued actions' ids, when containing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<i64>>,
    /// The request, when awaiting approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<cockpit_db::incidents::Approval>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContainBody {
    /// Why, for the audit log (required).
    pub reason: String,
}

/// `POST /api/v1/incidents/{id}/contain`: 202. Under the two-person rule the
/// request waits for a second admin, who approves it in the web interface
/// (`"status": "awaiting_approval"` with the request); otherwise the
/// containment's actions are queued (`"status": "containing"`). 409 when
/// the incident is contained or closed already.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/contain", operation_id = "contain_incident", tag = "incidents",
    params(("id" = i64, Path, description = "The incident's id")), request_body = ContainBody,
    responses(
        (status = 202, description = "Containing, or awaiting a second admin", body = ContainAnswer),
        (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 404, description = "No such object in the token's orgs", body = ErrorBody),
        (status = 409, description = "The incident is contained or closed already", body = ErrorBody), (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
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
        let body = ContainAnswer {
            status: "awaiting_approval",
            actions: None,
            approval: Some(approval),
        };
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let actions = cockpit_db::incidents::contain(&state.pool, id, &caller.actor(), reason)
        .await
        .map_err(AppError::from)?
        .map_err(|cockpit_db::incidents::ContainRefused::NotOpen(s)| not_open(s))?;
    state.wake_worker();
    let body = ContainAnswer {
        status: "containing",
        actions: Some(actions),
        approval: None,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
