//! The review routine: a monthly look at what changed, and a quarterly
//! audit of stale authorizations that leaves evidence. Items are fixed when a
//! review starts, every decision and the completion go to the audit log.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::{
    actions::{ActionKind, NewAction},
    audit::{self, NewEntry},
};

/// Thresholds shared with the app flags on the pages.
pub const FEW_USERS: i64 = 3;
pub const HEAVY_USE: i64 = 1_000;
pub const MANY_USERS: i64 = 20;

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: i64,
    pub kind: String,
    pub since: Option<DateTime<Utc>>,
    pub stale_days: Option<i32>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub completed_by: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<ReviewRow>> {
    sqlx::query_as!(
        ReviewRow,
        "SELECT id, kind, since, stale_days, started_by, started_at, completed_by, completed_at FROM reviews WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ReviewRow>> {
    sqlx::query_as!(
        ReviewRow,
        "SELECT id, kind, since, stale_days, started_by, started_at, completed_by, completed_at
         FROM reviews ORDER BY started_at DESC LIMIT 100"
    )
    .fetch_all(db)
    .await
}

/// When each kind of review was last completed (for the reminders).
pub async fn last_completed(
    db: impl PgExecutor<'_>,
    kind: &str,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT max(completed_at) FROM reviews WHERE kind = $1",
        kind
    )
    .fetch_one(db)
    .await
}

/// Starts the monthly review of what changed since the last completed one
/// (or the last 30 days), in `orgs` (those where the starter is an analyst).
pub async fn start_monthly(pool: &PgPool, orgs: &[Uuid], actor: &str) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let since = sqlx::query_scalar!(
        "SELECT coalesce(max(started_at), now() - interval '30 days') AS \"since!\"
         FROM reviews WHERE kind = 'monthly' AND completed_at IS NOT NULL"
    )
    .fetch_one(&mut *tx)
    .await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO reviews (kind, since, started_by) VALUES ('monthly', $1, $2) RETURNING id",
        since,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "WITH m AS (
            SELECT a.org_id, a.app_key, a.name, a.first_seen_at, i.status, i.expected_users,
                   coalesce(s.users, 0) AS users, coalesce(s.total_use, 0) AS total_use
            FROM sf_apps a
            LEFT JOIN app_summary s USING (org_id, app_key)
            LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) i ON true
            WHERE a.gone_at IS NULL),
         items AS (
            SELECT 'new_app' AS category, org_id, app_key, NULL::text AS user_id,
                   'New app: ' || name AS summary,
                   jsonb_build_object('first_seen', first_seen_at, 'users', users, 'in_inventory', status IS NOT NULL) AS detail,
                   coalesce(status, 'none') AS inv
            FROM m WHERE first_seen_at > $2
            UNION ALL
            SELECT 'over_expected', org_id, app_key, NULL,
                   name || ': ' || users || ' users, ' || expected_users || ' expected',
                   jsonb_build_object('users', users, 'expected', expected_users), coalesce(status, 'none')
            FROM m WHERE expected_users IS NOT NULL AND users > expected_users
            UNION ALL
            SELECT 'grant_to_unapproved', m.org_id, m.app_key, NULL,
                   m.name || ': ' || count(*) || ' new authorizations of a not-approved app',
                   jsonb_build_object('grants', count(*)), m.status
            FROM m JOIN events e ON e.org_id = m.org_id AND e.app_key = m.app_key
            WHERE m.status = 'not_approved' AND e.kind = 'token_granted' AND e.at > $2
            GROUP BY m.org_id, m.app_key, m.name, m.status
            UNION ALL
            SELECT 'leaver', t.org_id, NULL, t.user_id,
                   u.name || ' (deactivated) still holds ' || count(*) || ' authorizations',
                   jsonb_build_object('tokens', count(*), 'deactivated_at', u.deactivated_at, 'username', u.username),
                   NULL
            FROM sf_tokens t JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
            WHERE t.gone_at IS NULL AND NOT u.is_active
            GROUP BY t.org_id, t.user_id, u.name, u.deactivated_at, u.username
            UNION ALL
            SELECT 'heavy_few', org_id, app_key, NULL,
                   name || ': heavy use (' || total_use || ') by ' || users || ' users',
                   jsonb_build_object('users', users, 'use', total_use), coalesce(status, 'none')
            FROM m WHERE users BETWEEN 1 AND $3 AND total_use >= $4
            UNION ALL
            SELECT 'many_little', org_id, app_key, NULL,
                   name || ': ' || users || ' users, little use (' || total_use || ')',
                   jsonb_build_object('users', users, 'use', total_use), coalesce(status, 'none')
            FROM m WHERE users >= $5 AND total_use < users * 2)
         INSERT INTO review_items (review_id, seq, category, org_id, app_key, user_id, summary, detail, inventory_at_start)
         SELECT $1, row_number() OVER (ORDER BY category, org_id, summary), category, org_id, app_key, user_id,
                left(summary, 500), detail, inv
         FROM items WHERE org_id = ANY($6)",
        id,
        since,
        FEW_USERS,
        HEAVY_USE,
        MANY_USERS,
        orgs
    )
    .execute(&mut *tx)
    .await?;
    started(&mut tx, id, "monthly", orgs, actor).await?;
    tx.commit().await?;
    Ok(id)
}

