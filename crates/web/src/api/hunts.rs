//! Threat hunting through the API: import indicators, run a hunt, read one
//! back.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiCaller, ApiJson, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Across, Analyst, Anywhere, HuntId, Viewer},
    pages::hunts::{HuntAnswer, ImportForm, Refused, check_sets, import},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The set's name: an existing set's adds to it.
    pub name: String,
    #[serde(default)]
    pub source_label: Option<String>,
    #[serde(default)]
    pub source_url: Option<String>,
    /// `text`, `csv`, `json` or `stix`; absent, recognised.
    #[serde(default)]
    pub format: Option<String>,
    /// The indicators, as that format writes them.
    pub content: String,
    /// Import the good lines of input with bad ones too.
    #[serde(default)]
    pub accept_good_lines: bool,
}

/// `POST /api/v1/indicators`: 201 with the set and how many indicators
/// were new; 422 with every bad line (nothing imported) unless
/// `accept_good_lines`.
#[utoipa::path(post, path = "/api/v1/indicators", operation_id = "import_indicators", tag = "hunting", request_body = ImportBody,
    responses(
        (status = 201, description = "The set and what was added to it", body = Imported),
        (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody),
        (status = 413, description = "The body is over the import limit (4 MiB)", body = ErrorBody),
        (status = 422, description = "Some lines could not be read and nothing was imported", body = BadLines)))]
pub async fn import_indicators(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Analyst>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Up to the import limit (the router's), not the API's usual one.
    let body: ImportBody = serde_json::from_slice(&body).map_err(|e| {
        let detail: String = e.to_string().chars().take(200).collect();
        AppError::BadRequest(format!(
            "The body is not the JSON this request takes: {detail}."
        ))
    })?;
    let form = ImportForm {
        name: body.name,
        source_label: body.source_label.unwrap_or_default(),
        source_url: body.source_url.unwrap_or_default(),
        format: body.format.unwrap_or_default(),
        content: body.content,
        accept_good: body.accept_good_lines.then(|| "yes".to_owned()),
    };
    match import(&state, &form, &caller.actor()).await? {
        Ok((set, added, skipped)) => Ok((
            StatusCode::CREATED,
            Json(Imported {
                set,
                added,
                bad_lines_skipped: skipped,
            }),
        )
            .into_response()),
        Err(Refused::Form(m)) => Err(AppError::BadRequest(m).into()),
        Err(Refused::Lines { errors, good }) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(BadLines {
                error: "bad_lines",
                message: "Nothing was imported: some lines could not be read.",
                readable: good,
                errors: errors
                    .into_iter()
                    .take(1_000)
                    .map(|e| BadLine {
                        line: e.line,
                        message: e.message,
                    })
                    .collect(),
            }),
        )
            .into_response()),
    }
}

/// `POST /api/v1/indicators`, imported.
#[derive(Serialize, ToSchema)]
pub struct Imported {
    /// The set's id.
    pub set: i64,
    /// Indicators new to the set.
    pub added: u64,
    /// Bad lines left out (with `accept_good_lines`).
    pub bad_lines_skipped: usize,
}

/// `POST /api/v1/indicators`, refused: every bad line named.
#[derive(Serialize, ToSchema)]
pub struct BadLines {
    /// `bad_lines`.
    pub error: &'static str,
    pub message: &'static str,
    /// How many lines could be read.
    pub readable: usize,
    /// The first 1,000 bad lines.
    pub errors: Vec<BadLine>,
}

#[derive(Serialize, ToSchema)]
pub struct BadLine {
    /// 1 for the first line.
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HuntBody {
    /// Indicator set ids.
    pub sets: Vec<i64>,
}

/// `POST /api/v1/hunts`: runs a hunt over every org the token may see;
/// 201 with the hunt as `GET` shows it.
#[utoipa::path(post, path = "/api/v1/hunts", operation_id = "run_hunt", tag = "hunting", request_body = HuntBody,
    responses((status = 201, description = "The hunt and its hits", body = HuntAnswer), (status = 400, description = "The body is malformed or a field is wrong", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody), (status = 413, description = "The body is over the size limit (128 KiB)", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Analyst>,
    ApiJson(body): ApiJson<HuntBody>,
) -> Result<Response, ApiError> {
    let raw: Vec<String> = body.sets.iter().map(|s| s.to_string()).collect();
    let sets = check_sets(&state, &raw).await?;
    let orgs = caller.user.visible_orgs();
    let id = cockpit_db::hunts::run(&state.pool, &sets, &orgs, &caller.actor())
        .await
        .map_err(AppError::from)?;
    let hunt = cockpit_db::hunts::get(&state.pool, id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound)?;
    let hits = cockpit_db::hunts::hits(&state.pool, id, &orgs)
        .await
        .map_err(AppError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(HuntAnswer {
            hunt,
            complete: true,
            hits,
        }),
    )
        .into_response())
}

/// `GET /api/v1/hunts/{id}`: the hunt and its hits in the token's orgs.
#[utoipa::path(get, path = "/api/v1/hunts/{id}", operation_id = "get_hunt", tag = "hunting",
    params(("id" = i64, Path, description = "The hunt's id")),
    responses((status = 200, description = "The hunt (sets, time, who ran it) and its hits per org, app and person: indicator, first and last seen, counts, subtypes", body = HuntAnswer), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    across: Across<HuntId, Viewer>,
) -> Result<Json<HuntAnswer>, ApiError> {
    let HuntId(id) = across.object;
    let hunt = cockpit_db::hunts::get(&state.pool, id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound)?;
    let hits = cockpit_db::hunts::hits(&state.pool, id, &across.orgs)
        .await
        .map_err(AppError::from)?;
    Ok(Json(HuntAnswer {
        hunt,
        complete: across.every,
        hits,
    }))
}
