//! External Client App usage from the Connect REST usage endpoints, stored
//! per sync run and read from the org's latest succeeded run: what a failed
//! run pulled is never shown. Reconciled on read with what OauthToken gave
//! (ECA tokens are in OauthToken too).

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// One user of an ECA as Salesforce reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcaUser {
    pub user_id: String,
    pub username: Option<String>,
    pub tokens: Option<i64>,
    pub first_used_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
}

/// One ECA with usage and its users, when this run pulled them (`None`:
/// keep the last run's list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcaUsage {
    pub app_key: String,
    pub developer_name: Option<String>,
    pub users: Option<Vec<EcaUser>>,
}

/// When each ECA's users were last pulled, as of the latest succeeded run.
pub async fn last_pulled(
    db: impl PgExecutor<'_>,
    org: Uuid,
) -> sqlx::Result<std::collections::HashMap<String, DateTime<Utc>>> {
    let rows = sqlx::query!(
        "SELECT app_key, users_pulled_at AS \"at!\" FROM eca_usage_apps
         WHERE org_id = $1 AND users_pulled_at IS NOT NULL
           AND sync_run_id = (SELECT max(id) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')",
        org
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.app_key, r.at)).collect())
}

/// Stores a run's ECA usage and drops what older runs stored, except the
/// latest succeeded run's (still shown until this run succeeds).
pub async fn store(pool: &PgPool, org: Uuid, run_id: i64, apps: &[EcaUsage]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "DELETE FROM eca_usage_apps WHERE org_id = $1 AND sync_run_id <> $2
           AND sync_run_id IS DISTINCT FROM (SELECT max(id) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')",
        org,
        run_id
    )
    .execute(&mut *tx)
    .await?;
    let keys: Vec<String> = apps.iter().map(|a| a.app_key.clone()).collect();
    let names: Vec<Option<String>> = apps.iter().map(|a| a.developer_name.clone()).collect();
    let pulled: Vec<bool> = apps.iter().map(|a| a.users.is_some()).collect();
    let users: Vec<Option<i32>> = apps
        .iter()
        .map(|a| {
            a.users
                .as_ref()
                .map(|u| i32::try_from(u.len()).unwrap_or(i32::MAX))
        })
        .collect();
    let tokens: Vec<Option<i64>> = apps
        .iter()
        .map(|a| {
            a.users
                .as_ref()
                .map(|u| u.iter().filter_map(|u| u.tokens).sum())
        })
        .collect();
    // Apps whose users were not pulled this run keep the figures (and, below,
    // the user rows) of the latest succeeded run.
    sqlx::query!(
        "WITH prev AS (SELECT max(id) AS id FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')
         INSERT INTO eca_usage_apps (org_id, sync_run_id, app_key, developer_name, users, tokens, users_pulled_at)
         SELECT $1, $2, n.key, n.name,
                CASE WHEN n.pulled THEN n.users ELSE p.users END,
                CASE WHEN n.pulled THEN n.tokens ELSE p.tokens END,
                CASE WHEN n.pulled THEN now() ELSE p.users_pulled_at END
         FROM unnest($3::text[], $4::text[], $5::bool[], $6::int[], $7::bigint[]) AS n(key, name, pulled, users, tokens)
         LEFT JOIN eca_usage_apps p ON p.org_id = $1 AND p.sync_run_id = (SELECT id FROM prev) AND p.app_key = n.key",
        org,
        run_id,
        &keys,
        &names as &[Option<String>],
        &pulled,
        &users as &[Option<i32>],
        &tokens as &[Option<i64>]
    )
    .execute(&mut *tx)
    .await?;
    let kept: Vec<String> = apps
        .iter()
        .filter(|a| a.users.is_none())
        .map(|a| a.app_key.clone())
        .collect();
    sqlx::query!(
        "INSERT INTO eca_usage_users (org_id, sync_run_id, app_key, user_id, username, tokens, first_used_at, last_used_at, use_count)
         SELECT org_id, $2, app_key, user_id, username, tokens, first_used_at, last_used_at, use_count
         FROM eca_usage_users
         WHERE org_id = $1 AND app_key = ANY($3)
           AND sync_run_id = (SELECT max(id) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')",
        org,
        run_id,
        &kept
    )
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(&str, &EcaUser)> = apps
        .iter()
        .flat_map(|a| {
            a.users
                .iter()
                .flatten()
                .map(move |u| (a.app_key.as_str(), u))
        })
        .collect();
    for chunk in rows.chunks(5_000) {
        let app: Vec<String> = chunk.iter().map(|r| r.0.to_owned()).collect();
        let user: Vec<String> = chunk.iter().map(|r| r.1.user_id.clone()).collect();
        let username: Vec<Option<String>> = chunk.iter().map(|r| r.1.username.clone()).collect();
        let tokens: Vec<Option<i64>> = chunk.iter().map(|r| r.1.tokens).collect();
        let first: Vec<Option<DateTime<Utc>>> = chunk.iter().map(|r| r.1.first_used_at).collect();
        let last: Vec<Option<DateTime<Utc>>> = chunk.iter().map(|r| r.1.last_used_at).collect();
        let uses: Vec<Option<i64>> = chunk.iter().map(|r| r.1.use_count).collect();
        sqlx::query!(
            "INSERT INTO eca_usage_users (org_id, sync_run_id, app_key, user_id, username, tokens, first_used_at, last_used_at, use_count)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[], $8::timestamptz[], $9::bigint[])
             ON CONFLICT DO NOTHING",
            org,
            run_id,
            &app,
            &user,
            &username as &[Option<String>],
            &tokens as &[Option<i64>],
            &first as &[Option<DateTime<Utc>>],
            &last as &[Option<DateTime<Utc>>],
            &uses as &[Option<i64>]
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// An ECA's usage as Salesforce reports it, next to what OauthToken gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcaAppUsage {
    /// When Salesforce gave the per-user figures; `None` (with `users` and
    /// `tokens`): listed with usage, users not pulled yet.
    pub synced_at: Option<DateTime<Utc>>,
    pub users: Option<i32>,
    pub tokens: Option<i64>,
    /// Live tokens of the app in OauthToken, and their distinct users.
    pub oauth_tokens: i64,
    pub oauth_users: i64,
    /// OauthToken users the usage endpoint does not list.
    pub only_in_oauth_token: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcaUserRow {
    pub user_id: String,
    pub uid: Option<i64>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub tokens: Option<i64>,
    pub oauth_tokens: i64,
    pub first_used_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
}

impl EcaAppUsage {
    /// Salesforce's usage endpoint and OauthToken disagree on this app.
    pub fn mismatch(&self) -> bool {
        self.tokens.is_some_and(|t| t != self.oauth_tokens) || self.only_in_oauth_token > 0
    }
}

impl EcaUserRow {
    /// Salesforce's usage endpoint and OauthToken disagree on this user.
    pub fn mismatch(&self) -> bool {
        self.tokens != Some(self.oauth_tokens)
    }
}

/// Counts, for the ECAs a sync run stored (`run`; `None`: the org's latest
/// succeeded run), what OauthToken holds: live tokens, their users, and the
/// users Salesforce's usage list lacks. Limited to `apps` when given. Run
/// after a sync's snapshot is in and when an action marks tokens gone, so
/// the app page reads three numbers instead of counting per request.
pub async fn count_oauth(
    db: impl PgExecutor<'_>,
    org: Uuid,
    run: Option<i64>,
    apps: Option<&[String]>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "WITH run AS (SELECT coalesce($2, (SELECT max(id) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')) AS id),
              c AS (
                SELECT e.app_key, coalesce(sum(l.n), 0)::bigint AS tokens, count(l.user_id) AS users,
                       count(l.user_id) FILTER (WHERE NOT EXISTS (
                           SELECT 1 FROM eca_usage_users u WHERE u.org_id = $1 AND u.sync_run_id = e.sync_run_id
                             AND u.app_key = e.app_key AND u.user_id = l.user_id)) AS only
                FROM eca_usage_apps e
                JOIN run ON e.sync_run_id = run.id
                LEFT JOIN LATERAL (
                    SELECT t.user_id, count(*) AS n FROM sf_tokens t
                    WHERE t.org_id = $1 AND t.app_key = e.app_key AND t.gone_at IS NULL
                    GROUP BY t.user_id) l ON true
                WHERE e.org_id = $1 AND ($3::text[] IS NULL OR e.app_key = ANY($3))
                GROUP BY e.app_key, e.sync_run_id)
         UPDATE eca_usage_apps e SET oauth_tokens = c.tokens, oauth_users = c.users, only_in_oauth_token = c.only
         FROM c, run
         WHERE e.org_id = $1 AND e.sync_run_id = run.id AND e.app_key = c.app_key",
        org,
        run,
        apps
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// The app's usage from the latest succeeded sync, `None` when that sync
/// stored none for it (not an ECA, or no usage reported).
pub async fn for_app(
    db: impl PgExecutor<'_> + Copy,
    org: Uuid,
    app_key: &str,
    limit: i64,
) -> sqlx::Result<Option<(EcaAppUsage, Vec<EcaUserRow>)>> {
    let app = sqlx::query!(
        "WITH run AS (SELECT max(id) AS id FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')
         SELECT e.sync_run_id, e.users_pulled_at AS synced_at, e.users, e.tokens,
                e.oauth_tokens, e.oauth_users, e.only_in_oauth_token
         FROM eca_usage_apps e, run
         WHERE e.org_id = $1 AND e.sync_run_id = run.id AND e.app_key = $2",
        org,
        app_key
    )
    .fetch_optional(db)
    .await?;
    let Some(mut app) = app else {
        return Ok(None);
    };
    if app.oauth_tokens.is_none() || app.oauth_users.is_none() || app.only_in_oauth_token.is_none()
    {
        // Not counted yet (a sync interrupted between its snapshot and the
        // count): count now, and keep it for the next reader.
        count_oauth(db, org, Some(app.sync_run_id), Some(&[app_key.to_owned()])).await?;
        let again = sqlx::query!(
            "SELECT oauth_tokens, oauth_users, only_in_oauth_token FROM eca_usage_apps
             WHERE org_id = $1 AND sync_run_id = $2 AND app_key = $3",
            org,
            app.sync_run_id,
            app_key
        )
        .fetch_one(db)
        .await?;
        app.oauth_tokens = again.oauth_tokens;
        app.oauth_users = again.oauth_users;
        app.only_in_oauth_token = again.only_in_oauth_token;
    }
    let users = sqlx::query_as!(
        EcaUserRow,
        "SELECT e.user_id, u.uid AS \"uid?\", u.name AS \"name?\", e.username, e.tokens,
                (SELECT count(*) FROM sf_tokens t WHERE t.org_id = $1 AND t.user_id = e.user_id AND t.app_key = $3
                   AND t.gone_at IS NULL) AS \"oauth_tokens!\",
                e.first_used_at, e.last_used_at, e.use_count
         FROM eca_usage_users e
         LEFT JOIN sf_users u ON u.org_id = e.org_id AND u.id = e.user_id
         WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.app_key = $3
         ORDER BY e.last_used_at DESC NULLS LAST, e.user_id
         LIMIT $4",
        org,
        app.sync_run_id,
        app_key,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(Some((
        EcaAppUsage {
            synced_at: app.synced_at,
            users: app.users,
            tokens: app.tokens,
            oauth_tokens: app.oauth_tokens.unwrap_or(0),
            oauth_users: app.oauth_users.unwrap_or(0),
            only_in_oauth_token: app.only_in_oauth_token.unwrap_or(0),
        },
        users,
    )))
}