/// Starts the quarterly audit from the stale-authorization report, in
/// `orgs` (those where the starter is an analyst).
pub async fn start_quarterly(
    pool: &PgPool,
    orgs: &[Uuid],
    actor: &str,
    stale_days: i32,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO reviews (kind, stale_days, started_by) VALUES ('quarterly', $1, $2) RETURNING id",
        stale_days,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO review_items (review_id, seq, category, org_id, app_key, user_id, token_id, summary, detail, inventory_at_start)
         SELECT $1, row_number() OVER (ORDER BY t.org_id, a.name, u.name, t.id), 'stale', t.org_id, t.app_key,
                t.user_id, t.id, left(a.name || ' / ' || coalesce(u.name, t.user_id), 500),
                jsonb_build_object('last_used', t.last_used_at, 'created', t.created_at, 'use_count', t.use_count,
                                   'user_active', u.is_active),
                coalesce(inv.status, 'none')
         FROM sf_tokens t
         JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
         LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
         LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) inv ON true
         WHERE t.gone_at IS NULL AND coalesce(t.last_used_at, t.created_at) < now() - make_interval(days => $2)
           AND t.org_id = ANY($3)",
        id,
        stale_days,
        orgs
    )
    .execute(&mut *tx)
    .await?;
    started(&mut tx, id, "quarterly", orgs, actor).await?;
    tx.commit().await?;
    Ok(id)
}

