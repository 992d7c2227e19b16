//! Account administration and API tokens, each change written together with
//! its audit entry (one transaction: no change without its entry).

use chrono::{DateTime, Utc};
use cockpit_domain::role::Role;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, NewEntry};

/// One account as the administration page lists it.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub id: Uuid,
    pub email: String,
    pub role: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_signin_at: Option<DateTime<Utc>>,
    pub live_sessions: i64,
}

/// A per-org grant, with the org's name.
#[derive(Debug, Clone)]
pub struct OrgGrant {
    pub account_id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub role: String,
}

/// Every account (or one), with its last sign-in and the sessions that are
/// still live under the given idle and absolute limits.
pub async fn accounts(
    db: impl PgExecutor<'_>,
    only: Option<Uuid>,
    idle: chrono::Duration,
    absolute: chrono::Duration,
) -> sqlx::Result<Vec<AccountOverview>> {
    sqlx::query_as!(
        AccountOverview,
        r#"SELECT a.id, a.email, a.role, a.disabled_at, a.created_at,
                  (SELECT max(s.created_at) FROM sessions s WHERE s.account_id = a.id) AS last_signin_at,
                  (SELECT count(*) FROM sessions s
                   WHERE s.account_id = a.id AND s.ended_at IS NULL AND a.disabled_at IS NULL
                     AND s.last_seen_at > now() - $2::interval AND s.created_at > now() - $3::interval) AS "live_sessions!"
           FROM accounts a
           WHERE ($1::uuid IS NULL OR a.id = $1)
           ORDER BY lower(a.email)"#,
        only,
        sqlx::postgres::types::PgInterval::try_from(idle).unwrap_or_default(),
        sqlx::postgres::types::PgInterval::try_from(absolute).unwrap_or_default()
    )
    .fetch_all(db)
    .await
}

/// Per-org grants of every account (or one), by org name.
pub async fn org_grants(
    db: impl PgExecutor<'_>,
    only: Option<Uuid>,
) -> sqlx::Result<Vec<OrgGrant>> {
    sqlx::query_as!(
        OrgGrant,
        "SELECT g.account_id, g.org_id, o.name AS org_name, g.role
         FROM account_org_roles g JOIN orgs o ON o.id = g.org_id
         WHERE ($1::uuid IS NULL OR g.account_id = $1)
         ORDER BY lower(o.name), o.id",
        only
    )
    .fetch_all(db)
    .await
}

/// A change to an account, as the administration pages and the CLI make it.
#[derive(Debug, Clone)]
pub enum AccountChange {
    /// The role in every org; `None` leaves only per-org grants.
    Role(Option<Role>),
    GrantOrg(Uuid, Role),
    RemoveOrg(Uuid),
    Disable,
    Enable,
    EndSessions,
}

impl AccountChange {
    fn audit_action(&self) -> &'static str {
        match self {
            AccountChange::Role(_) => "account.role_changed",
            AccountChange::GrantOrg(..) => "account.org_role_granted",
            AccountChange::RemoveOrg(_) => "account.org_role_removed",
            AccountChange::Disable => "account.disabled",
            AccountChange::Enable => "account.enabled",
            AccountChange::EndSessions => "account.sessions_ended",
        }
    }
}

