//! The overview: every connected org with its status and last sync.

use askama::Template;
use axum::{extract::State, response::Html};
use sqlx::PgPool;

use crate::AppError;
use cockpit_db::orgs::OrgRow;

#[derive(Template)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    pub orgs: Vec<OrgRow>,
}

pub async fn home(State(pool): State<PgPool>) -> Result<Html<String>, AppError> {
    let orgs = cockpit_db::orgs::list(&pool).await?;
    Ok(Html(HomePage { orgs }.render()?))
}
