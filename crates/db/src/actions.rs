//! Actions (revoke, block) as durable intents: the action, its items and its
//! audit entry are committed together before anything is sent to Salesforce;
//! if the audit entry cannot be written, the action does not exist.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, NewEntry};

/// What an admin can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// One authorization.
    RevokeToken,
    /// All of one user's authorizations for one app.
    RevokeUserApp,
    /// All of one user's authorizations in the org (offboarding).
    RevokeUserAll,
    /// Every authorization of an app.
    RevokeAppAll,
    BlockApp,
    UnblockApp,
    /// A selection from a report.
    BulkRevoke,
    /// Every authorization of an app unused for at least `idle_days`,
    /// chosen on the server when the action is created.
    RevokeAppStale,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RevokeToken => "revoke_token",
            ActionKind::RevokeUserApp => "revoke_user_app",
            ActionKind::RevokeUserAll => "revoke_user_all",
            ActionKind::RevokeAppAll => "revoke_app_all",
            ActionKind::BlockApp => "block_app",
            ActionKind::UnblockApp => "unblock_app",
            ActionKind::BulkRevoke => "bulk_revoke",
            ActionKind::RevokeAppStale => "revoke_app_stale",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        [
            ActionKind::RevokeToken,
            ActionKind::RevokeUserApp,
            ActionKind::RevokeUserAll,
            ActionKind::RevokeAppAll,
            ActionKind::BlockApp,
            ActionKind::UnblockApp,
            ActionKind::BulkRevoke,
            ActionKind::RevokeAppStale,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::RevokeToken => "Revoke one authorization",
            ActionKind::RevokeUserApp => "Revoke a user's authorizations for an app",
            ActionKind::RevokeUserAll => "Revoke all of a user's authorizations",
            ActionKind::RevokeAppAll => "Revoke all authorizations of an app",
            ActionKind::BlockApp => "Block an app",
            ActionKind::UnblockApp => "Unblock an app",
            ActionKind::BulkRevoke => "Revoke selected authorizations",
            ActionKind::RevokeAppStale => "Revoke an app's stale authorizations",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewAction<'a> {
    pub org_id: Uuid,
    pub kind: ActionKind,
    pub app_key: Option<&'a str>,
    pub user_id: Option<&'a str>,
    /// For `RevokeToken` and `BulkRevoke`.
    pub token_ids: &'a [String],
    /// For `RevokeAppStale`: authorizations unused for at least this many
    /// days (never-used ones count from when they were granted, as on the
    /// stale report).
    pub idle_days: Option<i32>,
    pub requested_by: &'a str,
    pub reason: &'a str,
    pub idempotency_key: &'a str,
}

/// What an action would touch, for the confirmation page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlastRadius {
    pub tokens: i64,
    pub users: i64,
    /// The app's API requests on the latest day of usage logs.
    pub requests_24h: i64,
    /// Names of the apps whose authorizations are covered.
    pub apps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub id: i64,
    /// False when the same form was submitted before: nothing new was created.
    pub created: bool,
    pub items: i64,
    /// Waiting for a second admin (the two-person rule): no job yet.
    pub awaiting: bool,
}

/// The live authorizations an action covers.
async fn target_tokens(
    db: impl PgExecutor<'_>,
    a: &NewAction<'_>,
) -> sqlx::Result<Vec<(String, String, String)>> {
    let rows = sqlx::query!(
        "SELECT id, app_key, user_id FROM sf_tokens
         WHERE org_id = $1 AND gone_at IS NULL
           AND CASE $2::text
                 WHEN 'revoke_token' THEN id = ANY($5)
                 WHEN 'bulk_revoke' THEN id = ANY($5)
                 WHEN 'revoke_user_app' THEN user_id = $4 AND app_key = $3
                 WHEN 'revoke_user_all' THEN user_id = $4
                 WHEN 'revoke_app_all' THEN app_key = $3
                 WHEN 'revoke_app_stale' THEN app_key = $3
                      AND coalesce(last_used_at, created_at, first_seen_at) < now() - make_interval(days => $6)
                 WHEN 'block_app' THEN app_key = $3
                 ELSE false END
         ORDER BY id",
        a.org_id,
        a.kind.as_str(),
        a.app_key,
        a.user_id,
        a.token_ids,
        a.idle_days
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.app_key, r.user_id))
        .collect())
}

