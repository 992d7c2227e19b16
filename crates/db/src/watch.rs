//! Watch: once an incident is contained, every sync of its orgs looks for
//! the app coming back, and each finding reaches the incident's timeline
//! once (`incident_watch` remembers what was reported):
//!
//! - a live authorization of the app (granted again, or one the
//!   containment missed);
//! - failed OAuth logins of the app since the containment day: someone is
//!   using its stolen tokens, or a person tries to authorize it again;
//! - API calls attributed to the app on days after the containment day;
//! - the block removed outside the cockpit (read from Salesforce by the
//!   worker, passed in here).
//!
//! An org is watched once the incident's actions there have finished, so
//! the containment's own work in progress is not reported.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Who the timeline names for the watch's findings.
pub const ACTOR: &str = "system:watch";

/// An app of a contained incident in an org, its containment finished.
#[derive(Debug, Clone)]
pub struct Watched {
    pub incident_id: i64,
    pub app_key: String,
    pub app_name: String,
    pub app_kind: String,
    pub sf_app_id: Option<String>,
    pub contained_at: DateTime<Utc>,
}

/// The apps `org`'s sync checks.
pub async fn watched(pool: &PgPool, org: Uuid) -> sqlx::Result<Vec<Watched>> {
    sqlx::query_as!(
        Watched,
        r#"SELECT ia.incident_id, ia.app_key AS "app_key!", a.name AS app_name, a.kind AS app_kind,
                  a.sf_app_id, i.contained_at AS "contained_at!"
           FROM incident_apps ia
           JOIN incidents i ON i.id = ia.incident_id
           JOIN sf_apps a ON a.org_id = ia.org_id AND a.app_key = ia.app_key
           WHERE ia.org_id = $1 AND i.status = 'contained' AND i.contained_at IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM actions x
                             WHERE x.incident_id = i.id AND x.org_id = ia.org_id
                               AND x.status IN ('pending', 'running'))
           ORDER BY ia.incident_id, ia.app_key"#,
        org
    )
    .fetch_all(pool)
    .await
}

