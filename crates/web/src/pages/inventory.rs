//! The app inventory: what is expected, who owns it, and whether it is
//! approved. Analysts and admins edit it; CSV in and out.

use crate::form::Form;
use askama::Template;
use axum::{
    extract::{Multipart, Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use cockpit_db::inventory::{AppMatch, InventoryRow};
use cockpit_domain::{inventory::InventoryEntry, role::Role};
use serde::Deserialize;

use crate::filters;
use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Analyst, Anywhere, Viewer},
    layout::Layout,
};

/// An inventory status as pages show it.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "approved" => "approved",
        "under_review" => "under review",
        "not_approved" => "not approved",
        _ => "other status",
    }
}

/// The `inventory_status` cell of a CSV export: the entry's status, or
/// `unknown` for an app seen in an org but not in the inventory.
pub fn export_status(status: Option<&str>) -> String {
    status.unwrap_or("unknown").to_owned()
}

#[derive(Template)]
#[template(path = "pages/inventory.html")]
pub struct InventoryPage {
    pub layout: Layout,
    pub csrf: String,
    pub rows: Vec<InventoryRow>,
    pub unknown: Vec<AppMatch>,
    pub can_edit: bool,
    pub flash: Option<String>,
    pub errors: Vec<(u64, String)>,
    pub now: DateTime<Utc>,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    flash: Option<String>,
    errors: Vec<(u64, String)>,
) -> Result<InventoryPage, AppError> {
    let rows = cockpit_db::inventory::list(&state.pool).await?;
    let visible = user.visible_orgs();
    let unknown = cockpit_db::inventory::matches(&state.pool)
        .await?
        .into_iter()
        .filter(|m| m.inventory_id.is_none() && visible.contains(&m.org_id))
        .take(500)
        .collect();
    let layout = Layout::load(&state.pool, user, "inventory", "/inventory", None).await?;
    Ok(InventoryPage {
        layout,
        csrf: user.csrf.clone(),
        rows,
        unknown,
        can_edit: user.max_role().is_some_and(|r| r >= Role::Analyst),
        flash,
        errors,
        now: Utc::now(),
    })
}

pub async fn inventory_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
) -> Result<Html<String>, AppError> {
    Ok(Html(
        render(&state, &user, None, Vec::new()).await?.render()?,
    ))
}

#[derive(Template)]
#[template(path = "pages/inventory_edit.html")]
pub struct InventoryEditPage {
    pub layout: Layout,
    pub csrf: String,
    pub id: Option<i64>,
    pub entry: InventoryEntry,
    pub error: Option<String>,
}

impl InventoryEditPage {
    pub fn o<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
    pub fn users(&self) -> String {
        self.entry
            .expected_users
            .map(|n| n.to_string())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    pub name: Option<String>,
}

pub async fn inventory_new(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    axum::extract::Query(q): axum::extract::Query<NewQuery>,
) -> Result<Html<String>, AppError> {
    let entry = InventoryEntry {
        name: q.name.unwrap_or_default(),
        status: "under_review".into(),
        ..Default::default()
    };
    let layout = Layout::load(&state.pool, &user, "inventory", "/inventory", None).await?;
    Ok(Html(
        InventoryEditPage {
            layout,
            csrf: user.csrf.clone(),
            id: None,
            entry,
            error: None,
        }
        .render()?,
    ))
}

pub async fn inventory_edit(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Path(id): Path<i64>,
) -> Result<Html<String>, AppError> {
    let row = cockpit_db::inventory::get(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let layout = Layout::load(&state.pool, &user, "inventory", "/inventory", None).await?;
    Ok(Html(
        InventoryEditPage {
            layout,
            csrf: user.csrf.clone(),
            id: Some(id),
            entry: row.entry(),
            error: None,
        }
        .render()?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct EntryForm {
    pub name: String,
    #[serde(default)]
    pub consumer_key: String,
    #[serde(default)]
    pub owner_team: String,
    #[serde(default)]
    pub business_purpose: String,
    #[serde(default)]
    pub expected_users: String,
    #[serde(default)]
    pub criticality: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub vendor_url: String,
    #[serde(default)]
    pub notes: String,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

pub async fn inventory_save(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Form(f): Form<EntryForm>,
) -> Result<Response, AppError> {
    let users = match f.expected_users.trim() {
        "" => Ok(None),
        n => n
            .replace(',', "")
            .parse::<i32>()
            .map(Some)
            .map_err(|_| "Expected users is a whole number.".to_owned()),
    };
    let entry = InventoryEntry {
        name: f.name.clone(),
        consumer_key: opt(&f.consumer_key),
        owner_team: opt(&f.owner_team),
        business_purpose: opt(&f.business_purpose),
        expected_users: users.clone().unwrap_or(None),
        criticality: opt(&f.criticality),
        status: f.status.clone(),
        vendor_url: opt(&f.vendor_url),
        notes: opt(&f.notes),
    };
    match users.and_then(|_| entry.clone().validated()) {
        Ok(valid) => {
            cockpit_db::inventory::save(&state.pool, &valid, &user.actor()).await?;
            Ok(Redirect::to("/inventory").into_response())
        }
        Err(message) => {
            let layout = Layout::load(&state.pool, &user, "inventory", "/inventory", None).await?;
            let page = InventoryEditPage {
                layout,
                csrf: user.csrf.clone(),
                id: None,
                entry,
                error: Some(message),
            };
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}

pub async fn inventory_csv(
    State(state): State<AppState>,
    _: Anywhere<Analyst>,
) -> Result<Response, AppError> {
    let rows = cockpit_db::inventory::list(&state.pool).await?;
    let entries: Vec<InventoryEntry> = rows.iter().map(InventoryRow::entry).collect();
    Ok(crate::csv_export::attachment(
        &crate::csv_export::dated("inventory"),
        cockpit_domain::inventory::to_csv(&entries),
    ))
}

/// CSV import from a file upload: all rows or none, every problem listed.
pub async fn inventory_import(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    mut form: Multipart,
) -> Result<Response, AppError> {
    let mut bytes = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| AppError::BadRequest("The upload could not be read.".into()))?
    {
        if field.name() == Some("file") {
            bytes = Some(
                field
                    .bytes()
                    .await
                    .map_err(|_| AppError::BadRequest("The upload could not be read.".into()))?,
            );
        }
    }
    let bytes = bytes
        .filter(|b| !b.is_empty())
        .ok_or_else(|| AppError::BadRequest("Choose a CSV file to import.".into()))?;
    match cockpit_domain::inventory::parse_csv(&bytes) {
        Ok(entries) => {
            let done = cockpit_db::inventory::import(&state.pool, &entries, &user.actor()).await?;
            let flash = format!("Imported: {} new, {} updated.", done.created, done.updated);
            Ok(Html(
                render(&state, &user, Some(flash), Vec::new())
                    .await?
                    .render()?,
            )
            .into_response())
        }
        Err(errors) => {
            let page = render(
                &state,
                &user,
                Some("Nothing was imported: fix these lines and try again.".into()),
                errors.0,
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
    }
}