/// Applies a change and its audit entry in one transaction. Disabling ends
/// the account's sessions. Returns the number of sessions ended, if any.
pub async fn change_account(
    pool: &PgPool,
    actor: &str,
    account: Uuid,
    change: &AccountChange,
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let email = sqlx::query_scalar!(
        "SELECT email FROM accounts WHERE id = $1 FOR UPDATE",
        account
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut ended = 0;
    let mut target = json!({ "account": account, "email": email });
    let mut org_id = None;
    match change {
        AccountChange::Role(role) => {
            crate::accounts::set_role(&mut *tx, account, *role).await?;
            target["role"] = json!(role.map(Role::as_str));
        }
        AccountChange::GrantOrg(org, role) => {
            crate::accounts::grant_org_role(&mut *tx, account, *org, *role).await?;
            target["role"] = json!(role.as_str());
            org_id = Some(*org);
        }
        AccountChange::RemoveOrg(org) => {
            sqlx::query!(
                "DELETE FROM account_org_roles WHERE account_id = $1 AND org_id = $2",
                account,
                org
            )
            .execute(&mut *tx)
            .await?;
            org_id = Some(*org);
        }
        AccountChange::Disable | AccountChange::Enable => {
            let disabled = matches!(change, AccountChange::Disable);
            sqlx::query!(
                "UPDATE accounts SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END, updated_at = now() WHERE id = $1",
                account,
                disabled
            )
            .execute(&mut *tx)
            .await?;
            if disabled {
                ended = crate::accounts::end_sessions_of(&mut *tx, account).await?;
            }
            // The account's API tokens stop working while it is disabled
            // (`api_token_by_hash` refuses them) and work again when it is
            // enabled: the entry says how many.
            let tokens = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM api_tokens WHERE created_by = $1 AND revoked_at IS NULL"#,
                account
            )
            .fetch_one(&mut *tx)
            .await?;
            if tokens > 0 {
                let key = if disabled {
                    "api_tokens_suspended"
                } else {
                    "api_tokens_resumed"
                };
                target[key] = json!(tokens);
            }
        }
        AccountChange::EndSessions => {
            ended = crate::accounts::end_sessions_of(&mut *tx, account).await?;
        }
    }
    if ended > 0 {
        target["sessions_ended"] = json!(ended);
    }
    append(&mut tx, actor, change.audit_action(), org_id, target).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Creates a local account with its audit entry.
pub async fn create_account(
    pool: &PgPool,
    actor: &str,
    email: &str,
    password_hash: &str,
    role: Option<Role>,
) -> sqlx::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let id = crate::accounts::create(&mut *tx, email, None, Some(password_hash), role).await?;
    append(
        &mut tx,
        actor,
        "account.created",
        None,
        json!({ "account": id, "email": email.trim(), "role": role.map(Role::as_str) }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn append(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    org_id: Option<Uuid>,
    target: Value,
) -> sqlx::Result<()> {
    audit::append(
        conn,
        &NewEntry {
            actor,
            action,
            org_id,
            target,
            reason: None,
            outcome: Some("succeeded"),
            detail: json!({}),
        },
    )
    .await?;
    Ok(())
}

// API tokens ---------------------------------------------------------------

/// An API token as listed, with the org it is limited to.
#[derive(Debug, Clone)]
pub struct ApiTokenInfo {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub org_id: Option<Uuid>,
    pub org_name: Option<String>,
    pub created_by: Option<String>,
    /// The account that created the token is disabled: the token is refused
    /// until it is enabled again.
    pub creator_disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn api_tokens(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ApiTokenInfo>> {
    sqlx::query_as!(
        ApiTokenInfo,
        r#"SELECT t.id, t.name, t.role, t.org_id, o.name AS "org_name?", a.email AS "created_by?",
                  (a.disabled_at IS NOT NULL) AS "creator_disabled!", t.created_at, t.last_used_at, t.revoked_at
           FROM api_tokens t
           LEFT JOIN orgs o ON o.id = t.org_id
           LEFT JOIN accounts a ON a.id = t.created_by
           ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC, t.id"#
    )
    .fetch_all(db)
    .await
}

/// Stores a new token's hash with its audit entry (the token itself is
/// never stored nor audited).
pub async fn create_api_token(
    pool: &PgPool,
    actor: &str,
    name: &str,
    hash: &[u8],
    role: Role,
    org: Option<Uuid>,
    created_by: Option<Uuid>,
) -> sqlx::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let id = crate::accounts::create_api_token(&mut *tx, name, hash, role, org, created_by).await?;
    append(
        &mut tx,
        actor,
        "api_token.created",
        org,
        json!({ "api_token": id, "name": name, "role": role.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Revokes a token with its audit entry; `false` if it was unknown or
/// revoked already (nothing is written then).
pub async fn revoke_api_token(pool: &PgPool, actor: &str, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING name, org_id",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(t) = revoked else {
        tx.rollback().await?;
        return Ok(false);
    };
    append(
        &mut tx,
        actor,
        "api_token.revoked",
        t.org_id,
        json!({ "api_token": id, "name": t.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
