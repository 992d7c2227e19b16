//! Threat hunting: indicator sets (shipped from published advisories, or
//! imported as text, CSV, JSON or STIX 2.1), hunts that match chosen sets
//! against the log archive of every org the person may see, and the hits
//! each sync's match of the active sets finds.
//!
//! Sets are not any org's data (an advisory's addresses): an analyst
//! anywhere may import one. A hunt's answer is: it shows each person only
//! the orgs they may see.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::hunts::{Hit, Hunt, IndicatorSet, NewIndicator, SetInfo};
use cockpit_domain::indicators::{self, Format, LineError};
use cockpit_domain::role::Role;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Across, Analyst, Anywhere, HitId, HuntId, In, Viewer},
    csv_export, filters,
    form::Form,
    layout::Layout,
};

/// Indicator errors shown at most (the count says how many more).
const ERRORS_SHOWN: usize = 200;

#[derive(Template)]
#[template(path = "pages/indicators.html")]
pub struct IndicatorsPage {
    pub layout: Layout,
    pub csrf: String,
    pub sets: Vec<IndicatorSet>,
    pub can_import: bool,
    pub form: ImportForm,
    pub errors: Vec<LineError>,
    pub more_errors: usize,
    /// Good lines of an import that had bad ones too.
    pub good: usize,
    pub message: Option<String>,
}

/// The import form (also the API's body).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ImportForm {
    /// The set: an existing set's name adds to it.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub source_label: String,
    #[serde(default)]
    pub source_url: String,
    /// `auto`, `text`, `csv`, `json` or `stix`.
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub content: String,
    /// Import the good lines of input that has bad ones too.
    #[serde(default)]
    pub accept_good: Option<String>,
}

async fn indicators_page(
    state: &AppState,
    user: &CurrentUser,
    form: ImportForm,
    outcome: Option<&Refused>,
    message: Option<String>,
) -> Result<String, AppError> {
    let layout = Layout::load(&state.pool, user, "hunts", "/indicators", None).await?;
    let (errors, more_errors, good) = match outcome {
        Some(Refused::Lines { errors, good }) => (
            errors.iter().take(ERRORS_SHOWN).cloned().collect(),
            errors.len().saturating_sub(ERRORS_SHOWN),
            *good,
        ),
        _ => (Vec::new(), 0, 0),
    };
    let message = match outcome {
        Some(Refused::Form(m)) => Some(m.clone()),
        _ => message,
    };
    Ok(IndicatorsPage {
        layout,
        csrf: user.csrf.clone(),
        sets: cockpit_db::hunts::sets(&state.pool).await?,
        can_import: user.max_role().is_some_and(|r| r >= Role::Analyst),
        form,
        errors,
        more_errors,
        good,
        message,
    }
    .render()?)
}

#[derive(Debug, Default, Deserialize)]
pub struct Imported {
    #[serde(default)]
    pub imported: Option<u64>,
    /// An indicator was removed just now.
    #[serde(default)]
    pub removed: Option<u8>,
}

pub async fn indicators_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
) -> Result<Html<String>, AppError> {
    Ok(Html(
        indicators_page(&state, &user, ImportForm::default(), None, None).await?,
    ))
}

/// Why an import was not made.
#[derive(Debug, Clone)]
pub enum Refused {
    /// A field of the form.
    Form(String),
    /// Lines that could not be read, and how many could.
    Lines { errors: Vec<LineError>, good: usize },
}