async fn started(
    tx: &mut sqlx::PgConnection,
    id: i64,
    kind: &str,
    orgs: &[Uuid],
    actor: &str,
) -> sqlx::Result<()> {
    let items = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM review_items WHERE review_id = $1",
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        tx,
        &NewEntry {
            actor,
            action: "review.started",
            org_id: None,
            target: serde_json::json!({ "review": id, "kind": kind }),
            reason: None,
            outcome: Some("open"),
            detail: serde_json::json!({ "items": items, "orgs": orgs }),
        },
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ItemRow {
    pub seq: i32,
    pub category: String,
    pub org_id: Uuid,
    pub org_name: String,
    pub app_key: Option<String>,
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub summary: String,
    pub detail: serde_json::Value,
    pub decision: Option<String>,
    pub note: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub action_id: Option<i64>,
    /// For revoked authorizations: what the action verified in Salesforce.
    pub outcome: Option<String>,
    /// For items about an app: its inventory status now; `None`: not in
    /// the inventory (or no app).
    pub inventory_status: Option<String>,
    /// For items about an app: its inventory status when the review started
    /// (`none`: not in the inventory); `None` for other items and for
    /// reviews started before this was recorded.
    pub inventory_at_start: Option<String>,
}

pub async fn items(db: impl PgExecutor<'_>, id: i64, limit: i64) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        "SELECT r.seq, r.category, r.org_id, o.name AS org_name, r.app_key, r.user_id, r.token_id, r.summary, r.detail,
                r.decision, r.note, r.decided_by, r.decided_at, r.action_id, ai.status AS \"outcome?\",
                inv.status AS \"inventory_status?\", r.inventory_at_start
         FROM review_items r JOIN orgs o ON o.id = r.org_id
         LEFT JOIN action_items ai ON ai.action_id = r.action_id AND ai.token_id = r.token_id
         LEFT JOIN sf_apps a ON a.org_id = r.org_id AND a.app_key = r.app_key
         LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) inv ON true
         WHERE r.review_id = $1 ORDER BY r.seq LIMIT $2",
        id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Records a decision on items (one, or every item of an app in a
/// quarterly audit) with its note, in the audit log too.
pub async fn decide(
    pool: &PgPool,
    id: i64,
    seqs: &[i32],
    decision: &str,
    note: Option<&str>,
    actor: &str,
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query!(
        "UPDATE review_items SET decision = $3, note = $4, decided_by = $5, decided_at = now()
         WHERE review_id = $1 AND seq = ANY($2) AND action_id IS NULL
           AND EXISTS (SELECT 1 FROM reviews WHERE id = $1 AND completed_at IS NULL)",
        id,
        seqs,
        decision,
        note,
        actor
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "review.decided",
            org_id: None,
            target: serde_json::json!({ "review": id, "items": seqs.len() }),
            reason: note,
            outcome: Some(decision),
            detail: serde_json::json!({ "seqs": if seqs.len() <= 100 { serde_json::json!(seqs) } else { serde_json::Value::Null } }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Sends every authorization decided `revoke` as one bulk action per org.
/// Turns the decided revocations of the given orgs into actions, one per
/// org, each in one transaction with the items that name it, so a crash
/// between the two never sends an org's revocations twice. The keys are
/// random: nobody can claim one ahead of the review. Orgs not given (the
/// sender is no admin there) are left for someone who is. `wait` is the
/// two-person rule, as for any bulk revoke
/// ([`crate::actions::request_with_rule`]).
pub async fn send_revocations(
    pool: &PgPool,
    id: i64,
    orgs: &[Uuid],
    actor: &str,
    wait: &(dyn Fn(ActionKind, i64) -> Option<chrono::Duration> + Sync),
) -> sqlx::Result<Vec<i64>> {
    let review = get(pool, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let rows = sqlx::query!(
        "SELECT org_id, array_agg(token_id ORDER BY seq) AS \"tokens!\", array_agg(seq ORDER BY seq) AS \"seqs!\"
         FROM review_items WHERE review_id = $1 AND decision = 'revoke' AND action_id IS NULL AND token_id IS NOT NULL
           AND org_id = ANY($2)
         GROUP BY org_id",
        id,
        orgs
    )
    .fetch_all(pool)
    .await?;
    let mut actions = Vec::new();
    for row in rows {
        let tokens: Vec<String> = row.tokens;
        let reason = format!(
            "{} review #{} (stale for {} days)",
            review.kind,
            id,
            review.stale_days.unwrap_or(0)
        );
        let key = format!("review-{id}-{}", Uuid::new_v4());
        let mut tx = pool.begin().await?;
        // The items still unsent, under lock: a second send at the same
        // moment finds them sent and does nothing.
        let seqs: Vec<i32> = sqlx::query_scalar!(
            "SELECT seq FROM review_items WHERE review_id = $1 AND seq = ANY($2) AND action_id IS NULL FOR UPDATE",
            id,
            &row.seqs
        )
        .fetch_all(&mut *tx)
        .await?;
        if seqs.len() != row.seqs.len() {
            tx.rollback().await?;
            continue;
        }
        let requested = crate::actions::request_in_with(
            &mut tx,
            &NewAction {
                org_id: row.org_id,
                kind: ActionKind::BulkRevoke,
                app_key: None,
                user_id: None,
                token_ids: &tokens,
                idle_days: None,
                requested_by: actor,
                reason: &reason,
                idempotency_key: &key,
            },
            wait,
        )
        .await?
        .map_err(|_| sqlx::Error::Protocol("a fresh random key was taken".into()))?;
        sqlx::query!(
            "UPDATE review_items SET action_id = $3 WHERE review_id = $1 AND seq = ANY($2)",
            id,
            &row.seqs,
            requested.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        actions.push(requested.id);
    }
    Ok(actions)
}

/// Completes a review once every item has a decision.
pub async fn complete(pool: &PgPool, id: i64, actor: &str) -> sqlx::Result<Result<(), i64>> {
    let mut tx = pool.begin().await?;
    let open = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM review_items WHERE review_id = $1 AND decision IS NULL",
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    if open > 0 {
        return Ok(Err(open));
    }
    sqlx::query!(
        "UPDATE reviews SET completed_by = $2, completed_at = now() WHERE id = $1 AND completed_at IS NULL",
        id,
        actor
    )
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "review.completed",
            org_id: None,
            target: serde_json::json!({ "review": id }),
            reason: None,
            outcome: Some("completed"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
