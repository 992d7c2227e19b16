//! Actions through the API: the confirmation form's fields as JSON, created
//! exactly as the form creates them (same kinds, reason required, the same durable intent and audit
//! entry, the idempotency key honoured), with the token named as the actor.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiCaller, ApiJson, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{ActionId, Admin, In, Viewer},
    pages::action_new::{self, ActionForm},
};

/// Failed or pending items listed with an action; the counts cover all.
pub const MAX_ITEMS: i64 = 10_000;

/// `POST /api/v1/actions`: 201 with the new action, or 200 with the one an
/// earlier request with the same key created.
#[utoipa::path(post, path = "/api/v1/actions", operation_id = "create_action", tag = "actions", request_body = ActionForm,
    responses(
        (status = 201, description = "The action, queued; as `GET /api/v1/actions/{id}` shows it", body = ActionAnswer),
        (status = 200, description = "The action an earlier request with this idempotency key created", body = ActionAnswer),
        (status = 202, description = "The action, waiting for a second admin's approval", body = ActionAnswer),
        (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 404, description = "No such object in the token's orgs", body = ErrorBody), (status = 409, description = "The idempotency key was used for another action (another org or kind)", body = ErrorBody),
        (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<ActionForm>,
) -> Result<Response, ApiError> {
    let (params, reason, idempotency_key) = body.split();
    let grant = caller.user.grant::<Admin>(params.org)?;
    let kind = action_new::parse_kind(&params.kind)?;
    action_new::validate(&params, kind)?;
    let reason = reason.trim();
    if !action_new::reason_ok(reason) {
        return Err(AppError::BadRequest(action_new::REASON_NEEDED.into()).into());
    }
    if !action_new::key_ok(&idempotency_key) {
        return Err(
            AppError::BadRequest("idempotency_key must be 16 to 100 characters.".into()).into(),
        );
    }
    let requested = action_new::record(
        &state,
        &grant,
        &params,
        kind,
        &caller.actor(),
        reason,
        &idempotency_key,
    )
    .await?;
    let (status, action) = (
        if requested.awaiting {
            // Waiting for a second admin, who approves in the web interface.
            StatusCode::ACCEPTED
        } else if requested.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        describe(&state, &caller, requested.id).await?,
    );
    Ok((status, Json(action)).into_response())
}

/// `GET /api/v1/actions/{id}`: status, progress and every item's outcome.
#[utoipa::path(get, path = "/api/v1/actions/{id}", operation_id = "get_action", tag = "actions",
    params(("id" = i64, Path, description = "The action's id")),
    responses((status = 200, description = "The action, its progress and every item's outcome", body = ActionAnswer), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    In {
        object: ActionId(id),
        ..
    }: In<ActionId, Viewer>,
) -> Result<Json<ActionAnswer>, ApiError> {
    Ok(Json(describe(&state, &caller, id).await?))
}

/// An action as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ActionAnswer {
    pub action: cockpit_db::actions::ActionRow,
    /// The latest request under the two-person rule, if any.
    pub approval: Option<cockpit_db::incidents::Approval>,
    pub progress: Progress,
    /// More items than the answer lists (10,000).
    pub items_truncated: bool,
    /// Every authorization the action names, and how it went.
    pub items: Vec<cockpit_db::actions::ItemRow>,
}

/// How far an action has come; the counts cover every item.
#[derive(Serialize, ToSchema)]
pub struct Progress {
    pub total: i64,
    pub done: i64,
    pub pending: i64,
    pub revoked: i64,
    pub gone: i64,
    pub failed: i64,
}

async fn describe(state: &AppState, caller: &ApiCaller, id: i64) -> Result<ActionAnswer, AppError> {
    // The latest request under the two-person rule, if any (read first: an
    // expired request expires its action).
    let approval = cockpit_db::action_approvals::of_action(&state.pool, id)
        .await?
        .into_iter()
        .next();
    let action = cockpit_db::actions::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A key reused across orgs must not reveal another org's action.
    caller.user.grant::<Viewer>(action.org_id)?;
    let counts = cockpit_db::actions::item_counts(&state.pool, id).await?;
    let items = cockpit_db::actions::items(&state.pool, id, None, MAX_ITEMS + 1).await?;
    let total = counts.pending + counts.revoked + counts.gone + counts.failed;
    let items_truncated = items.len() as i64 > MAX_ITEMS;
    Ok(ActionAnswer {
        action,
        approval,
        progress: Progress {
            total,
            done: total - counts.pending,
            pending: counts.pending,
            revoked: counts.revoked,
            gone: counts.gone,
            failed: counts.failed,
        },
        items_truncated,
        items: items.into_iter().take(MAX_ITEMS as usize).collect(),
    })
}