/// Checks and imports; nothing is imported from input with bad lines unless
/// the person accepts the good ones. Returns the set and how many
/// indicators were new.
pub async fn import(
    state: &AppState,
    form: &ImportForm,
    actor: &str,
) -> Result<Result<(i64, u64, usize), Refused>, AppError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Ok(Err(Refused::Form(
            "Name the set (up to 200 characters): an advisory, a feed, an incident.".into(),
        )));
    }
    let label = form.source_label.trim();
    if label.chars().count() > 200 {
        return Ok(Err(Refused::Form(
            "The source is up to 200 characters.".into(),
        )));
    }
    let url = form.source_url.trim();
    if !url.is_empty()
        && (url.len() > 2000
            || !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    {
        return Ok(Err(Refused::Form(
            "The source's address must be an http or https URL.".into(),
        )));
    }
    if form.content.trim().is_empty() {
        return Ok(Err(Refused::Form(
            "Paste the indicators, or their file's content.".into(),
        )));
    }
    let format = match form.format.trim() {
        "" | "auto" => indicators::detect(&form.content),
        f => match f.parse::<Format>() {
            Ok(f) => f,
            Err(e) => return Ok(Err(Refused::Form(e))),
        },
    };
    let parsed = indicators::parse(format, &form.content);
    if parsed.indicators.is_empty() || (!parsed.errors.is_empty() && form.accept_good.is_none()) {
        let mut errors = parsed.errors;
        if errors.is_empty() {
            errors.push(LineError {
                line: LineError::WHOLE_INPUT,
                message: format!("No indicator found in this {format} input."),
            });
        }
        return Ok(Err(Refused::Lines {
            errors,
            good: parsed.indicators.len(),
        }));
    }
    let mut rows: Vec<NewIndicator> = parsed.indicators.iter().map(NewIndicator::from).collect();
    if format == Format::Stix {
        // A STIX indicator's `valid_from` is when it was written, usually
        // after the activity it describes: kept as a start, a hunt would
        // miss the very calls the advisory is about.
        for r in &mut rows {
            r.valid_from = None;
        }
    }
    let info = SetInfo {
        name: name.to_owned(),
        source_label: if label.is_empty() {
            "imported".into()
        } else {
            label.to_owned()
        },
        source_url: (!url.is_empty()).then(|| url.to_owned()),
        published: None,
        description: String::new(),
    };
    let (set, added) =
        cockpit_db::hunts::import(&state.pool, &info, false, false, &rows, actor).await?;
    Ok(Ok((set, added, parsed.errors.len())))
}

pub async fn indicators_import(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Form(form): Form<ImportForm>,
) -> Result<Response, AppError> {
    match import(&state, &form, &user.actor()).await? {
        Ok((set, added, _)) => {
            Ok(Redirect::to(&format!("/indicators/{set}?imported={added}")).into_response())
        }
        Err(refused) => {
            let page = indicators_page(&state, &user, form, Some(&refused), None).await?;
            Ok((StatusCode::BAD_REQUEST, Html(page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "pages/indicator_set.html")]
pub struct SetPage {
    pub layout: Layout,
    pub csrf: String,
    pub set: IndicatorSet,
    pub indicators: Vec<cockpit_db::hunts::Indicator>,
    pub can_hunt: bool,
    pub imported: Option<u64>,
    pub removed: bool,
}

/// Indicators shown on a set's page.
const SET_PAGE_ROWS: i64 = 1_000;

pub async fn indicator_set(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<Imported>,
) -> Result<Html<String>, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let set = cockpit_db::hunts::sets(&state.pool)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(AppError::NotFound)?;
    let layout = Layout::load(&state.pool, &user, "hunts", "/indicators", None).await?;
    Ok(Html(
        SetPage {
            layout,
            csrf: user.csrf.clone(),
            indicators: cockpit_db::hunts::indicators(&state.pool, id, SET_PAGE_ROWS).await?,
            set,
            can_hunt: user.max_role().is_some_and(|r| r >= Role::Analyst),
            imported: q.imported,
            removed: q.removed.is_some(),
        }
        .render()?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    pub active: String,
}

/// Turns a set's match against new archive data on or off.
pub async fn indicator_set_active(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Result<Redirect, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::BadRequest("active is true or false".into())),
    };
    if !cockpit_db::hunts::set_active(&state.pool, id, active, &user.actor()).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("/indicators/{id}")))
}

#[derive(Deserialize)]
pub struct RemoveForm {
    pub indicator: String,
}

/// Removes one indicator from a set (a false positive); it stays removed
/// when a shipped set is updated.
pub async fn indicator_remove(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<String>,
    Form(form): Form<RemoveForm>,
) -> Result<Redirect, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let indicator: i64 = form
        .indicator
        .parse()
        .map_err(|_| AppError::BadRequest("indicator is the id of an indicator".into()))?;
    if !cockpit_db::hunts::sets(&state.pool)
        .await?
        .iter()
        .any(|s| s.id == id)
    {
        return Err(AppError::NotFound);
    }
    // Removed already (a second click): the set as it is.
    let removed =
        cockpit_db::hunts::remove_indicator(&state.pool, id, indicator, &user.actor()).await?;
    Ok(Redirect::to(&format!(
        "/indicators/{id}{}",
        if removed { "?removed=1" } else { "" }
    )))
}

