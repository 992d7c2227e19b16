//! Notification channels through the API (global admins' tokens): list
//! them, add one. The URL is never returned; a webhook's signing secret is
//! returned once, in the answer that creates it.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use cockpit_domain::notify::Severity;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiCaller, ApiJson, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Admin, EveryOrg},
    pages::admin_channels::{ChannelForm, create as create_channel},
};

/// A channel as the API lists it: its rules and how its deliveries stand,
/// never its URL or secret.
#[derive(Serialize, ToSchema)]
pub struct ChannelOut {
    pub id: Uuid,
    pub name: String,
    /// `webhook`, `slack`, `teams`, `email` or `siem`.
    pub kind: String,
    /// Scheme, host and port of where it sends.
    pub target: String,
    pub email_to: Vec<String>,
    /// The event types it takes; empty: every type.
    pub events: Vec<String>,
    /// The orgs it takes; `null`: every org.
    pub orgs: Option<Vec<Uuid>>,
    pub min_severity: &'static str,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub deliveries: DeliveryCounts,
    /// `hourly` or `daily` for the noisy types; `null`: each at once.
    pub digest: Option<String>,
    /// Noisy events waiting for the next digest.
    pub held_for_digest: i64,
    /// A SIEM channel's audit stream; `null` when it takes none.
    pub audit_log: Option<AuditStreamOut>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryCounts {
    pub delivered: i64,
    pub pending: i64,
    pub dead: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuditStreamOut {
    /// The sequence number of the last audit entry the collector took.
    pub taken_up_to: i64,
    /// The last attempt's failure, until one succeeds.
    pub error: Option<String>,
}

/// `GET /api/v1/channels`.
#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<ChannelOut>,
}

/// `POST /api/v1/channels`.
#[derive(Serialize, ToSchema)]
pub struct ChannelCreated {
    pub id: Uuid,
    /// A webhook's signing secret (`whsec_…`), shown this once; `null` for
    /// other kinds.
    pub signing_secret: Option<String>,
}

/// `GET /api/v1/channels`.
#[utoipa::path(get, path = "/api/v1/channels", operation_id = "list_channels", tag = "channels",
    responses((status = 200, description = "Every live channel", body = ChannelList), (status = 403, description = "The token's role may not do this", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _: EveryOrg<Admin>,
) -> Result<Json<ChannelList>, ApiError> {
    let channels = cockpit_db::notify::channels(&state.pool)
        .await
        .map_err(AppError::from)?;
    Ok(Json(ChannelList {
        channels: channels
            .into_iter()
            .map(|c| ChannelOut {
                id: c.id,
                name: c.name,
                kind: c.kind,
                target: c.target_hint,
                email_to: c.email_to,
                events: c.events,
                orgs: c.org_ids,
                min_severity: Severity::from_rank(c.min_severity).as_str(),
                enabled: c.enabled,
                created_by: c.created_by,
                created_at: c.created_at,
                deliveries: DeliveryCounts {
                    delivered: c.delivered,
                    pending: c.pending,
                    dead: c.dead,
                },
                digest: c.digest,
                held_for_digest: c.held,
                audit_log: c.audit_after.map(|after| AuditStreamOut {
                    taken_up_to: after,
                    error: c.audit_error,
                }),
            })
            .collect(),
    }))
}

/// `POST /api/v1/channels`, the fields of the page's form (`events` and
/// `orgs` as lists): 201 with the id (and a webhook's signing secret,
/// this once); 400 with what is wrong.
#[utoipa::path(post, path = "/api/v1/channels", operation_id = "create_channel", tag = "channels", request_body = ChannelForm,
    responses((status = 201, description = "The channel's id, and a webhook's signing secret", body = ChannelCreated), (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: EveryOrg<Admin>,
    ApiJson(form): ApiJson<ChannelForm>,
) -> Result<Response, ApiError> {
    match create_channel(&state, &caller.actor(), &form).await? {
        Ok((id, secret)) => Ok((
            StatusCode::CREATED,
            Json(ChannelCreated {
                id,
                signing_secret: secret,
            }),
        )
            .into_response()),
        Err(problem) => Err(AppError::BadRequest(problem).into()),
    }
}
