//! Accounts, their roles, sessions, sign-in throttling and API tokens.

use chrono::{DateTime, Utc};
use cockpit_domain::role::Role;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn count(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM accounts")
        .fetch_one(db)
        .await
}

pub async fn create(
    db: impl PgExecutor<'_>,
    email: &str,
    display_name: Option<&str>,
    password_hash: Option<&str>,
    role: Option<Role>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO accounts (id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5)",
        id,
        email.trim(),
        display_name,
        password_hash,
        role.map(Role::as_str)
    )
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, email, display_name, password_hash, role, disabled_at, created_at
         FROM accounts WHERE lower(email) = lower($1)",
        email.trim()
    )
    .fetch_optional(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, email, display_name, password_hash, role, disabled_at, created_at FROM accounts WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, email, display_name, password_hash, role, disabled_at, created_at FROM accounts ORDER BY lower(email)"
    )
    .fetch_all(db)
    .await
}

pub async fn set_password(db: impl PgExecutor<'_>, id: Uuid, hash: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE accounts SET password_hash = $2, updated_at = now() WHERE id = $1",
        id,
        hash
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_role(db: impl PgExecutor<'_>, id: Uuid, role: Option<Role>) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE accounts SET role = $2, updated_at = now() WHERE id = $1",
        id,
        role.map(Role::as_str)
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn grant_org_role(
    db: impl PgExecutor<'_>,
    id: Uuid,
    org: Uuid,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO account_org_roles (account_id, org_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, org_id) DO UPDATE SET role = EXCLUDED.role",
        id,
        org,
        role.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Disables (or re-enables) an account; disabling ends its sessions.
pub async fn set_disabled(pool: &PgPool, id: Uuid, disabled: bool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "UPDATE accounts SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END, updated_at = now() WHERE id = $1",
        id,
        disabled
    )
    .execute(&mut *tx)
    .await?;
    if disabled {
        end_sessions_of(&mut *tx, id).await?;
    }
    tx.commit().await
}

/// The account's role in each org it may see. A global role covers every
/// org; a per-org grant can raise it in one org.
pub async fn org_roles(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Vec<(Uuid, Role)>> {
    let rows = sqlx::query!(
        "SELECT o.id AS org_id,
                greatest_role(a.role, g.role) AS \"role!\"
         FROM accounts a
         CROSS JOIN orgs o
         LEFT JOIN account_org_roles g ON g.account_id = a.id AND g.org_id = o.id
         WHERE a.id = $1 AND (a.role IS NOT NULL OR g.role IS NOT NULL)",
        id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Role::parse(&r.role).map(|role| (r.org_id, role)))
        .collect())
}

// Sessions ---------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub reauth_at: DateTime<Utc>,
}

pub async fn create_session(
    db: impl PgExecutor<'_>,
    id_hash: &[u8],
    account: Uuid,
    csrf_token: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO sessions (id_hash, account_id, csrf_token, ip, user_agent) VALUES ($1, $2, $3, $4, $5)",
        id_hash,
        account,
        csrf_token,
        ip,
        user_agent
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How often a live session's idle clock is moved: every request reads the
/// session, one a minute writes it (a write per request is a WAL flush per
/// page view, and a queue on the row when one person opens many tabs).
pub const TOUCH_EVERY_SECS: i32 = 60;

/// A live session with what a request needs to authorize, in one round trip:
/// the account, every org it has a role in (with the org's name, in the
/// order the org switcher lists them), and the org of the app (`app`, an
/// `sf_apps.id`) or person (`user`, an `sf_users.uid`) the request is about.
#[derive(Debug, Clone)]
pub struct SessionScope {
    pub session: SessionRow,
    /// (org, name, role) by `lower(name), id`.
    pub orgs: Vec<(Uuid, String, Role)>,
}

/// A live session: not ended, idle less than `idle`, younger than
/// `absolute`, of an enabled account. Touching it moves the idle clock (at
/// most once per [`TOUCH_EVERY_SECS`]). The roles are those of
/// [`org_roles`], spelled again here so that a page view costs one query.
pub async fn live_session(
    db: impl PgExecutor<'_>,
    id_hash: &[u8],
    idle: chrono::Duration,
    absolute: chrono::Duration,
) -> sqlx::Result<Option<SessionScope>> {
    let row = sqlx::query!(
        r#"WITH live AS (
             SELECT s.id_hash, s.account_id, a.email, a.display_name, a.role, s.csrf_token, s.created_at,
                    s.last_seen_at, s.reauth_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.id_hash = $1 AND s.ended_at IS NULL AND a.disabled_at IS NULL
               AND s.last_seen_at > now() - $2::interval AND s.created_at > now() - $3::interval),
           touched AS (
             UPDATE sessions t SET last_seen_at = now() FROM live
             WHERE t.id_hash = live.id_hash AND live.last_seen_at <= now() - make_interval(secs => $4)
             RETURNING t.last_seen_at)
           SELECT account_id AS "account_id!", email AS "email!", display_name, role, csrf_token AS "csrf_token!",
                  created_at AS "created_at!",
                  coalesce((SELECT last_seen_at FROM touched), live.last_seen_at) AS "last_seen_at!",
                  reauth_at AS "reauth_at!",
                  coalesce(r.ids, '{}') AS "org_ids!", coalesce(r.names, '{}') AS "org_names!",
                  coalesce(r.roles, '{}') AS "org_roles!: Vec<String>"
           FROM live
           LEFT JOIN LATERAL (
             SELECT array_agg(o.id ORDER BY lower(o.name), o.id) AS ids,
                    array_agg(o.name ORDER BY lower(o.name), o.id) AS names,
                    array_agg(greatest_role(live.role, g.role) ORDER BY lower(o.name), o.id) AS roles
             FROM orgs o
             LEFT JOIN account_org_roles g ON g.account_id = live.account_id AND g.org_id = o.id
             WHERE live.role IS NOT NULL OR g.role IS NOT NULL) r ON true"#,
        id_hash,
        sqlx::postgres::types::PgInterval::try_from(idle).unwrap_or_default(),
        sqlx::postgres::types::PgInterval::try_from(absolute).unwrap_or_default(),
        f64::from(TOUCH_EVERY_SECS)
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| SessionScope {
        orgs: r
            .org_ids
            .into_iter()
            .zip(r.org_names)
            .zip(r.org_roles)
            .filter_map(|((id, name), role)| Role::parse(&role).map(|role| (id, name, role)))
            .collect(),
        session: SessionRow {
            account_id: r.account_id,
            email: r.email,
            display_name: r.display_name,
            role: r.role,
            csrf_token: r.csrf_token,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            reauth_at: r.reauth_at,
        },
    }))
}