pub async fn blast_radius(db: &PgPool, a: &NewAction<'_>) -> sqlx::Result<BlastRadius> {
    let tokens = target_tokens(db, a).await?;
    let mut users: Vec<&str> = tokens.iter().map(|t| t.2.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let mut apps: Vec<&str> = tokens
        .iter()
        .map(|t| t.1.as_str())
        .chain(a.app_key)
        .collect();
    apps.sort_unstable();
    apps.dedup();
    let apps: Vec<String> = apps.into_iter().map(str::to_owned).collect();
    let requests = sqlx::query_scalar!(
        "SELECT coalesce(sum(requests_24h), 0)::bigint AS \"n!\" FROM app_summary WHERE org_id = $1 AND app_key = ANY($2)",
        a.org_id,
        &apps
    )
    .fetch_one(db)
    .await?;
    let names = sqlx::query_scalar!(
        "SELECT name FROM sf_apps WHERE org_id = $1 AND app_key = ANY($2) ORDER BY lower(name)",
        a.org_id,
        &apps
    )
    .fetch_all(db)
    .await?;
    Ok(BlastRadius {
        tokens: tokens.len() as i64,
        users: users.len() as i64,
        requests_24h: requests,
        apps: names,
    })
}

/// The idempotency key was used by the same requester for an action of
/// another org or kind: nothing was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyConflict;

/// Records the action, its items, its audit entry and the job that will run
/// it, in one transaction. The same key again from the same requester, for
/// the same org and kind, returns the first action; for another org or kind
/// it is a [`KeyConflict`]. A key is the requester's own: another
/// requester's action with the same key is another action.
pub async fn request(
    pool: &PgPool,
    a: &NewAction<'_>,
) -> sqlx::Result<Result<Requested, KeyConflict>> {
    let mut tx = pool.begin().await?;
    let requested = request_in(&mut tx, a).await?;
    tx.commit().await?;
    Ok(requested)
}

/// [`request`] inside the caller's transaction, for callers that write
/// more with it (a review's items name the action they became).
pub async fn request_in(
    tx: &mut PgConnection,
    a: &NewAction<'_>,
) -> sqlx::Result<Result<Requested, KeyConflict>> {
    request_in_with(tx, a, &|_, _| None).await
}

/// [`request`] under the two-person rule: `wait` says, from the kind and
/// the number of authorizations the action covers, whether it waits for a
/// second admin and for how long. A waiting action has its items and its
/// audit entry, and an approval request instead of a job.
pub async fn request_with_rule(
    pool: &PgPool,
    a: &NewAction<'_>,
    wait: &(dyn Fn(ActionKind, i64) -> Option<chrono::Duration> + Sync),
) -> sqlx::Result<Result<Requested, KeyConflict>> {
    let mut tx = pool.begin().await?;
    let requested = request_in_with(&mut tx, a, wait).await?;
    tx.commit().await?;
    Ok(requested)
}

/// [`request_in`] under the two-person rule (see [`request_with_rule`]).
pub async fn request_in_with(
    tx: &mut PgConnection,
    a: &NewAction<'_>,
    wait: &(dyn Fn(ActionKind, i64) -> Option<chrono::Duration> + Sync),
) -> sqlx::Result<Result<Requested, KeyConflict>> {
    let id = sqlx::query_scalar!(
        "INSERT INTO actions (org_id, kind, app_key, user_id, requested_by, reason, idempotency_key, idle_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (requested_by, idempotency_key) DO NOTHING
         RETURNING id",
        a.org_id,
        a.kind.as_str(),
        a.app_key,
        a.user_id,
        a.requested_by,
        a.reason,
        a.idempotency_key,
        a.idle_days
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        let existing = sqlx::query!(
            "SELECT a.id, a.org_id, a.kind, a.status, (SELECT count(*) FROM action_items i WHERE i.action_id = a.id) AS \"items!\"
             FROM actions a WHERE requested_by = $1 AND idempotency_key = $2",
            a.requested_by,
            a.idempotency_key
        )
        .fetch_one(&mut *tx)
        .await?;
        if existing.org_id != a.org_id || existing.kind != a.kind.as_str() {
            return Ok(Err(KeyConflict));
        }
        return Ok(Ok(Requested {
            id: existing.id,
            created: false,
            items: existing.items,
            awaiting: existing.status == "awaiting_approval",
        }));
    };
    let app = match a.app_key {
        Some(k) => {
            sqlx::query!(
                "SELECT name, kind FROM sf_apps WHERE org_id = $1 AND app_key = $2",
                a.org_id,
                k
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        None => None,
    };
    let app_name = app.as_ref().map(|r| r.name.clone());
    // A block stops the app (a BlacklistedConsumer, or an External Client
    // App's policies turned off); its authorizations are kept and work again
    // after an unblock, so there is nothing to revoke and nothing to verify
    // per authorization. Containing an incident revokes them separately.
    let tokens = if a.kind == ActionKind::BlockApp {
        Vec::new()
    } else {
        target_tokens(&mut *tx, a).await?
    };
    let (ids, rest): (Vec<String>, Vec<(String, String)>) =
        tokens.into_iter().map(|(i, app, u)| (i, (app, u))).unzip();
    let (apps, users): (Vec<String>, Vec<String>) = rest.into_iter().unzip();
    sqlx::query!(
        "INSERT INTO action_items (action_id, token_id, app_key, user_id)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])",
        id,
        &ids,
        &apps,
        &users
    )
    .execute(&mut *tx)
    .await?;
    let mut distinct_users = users.clone();
    distinct_users.sort_unstable();
    distinct_users.dedup();
    let expires_after = wait(a.kind, ids.len() as i64);
    if let Some(after) = expires_after {
        sqlx::query!(
            "UPDATE actions SET status = 'awaiting_approval' WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO approvals (kind, action_id, requested_by, reason, expires_at)
             VALUES ('action', $1, $2, $3, now() + make_interval(secs => $4))",
            id,
            a.requested_by,
            a.reason,
            after.num_seconds() as f64
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut *tx,
        &NewEntry {
            actor: a.requested_by,
            action: "action.requested",
            org_id: Some(a.org_id),
            target: serde_json::json!({
                "action": id,
                "kind": a.kind.as_str(),
                "app_key": a.app_key,
                "app": app_name,
                "user_id": a.user_id,
                "idle_days": a.idle_days,
                "authorizations": ids.len(),
                "users": distinct_users.len(),
            }),
            reason: Some(a.reason),
            outcome: Some(if expires_after.is_some() {
                "awaiting_approval"
            } else {
                "pending"
            }),
            detail: serde_json::json!({ "token_ids": if ids.len() <= 100 { serde_json::json!(ids) } else { serde_json::Value::Null } }),
        },
    )
    .await?;
    if expires_after.is_none() {
        queue(&mut *tx, a.org_id, id).await?;
    }
    Ok(Ok(Requested {
        id,
        created: true,
        items: ids.len() as i64,
        awaiting: expires_after.is_some(),
    }))
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionRow {
    pub id: i64,
    pub org_id: Uuid,
    pub kind: String,
    pub app_key: Option<String>,
    pub user_id: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub reason: String,
    pub status: String,
    pub detail: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// For `revoke_app_stale`: how long the authorizations had been unused.
    pub idle_days: Option<i32>,
    /// The most calls in flight at once, over all runs.
    pub peak_in_flight: Option<i32>,
    /// The mean number in flight during the last run.
    pub mean_in_flight: Option<f32>,
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<ActionRow>> {
    sqlx::query_as!(
        ActionRow,
        "SELECT id, org_id, kind, app_key, user_id, requested_by, requested_at, reason, status, detail, started_at, finished_at, idle_days,
                peak_in_flight, mean_in_flight
         FROM actions WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Whether the action is a containment's revocation whose block, in the
/// same org, has not finished yet.
pub async fn block_of_containment_open(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
             SELECT 1 FROM actions a JOIN actions b
               ON b.incident_id = a.incident_id AND b.org_id = a.org_id
                  AND b.app_key IS NOT DISTINCT FROM a.app_key
             WHERE a.id = $1 AND a.kind = 'revoke_app_all' AND b.kind = 'block_app'
               AND b.status IN ('pending', 'running')) AS "open!""#,
        id
    )
    .fetch_one(db)
    .await
}

/// The job that runs the action.
pub(crate) async fn queue(db: impl PgExecutor<'_>, org: Uuid, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO jobs (kind, org_id, payload) VALUES ('action', $1, jsonb_build_object('action_id', $2::bigint))",
        org,
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records how many calls a run of the action kept in flight.
pub async fn note_in_flight(
    db: impl PgExecutor<'_>,
    id: i64,
    peak: usize,
    mean: f64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE actions SET peak_in_flight = greatest(coalesce(peak_in_flight, 0), $2),
                            mean_in_flight = $3
         WHERE id = $1",
        id,
        i32::try_from(peak).unwrap_or(i32::MAX),
        mean as f32
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ItemCounts {
    pub pending: i64,
    pub revoked: i64,
    pub gone: i64,
    pub failed: i64,
}

pub async fn item_counts(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<ItemCounts> {
    let r = sqlx::query!(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS \"pending!\",
                count(*) FILTER (WHERE status = 'revoked') AS \"revoked!\",
                count(*) FILTER (WHERE status = 'gone') AS \"gone!\",
                count(*) FILTER (WHERE status = 'failed') AS \"failed!\"
         FROM action_items WHERE action_id = $1",
        id
    )
    .fetch_one(db)
    .await?;
    Ok(ItemCounts {
        pending: r.pending,
        revoked: r.revoked,
        gone: r.gone,
        failed: r.failed,
    })
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemRow {
    pub token_id: String,
    pub app_key: String,
    pub user_id: String,
    pub status: String,
    pub attempts: i32,
    pub error: Option<String>,
}

pub async fn items(
    db: impl PgExecutor<'_>,
    id: i64,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        "SELECT token_id, app_key, user_id, status, attempts, error FROM action_items
         WHERE action_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY token_id LIMIT $3",
        id,
        status,
        limit
    )
    .fetch_all(db)
    .await
}

/// The pending items that have been tried fewer than `max_attempts` times,
/// in token order after `after` (`""` from the start): the executor's next
/// batch. Items past their attempts are not in the way of the ones behind
/// them.
pub async fn items_to_try(
    db: impl PgExecutor<'_>,
    id: i64,
    max_attempts: i32,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        "SELECT token_id, app_key, user_id, status, attempts, error FROM action_items
         WHERE action_id = $1 AND status = 'pending' AND attempts < $2 AND token_id > $3
         ORDER BY token_id LIMIT $4",
        id,
        max_attempts,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// Adds authorizations granted after an action was planned to it (token,
/// user), so they are revoked too; the ones it has already are left as
/// they are. Returns how many were new.
pub async fn add_items(
    db: impl PgExecutor<'_>,
    id: i64,
    app_key: &str,
    tokens: &[(String, String)],
) -> sqlx::Result<u64> {
    let (ids, users): (Vec<String>, Vec<String>) = tokens.iter().cloned().unzip();
    Ok(sqlx::query!(
        "INSERT INTO action_items (action_id, token_id, app_key, user_id)
         SELECT $1, t, $2, u FROM unnest($3::text[], $4::text[]) AS x(t, u)
         ON CONFLICT (action_id, token_id) DO NOTHING",
        id,
        app_key,
        &ids,
        &users
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// The revoke attempts recorded on an action's items so far: it grows with
/// every answer recorded, so a run that moved it made progress.
pub async fn attempts_made(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "SELECT coalesce(sum(attempts), 0)::bigint AS \"n!\" FROM action_items WHERE action_id = $1",
        id
    )
    .fetch_one(db)
    .await
}

/// Ends every item still pending as failed with `reason`: an action that
/// stops for good leaves no item pending, so the page says what happened to
/// each authorization and "Retry what failed" can take them up again.
pub async fn fail_pending(db: impl PgExecutor<'_>, id: i64, reason: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "UPDATE action_items SET status = 'failed', error = coalesce(error, $2), done_at = now()
         WHERE action_id = $1 AND status = 'pending'",
        id,
        reason
    )
    .execute(db)
    .await?
    .rows_affected())
}

pub async fn mark_running(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE actions SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = $1 AND status IN ('pending', 'running')",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records what happened to one authorization.
pub async fn set_item(
    db: impl PgExecutor<'_>,
    id: i64,
    token: &str,
    status: &str,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE action_items SET status = $3, error = $4, attempts = attempts + 1,
                done_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
         WHERE action_id = $1 AND token_id = $2",
        id,
        token,
        status,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records several answers at once, as [`set_item`] does one: (token,
/// status, error) each.
pub async fn set_items(
    db: impl PgExecutor<'_>,
    id: i64,
    answers: &[(String, &'static str, Option<String>)],
) -> sqlx::Result<()> {
    if answers.is_empty() {
        return Ok(());
    }
    let tokens: Vec<&str> = answers.iter().map(|a| a.0.as_str()).collect();
    let statuses: Vec<&str> = answers.iter().map(|a| a.1).collect();
    let errors: Vec<Option<&str>> = answers.iter().map(|a| a.2.as_deref()).collect();
    sqlx::query!(
        "UPDATE action_items i SET status = x.s, error = x.e, attempts = i.attempts + 1,
                done_at = CASE WHEN x.s = 'pending' THEN NULL ELSE now() END
         FROM unnest($2::text[], $3::text[], $4::text[]) AS x(t, s, e)
         WHERE i.action_id = $1 AND i.token_id = x.t",
        id,
        &tokens as &[&str],
        &statuses as &[&str],
        &errors as &[Option<&str>]
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Finishes an action: its outcome, the revoked tokens marked gone with a
/// history event each, and the audit entry — one transaction.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    actor: &str,
    detail: Option<&str>,
) -> sqlx::Result<String> {
    let mut tx = pool.begin().await?;
    let action = get(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let counts = item_counts(&mut *tx, id).await?;
    let blockish = matches!(action.kind.as_str(), "block_app" | "unblock_app");
    let status = if counts.failed + counts.pending > 0 {
        if counts.revoked + counts.gone > 0 {
            "partially_failed"
        } else {
            "failed"
        }
    } else if detail.is_some() && (blockish || counts.revoked + counts.gone == 0) {
        // `detail` is the error that stopped the action.
        "failed"
    } else {
        "succeeded"
    };
    sqlx::query!(
        "UPDATE actions SET status = $2, detail = $3, finished_at = now() WHERE id = $1",
        id,
        status,
        detail
    )
    .execute(&mut *tx)
    .await?;
    let gone_apps: Vec<String> = sqlx::query_scalar!(
        "WITH gone AS (
            UPDATE sf_tokens t SET gone_at = now()
            FROM action_items i
            WHERE i.action_id = $1 AND i.status IN ('revoked', 'gone') AND t.org_id = $2 AND t.id = i.token_id
              AND t.gone_at IS NULL
            RETURNING t.id, t.app_key, t.user_id)
         , logged AS (
            INSERT INTO events (org_id, at, kind, app_key, user_id, token_id, detail)
            SELECT $2, now(), 'token_gone', app_key, user_id, id, jsonb_build_object('action', $1::bigint) FROM gone)
         SELECT DISTINCT app_key AS \"app_key!\" FROM gone",
        id,
        action.org_id
    )
    .fetch_all(&mut *tx)
    .await?;
    // The overview's counts of the apps whose tokens just went, and the ECA
    // pages' comparison of OauthToken with Salesforce's usage.
    crate::sync::refresh_app_summaries(&mut tx, action.org_id, &gone_apps).await?;
    crate::eca_usage::count_oauth(&mut *tx, action.org_id, None, Some(&gone_apps)).await?;
    if status != "succeeded" {
        let n = crate::notify::Notice::new(
            cockpit_domain::notify::EventKind::ActionFailed,
            Some(action.org_id),
            format!(
                "Action #{id} ({}) finished {}: {} failed, {} done",
                action.kind,
                status.replace('_', " "),
                counts.failed + counts.pending,
                counts.revoked + counts.gone
            ),
        )
        .detail(serde_json::json!({
            "action": id, "action_kind": action.kind, "status": status, "failed": counts.failed,
            "not_tried": counts.pending, "revoked": counts.revoked, "already_gone": counts.gone,
            "error": detail.map(|d| d.chars().take(300).collect::<String>()),
        }))
        .link(format!("/actions/{id}"));
        crate::notify::emit(&mut tx, &n).await?;
    }
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "action.completed",
            org_id: Some(action.org_id),
            target: serde_json::json!({ "action": id, "kind": action.kind, "app_key": action.app_key, "user_id": action.user_id }),
            reason: None,
            outcome: Some(status),
            detail: serde_json::json!({
                "revoked": counts.revoked, "already_gone": counts.gone, "failed": counts.failed,
                "pending": counts.pending, "error": detail,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(status.to_owned())
}

/// Puts an action's failed items back to work (the "retry" button).
pub async fn retry(pool: &PgPool, id: i64, actor: &str) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let action = get(&mut *tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    // Only a finished action is retried: one waiting for approval, queued,
    // running, rejected or expired is left as it is.
    if !matches!(
        action.status.as_str(),
        "succeeded" | "partially_failed" | "failed"
    ) {
        tx.rollback().await?;
        return Ok(0);
    }
    let n = sqlx::query!(
        "UPDATE action_items SET status = 'pending', error = NULL, done_at = NULL, attempts = 0 WHERE action_id = $1 AND status = 'failed'",
        id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    let blockish = matches!(action.kind.as_str(), "block_app" | "unblock_app");
    if n == 0 && !blockish {
        tx.rollback().await?;
        return Ok(0);
    }
    sqlx::query!(
        "UPDATE actions SET status = 'pending', detail = NULL, finished_at = NULL WHERE id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "action.retried",
            org_id: Some(action.org_id),
            target: serde_json::json!({ "action": id, "kind": action.kind }),
            reason: None,
            outcome: Some("pending"),
            detail: serde_json::json!({ "items": n }),
        },
    )
    .await?;
    queue(&mut *tx, action.org_id, id).await?;
    tx.commit().await?;
    Ok(n.max(1))
}
