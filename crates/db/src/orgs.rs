//! Connected orgs and their sealed secrets.

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
    pub integration_username: Option<String>,
    pub integration_user_id: Option<String>,
    pub status: String,
    pub status_detail: Option<String>,
    pub auth_flow: String,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub sandbox: bool,
    pub api_version: String,
    pub sees_all_tokens: Option<bool>,
    pub budget_share: f32,
    pub sync_interval_minutes: i32,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_sync_status: Option<String>,
    pub api_usage_used: Option<i64>,
    pub api_usage_max: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<OrgRow>> {
    sqlx::query_as!(
        OrgRow,
        "SELECT id, name, login_url, instance_url, sf_org_id, integration_username, integration_user_id, status, status_detail,
                auth_flow, client_id, username, sandbox, api_version, sees_all_tokens, budget_share,
                sync_interval_minutes, next_sync_at, last_sync_at, last_sync_status, api_usage_used,
                api_usage_max, created_at
         FROM orgs ORDER BY lower(name)"
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<OrgRow>> {
    sqlx::query_as!(
        OrgRow,
        "SELECT id, name, login_url, instance_url, sf_org_id, integration_username, integration_user_id, status, status_detail,
                auth_flow, client_id, username, sandbox, api_version, sees_all_tokens, budget_share,
                sync_interval_minutes, next_sync_at, last_sync_at, last_sync_status, api_usage_used,
                api_usage_max, created_at
         FROM orgs WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn find_by_name(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT id FROM orgs WHERE lower(name) = lower($1)", name)
        .fetch_optional(db)
        .await
}

#[derive(Debug, Clone)]
pub struct NewOrg<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub login_url: &'a str,
    pub instance_url: &'a str,
    pub sf_org_id: &'a str,
    pub integration_username: &'a str,
    pub integration_user_id: &'a str,
    pub auth_flow: &'a str,
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub sandbox: bool,
    pub api_version: &'a str,
    pub sees_all_tokens: bool,
}

pub async fn insert(db: impl PgExecutor<'_>, org: &NewOrg<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO orgs (id, name, login_url, instance_url, sf_org_id, integration_username, auth_flow, client_id,
                           username, sandbox, api_version, sees_all_tokens, integration_user_id, status, next_sync_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'connected', now())",
        org.id,
        org.name,
        org.login_url,
        org.instance_url,
        org.sf_org_id,
        org.integration_username,
        org.auth_flow,
        org.client_id,
        org.username,
        org.sandbox,
        org.api_version,
        org.sees_all_tokens,
        org.integration_user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a sealed secret (see `cockpit_domain::secret`), replacing the old one.
pub async fn put_secret(
    db: impl PgExecutor<'_>,
    org: Uuid,
    field: &str,
    sealed: &[u8],
    key_id: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO org_secrets (org_id, field, sealed, key_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, field) DO UPDATE SET sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id, updated_at = now()",
        org,
        field,
        sealed,
        key_id
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get_secret(
    db: impl PgExecutor<'_>,
    org: Uuid,
    field: &str,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        "SELECT sealed FROM org_secrets WHERE org_id = $1 AND field = $2",
        org,
        field
    )
    .fetch_optional(db)
    .await
}

/// Locks the secret row for the rest of the transaction (one refresh at a
/// time per org, across processes) and returns it.
pub async fn lock_secret(
    db: impl PgExecutor<'_>,
    org: Uuid,
    field: &str,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        "SELECT sealed FROM org_secrets WHERE org_id = $1 AND field = $2 FOR UPDATE",
        org,
        field
    )
    .fetch_optional(db)
    .await
}

pub async fn delete_secrets(db: impl PgExecutor<'_>, org: Uuid) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("DELETE FROM org_secrets WHERE org_id = $1", org)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Every sealed secret not sealed by `current_key`, for `keys rotate`.
pub async fn secrets_to_rotate(
    db: impl PgExecutor<'_>,
    current_key: &str,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, String, Vec<u8>)>> {
    let rows = sqlx::query!(
        "SELECT org_id, field, sealed FROM org_secrets WHERE key_id <> $1 ORDER BY org_id, field LIMIT $2",
        current_key,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.org_id, r.field, r.sealed))
        .collect())
}

pub async fn set_status(
    db: impl PgExecutor<'_>,
    org: Uuid,
    status: &str,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE orgs SET status = $2, status_detail = $3, updated_at = now() WHERE id = $1",
        org,
        status,
        detail
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_api_usage(
    db: impl PgExecutor<'_>,
    org: Uuid,
    used: i64,
    max: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE orgs SET api_usage_used = $2, api_usage_max = $3 WHERE id = $1",
        org,
        used,
        max
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes an org and everything synced from it (its log archive has no
/// foreign key to cascade from: migration 0035).
pub async fn delete(db: &mut sqlx::PgConnection, org: Uuid) -> sqlx::Result<bool> {
    sqlx::query!("DELETE FROM log_activity WHERE org_id = $1", org)
        .execute(&mut *db)
        .await?;
    sqlx::query!("DELETE FROM log_api_calls WHERE org_id = $1", org)
        .execute(&mut *db)
        .await?;
    Ok(sqlx::query!("DELETE FROM orgs WHERE id = $1", org)
        .execute(&mut *db)
        .await?
        .rows_affected()
        == 1)
}
