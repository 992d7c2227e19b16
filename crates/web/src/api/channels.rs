//! Notification channels through the API (global admins' tokens): list
//! them, add one. The URL is never returned; a webhook's signing secret is
//! returned once, in the answer that creates it.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use cockpit_domain::notify::Severity;

use super::{ApiCaller, ApiJson, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Admin, EveryOrg},
    pages::admin_channels::{ChannelForm, create as create_channel},
};

/// `GET /api/v1/channels`.
#[utoipa::path(get, path = "/api/v1/channels", operation_id = "list_channels", tag = "channels",
    responses((status = 200, description = "`channels`: each with its rules and delivery counts, never its URL or secret", body = serde_json::Value), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _: EveryOrg<Admin>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let channels = cockpit_db::notify::channels(&state.pool)
        .await
        .map_err(AppError::from)?;
    Ok(Json(serde_json::json!({
        "channels": channels.iter().map(|c| serde_json::json!({
            "id": c.id,
            "name": c.name,
            "kind": c.kind,
            "target": c.target_hint,
            "email_to": c.email_to,
            "events": c.events,
            "orgs": c.org_ids,
            "min_severity": Severity::from_rank(c.min_severity).as_str(),
            "enabled": c.enabled,
            "created_by": c.created_by,
            "created_at": c.created_at,
            "deliveries": { "delivered": c.delivered, "pending": c.pending, "dead": c.dead },
            "digest": c.digest,
            "held_for_digest": c.held,
            "audit_log": c.audit_after.map(|after| serde_json::json!({ "taken_up_to": after, "error": c.audit_error })),
        })).collect::<Vec<_>>()
    })))
}

/// `POST /api/v1/channels`, the fields of the page's form (`events` and
/// `orgs` as lists): 201 with the id (and a webhook's signing secret,
/// this once); 400 with what is wrong.
#[utoipa::path(post, path = "/api/v1/channels", operation_id = "create_channel", tag = "channels", request_body = ChannelForm,
    responses((status = 201, description = "`id`, and a webhook's `signing_secret`, shown this once", body = serde_json::Value), (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: EveryOrg<Admin>,
    ApiJson(form): ApiJson<ChannelForm>,
) -> Result<Response, ApiError> {
    match create_channel(&state, &caller.actor(), &form).await? {
        Ok((id, secret)) => Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "id": id, "signing_secret": secret })),
        )
            .into_response()),
        Err(problem) => Err(AppError::BadRequest(problem).into()),
    }
}