pub async fn end_session(db: impl PgExecutor<'_>, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL",
        id_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn end_sessions_of(db: impl PgExecutor<'_>, account: Uuid) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE sessions SET ended_at = now() WHERE account_id = $1 AND ended_at IS NULL",
        account
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn mark_reauth(db: impl PgExecutor<'_>, id_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE sessions SET reauth_at = now() WHERE id_hash = $1",
        id_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

// Throttling ---------------------------------------------------------------

pub async fn record_attempt(
    db: impl PgExecutor<'_>,
    email: &str,
    ip: &str,
    success: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO signin_attempts (email, ip, success) VALUES ($1, $2, $3)",
        email,
        ip,
        success
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Failed sign-ins in the window, for the account and for the address.
pub async fn recent_failures(
    db: impl PgExecutor<'_>,
    email: &str,
    ip: &str,
    window: chrono::Duration,
) -> sqlx::Result<(i64, i64)> {
    let r = sqlx::query!(
        "SELECT count(*) FILTER (WHERE lower(email) = lower($1)) AS \"by_email!\",
                count(*) FILTER (WHERE ip = $2) AS \"by_ip!\"
         FROM signin_attempts
         WHERE NOT success AND at > now() - $3::interval AND (lower(email) = lower($1) OR ip = $2)",
        email,
        ip,
        sqlx::postgres::types::PgInterval::try_from(window).unwrap_or_default()
    )
    .fetch_one(db)
    .await?;
    Ok((r.by_email, r.by_ip))
}

// API tokens ---------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ApiTokenRow {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn create_api_token(
    db: impl PgExecutor<'_>,
    name: &str,
    hash: &[u8],
    role: Role,
    org: Option<Uuid>,
    created_by: Option<Uuid>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO api_tokens (id, name, token_hash, role, org_id, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        name,
        hash,
        role.as_str(),
        org,
        created_by
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// The live token with this hash, marked used: not revoked, and not made
/// by an account that is disabled now (such a token works again when the
/// account is enabled).
pub async fn api_token_by_hash(
    db: impl PgExecutor<'_>,
    hash: &[u8],
) -> sqlx::Result<Option<ApiTokenRow>> {
    sqlx::query_as!(
        ApiTokenRow,
        "UPDATE api_tokens t SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.created_by AND a.disabled_at IS NOT NULL)
         RETURNING id, name, role, org_id, created_at, last_used_at, revoked_at",
        hash
    )
    .fetch_optional(db)
    .await
}