/// Records what the fresh snapshot of `org` shows about each app of
/// `watched` (the org's list, from [`watched`]); `blocked` says, per app key, whether Salesforce still reads the block
/// back (absent: not read this time). Returns the findings new to the
/// timeline.
pub async fn check(
    pool: &PgPool,
    org: Uuid,
    watched: &[Watched],
    blocked: &[(String, bool)],
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let mut found = 0;
    for w in watched {
        let (i, key, since) = (w.incident_id, w.app_key.as_str(), w.contained_at);
        found += sqlx::query!(
            r#"WITH found AS (
                 INSERT INTO incident_watch (incident_id, org_id, app_key, kind, ref, count)
                 SELECT $1, $2, $3, 'live_token', t.id, 1 FROM sf_tokens t
                 WHERE t.org_id = $2 AND t.app_key = $3 AND t.gone_at IS NULL
                 ON CONFLICT DO NOTHING RETURNING ref)
               INSERT INTO incident_events (incident_id, actor, kind, org_id, detail)
               SELECT $1, $5, 'watch_live_token', $2,
                      jsonb_build_object('app_key', $3::text, 'token', t.id, 'user_id', t.user_id,
                                         'created_at', t.created_at,
                                         'granted_after_containment', coalesce(t.created_at > $4, true))
               FROM found f JOIN sf_tokens t ON t.org_id = $2 AND t.id = f.ref"#,
            i,
            org,
            key,
            since,
            ACTOR
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Daily counts: a day's row is reported when it appears and each
        // time its count grows. Failed logins from the containment day on;
        // API calls on that day may precede it, so from the day after.
        found += sqlx::query!(
            r#"WITH cur AS (
                 SELECT 'failed_logins' AS kind, day::text AS "ref", failures AS n FROM app_logins_daily
                 WHERE org_id = $2 AND app_name = $4 AND failures > 0
                   AND day >= ($5::timestamptz AT TIME ZONE 'UTC')::date
                 UNION ALL
                 SELECT 'api_calls', day::text, requests FROM app_usage_daily
                 WHERE org_id = $2 AND app_key = $3 AND requests > 0
                   AND day > ($5::timestamptz AT TIME ZONE 'UTC')::date),
               prev AS (
                 SELECT kind, ref, count FROM incident_watch
                 WHERE incident_id = $1 AND org_id = $2 AND app_key = $3
                   AND kind IN ('failed_logins', 'api_calls')),
               up AS (
                 INSERT INTO incident_watch (incident_id, org_id, app_key, kind, ref, count)
                 SELECT $1, $2, $3, cur.kind, cur.ref, cur.n FROM cur
                 ON CONFLICT (incident_id, org_id, app_key, kind, ref)
                 DO UPDATE SET count = EXCLUDED.count, last_seen = now()
                 WHERE incident_watch.count < EXCLUDED.count
                 RETURNING kind, ref, count)
               INSERT INTO incident_events (incident_id, actor, kind, org_id, detail)
               SELECT $1, $6, 'watch_' || up.kind, $2,
                      jsonb_build_object('app_key', $3::text, 'app', $4::text, 'day', up.ref,
                                         CASE up.kind WHEN 'failed_logins' THEN 'failures' ELSE 'requests' END, up.count,
                                         'new', up.count - coalesce(prev.count, 0))
               FROM up LEFT JOIN prev ON prev.kind = up.kind AND prev.ref = up.ref"#,
            i,
            org,
            key,
            w.app_name,
            since,
            ACTOR
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if blocked.iter().any(|(k, b)| k == key && !b) {
            let removed = sqlx::query!(
                r#"WITH found AS (
                     INSERT INTO incident_watch (incident_id, org_id, app_key, kind, ref, count)
                     VALUES ($1, $2, $3, 'block_removed', current_date::text, 1)
                     ON CONFLICT DO NOTHING RETURNING ref)
                   INSERT INTO incident_events (incident_id, actor, kind, org_id, detail)
                   SELECT $1, $4, 'watch_block_removed', $2,
                          jsonb_build_object('app_key', $3::text, 'day', found.ref)
                   FROM found"#,
                i,
                org,
                key,
                ACTOR
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if removed > 0 {
                let n = crate::notify::Notice::new(
                    cockpit_domain::notify::EventKind::BlockRemoved,
                    Some(org),
                    format!(
                        "The block of {} was removed outside the cockpit (incident #{i})",
                        w.app_name
                    ),
                )
                .detail(serde_json::json!({ "app": w.app_name, "incident": i }))
                .link(format!("/incidents/{i}"));
                crate::notify::emit(&mut tx, &n).await?;
            }
            found += removed;
        }
    }
    tx.commit().await?;
    Ok(found)
}

/// A contained incident with findings since its containment, for the red
/// signals of the overview and the incident's page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signal {
    pub incident_id: i64,
    pub title: String,
    pub findings: i64,
    pub last_seen: DateTime<Utc>,
}

/// Contained incidents with findings in `orgs`.
pub async fn signals(pool: &PgPool, orgs: &[Uuid]) -> sqlx::Result<Vec<Signal>> {
    sqlx::query_as!(
        Signal,
        r#"SELECT i.id AS incident_id, i.title, count(*) AS "findings!", max(w.last_seen) AS "last_seen!"
           FROM incident_watch w JOIN incidents i ON i.id = w.incident_id
           WHERE i.status = 'contained' AND w.org_id = ANY($1)
           GROUP BY i.id, i.title ORDER BY max(w.last_seen) DESC"#,
        orgs
    )
    .fetch_all(pool)
    .await
}

/// One finding, for the incident's page.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub org_id: Uuid,
    pub app_key: String,
    pub kind: String,
    pub reference: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The incident's findings in `orgs`, newest first.
pub async fn findings(pool: &PgPool, incident: i64, orgs: &[Uuid]) -> sqlx::Result<Vec<Finding>> {
    sqlx::query_as!(
        Finding,
        r#"SELECT org_id, app_key AS "app_key!", kind, ref AS "reference!", count, first_seen, last_seen
           FROM incident_watch WHERE incident_id = $1 AND org_id = ANY($2)
           ORDER BY last_seen DESC, kind, ref LIMIT 500"#,
        incident,
        orgs
    )
    .fetch_all(pool)
    .await
}
