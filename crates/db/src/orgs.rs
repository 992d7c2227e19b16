//! Connected orgs.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub login_url: String,
    pub instance_url: Option<String>,
    pub sf_org_id: Option<String>,
    pub status: String,
    pub status_detail: Option<String>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub api_usage_used: Option<i64>,
    pub api_usage_max: Option<i64>,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<OrgRow>> {
    sqlx::query_as!(
        OrgRow,
        "SELECT id, name, login_url, instance_url, sf_org_id, status, status_detail,
                last_sync_at, api_usage_used, api_usage_max
         FROM orgs ORDER BY lower(name)"
    )
    .fetch_all(db)
    .await
}