#[derive(Template)]
#[template(path = "pages/hunts.html")]
pub struct HuntsPage {
    pub layout: Layout,
    pub csrf: String,
    pub hunts: Vec<Hunt>,
    pub sets: Vec<IndicatorSet>,
    pub can_hunt: bool,
    pub live: Vec<cockpit_db::hunts::LiveHit>,
    pub org_names: HashMap<Uuid, String>,
}

impl HuntsPage {
    pub fn org_name(&self, id: &Uuid) -> String {
        self.org_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

async fn org_names(state: &AppState) -> Result<HashMap<Uuid, String>, AppError> {
    Ok(cockpit_db::orgs::list(&state.pool)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect())
}

pub async fn hunts_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
) -> Result<Html<String>, AppError> {
    let orgs = user.visible_orgs();
    let layout = Layout::load(&state.pool, &user, "hunts", "/hunts", None).await?;
    Ok(Html(
        HuntsPage {
            layout,
            csrf: user.csrf.clone(),
            hunts: cockpit_db::hunts::list(&state.pool, &orgs, 100).await?,
            sets: cockpit_db::hunts::sets(&state.pool).await?,
            can_hunt: user.max_role().is_some_and(|r| r >= Role::Analyst),
            live: cockpit_db::hunts::live_hits(&state.pool, &orgs, 100).await?,
            org_names: org_names(&state).await?,
        }
        .render()?,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct HuntForm {
    /// Set ids.
    #[serde(default)]
    pub set: Vec<String>,
}

/// The sets of a hunt request: ids that exist, at least one.
pub async fn check_sets(state: &AppState, raw: &[String]) -> Result<Vec<i64>, AppError> {
    let known: Vec<i64> = cockpit_db::hunts::sets(&state.pool)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut ids = Vec::new();
    for r in raw {
        let id: i64 = r
            .trim()
            .parse()
            .map_err(|_| AppError::BadRequest(format!("{:?} is not an indicator set", r)))?;
        if !known.contains(&id) {
            return Err(AppError::BadRequest(format!("no indicator set {id}")));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(AppError::BadRequest(
            "Choose at least one indicator set to hunt with.".into(),
        ));
    }
    Ok(ids)
}

/// Runs a hunt over every org the person may see.
pub async fn hunt_create(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Form(form): Form<HuntForm>,
) -> Result<Redirect, AppError> {
    let sets = check_sets(&state, &form.set).await?;
    let id =
        cockpit_db::hunts::run(&state.pool, &sets, &user.visible_orgs(), &user.actor()).await?;
    Ok(Redirect::to(&format!("/hunts/{id}")))
}

#[derive(Template)]
#[template(path = "pages/hunt_show.html")]
pub struct HuntPage {
    pub layout: Layout,
    pub csrf: String,
    pub hunt: Hunt,
    pub hits: Vec<Hit>,
    /// Whether the person sees every org the hunt searched.
    pub every: bool,
    pub can_declare: bool,
    pub can_export: bool,
    pub org_names: HashMap<Uuid, String>,
}

impl HuntPage {
    pub fn org_name(&self, id: &Uuid) -> String {
        self.org_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The title an incident declared from a hit gets.
    pub fn incident_title(&self, h: &Hit) -> String {
        let title = format!(
            "{}: indicators of {} seen",
            h.app_name.as_deref().unwrap_or("App"),
            h.set_name
        );
        title.chars().take(200).collect()
    }
}

pub async fn hunt_show(
    State(state): State<AppState>,
    across: Across<HuntId, Viewer>,
) -> Result<Html<String>, AppError> {
    let HuntId(id) = across.object;
    let hunt = cockpit_db::hunts::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let hits = cockpit_db::hunts::hits(&state.pool, id, &across.orgs).await?;
    let layout = Layout::load(&state.pool, &across.user, "hunts", "/hunts", None).await?;
    let analyst_orgs = across.user.orgs_with(Role::Analyst);
    Ok(Html(
        HuntPage {
            layout,
            csrf: across.user.csrf.clone(),
            can_declare: !analyst_orgs.is_empty(),
            can_export: across.orgs.iter().any(|o| analyst_orgs.contains(o)),
            hunt,
            hits,
            every: across.every,
            org_names: org_names(&state).await?,
        }
        .render()?,
    ))
}

/// The hunt and its hits in the orgs the caller is an analyst of.
async fn export_rows(
    state: &AppState,
    across: &Across<HuntId, Analyst>,
) -> Result<(Hunt, Vec<Hit>), AppError> {
    let HuntId(id) = across.object;
    let hunt = cockpit_db::hunts::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((
        hunt,
        cockpit_db::hunts::hits(&state.pool, id, &across.orgs).await?,
    ))
}

pub async fn hunt_csv(
    State(state): State<AppState>,
    across: Across<HuntId, Analyst>,
) -> Result<Response, AppError> {
    let (hunt, hits) = export_rows(&state, &across).await?;
    let names = org_names(&state).await?;
    let header = [
        "org",
        "org_id",
        "app",
        "app_key",
        "user",
        "set",
        "kind",
        "indicator",
        "first_seen",
        "last_seen",
        "requests",
        "errors",
        "subtypes",
        "ips",
        "user_agents",
    ]
    .map(String::from)
    .to_vec();
    let rows = std::iter::once(header).chain(hits.iter().map(|h| {
        vec![
            names.get(&h.org_id).cloned().unwrap_or_default(),
            h.org_id.to_string(),
            h.app_name.clone().unwrap_or_default(),
            h.app_key.clone().unwrap_or_default(),
            h.user_name.clone().unwrap_or_default(),
            h.set_name.clone(),
            h.kind.clone(),
            h.value.clone(),
            h.first_seen.to_rfc3339(),
            h.last_seen.to_rfc3339(),
            h.requests.to_string(),
            h.errors.to_string(),
            h.subtypes.join(" "),
            h.ips.join(" "),
            h.user_agents.join(" | "),
        ]
    }));
    Ok(csv_export::attachment(
        &format!("hunt-{}.csv", hunt.id),
        csv_export::encode(rows)?,
    ))
}

/// A hunt as JSON: what the page shows, for the API and exports.
/// A hunt and its hits, as the API answers and the JSON export writes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HuntAnswer {
    pub hunt: Hunt,
    /// False when the hunt searched orgs the reader cannot see (their hits
    /// are left out).
    pub complete: bool,
    pub hits: Vec<Hit>,
}

pub async fn hunt_json_export(
    State(state): State<AppState>,
    across: Across<HuntId, Analyst>,
) -> Result<Response, AppError> {
    let (hunt, hits) = export_rows(&state, &across).await?;
    let id = hunt.id;
    let body = serde_json::to_vec_pretty(&HuntAnswer {
        hunt,
        complete: across.every,
        hits,
    })
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"hunt-{id}.json\""),
        )],
        body,
    )
        .into_response())
}

/// Takes a hit of the continuous match off the overview.
pub async fn hit_acknowledge(
    State(state): State<AppState>,
    it: In<HitId, Analyst>,
) -> Result<Redirect, AppError> {
    let HitId(id) = it.object;
    cockpit_db::hunts::acknowledge(&state.pool, id, &[it.org()], &it.user.actor()).await?;
    Ok(Redirect::to("/hunts#live"))
}
