//! "New network" and "new user agent": an app called from a network (IPv4
//! /24, IPv6 /48) or with a user agent it had not used before, found in the
//! log archive ([`crate::log_archive`]) after each sync that archived
//! anything, kept in `new_sources` for the overview, the app page and the
//! timeline of an incident open for the app.
//!
//! The baseline is the app's archive on the 120 days before, and only an
//! app with at least two earlier days of it is judged (days with user
//! agents for a user agent: LoginHistory, which reaches further back than
//! the Login log, has none). Each person's own
//! network or client seen the first time is not news, so it is judged per
//! person:
//! - an app used by few people (an integration, its service user): a new
//!   source counts when one person who had used the app on two earlier days
//!   used it (their grant used from a new place or by a new client), when
//!   two or more people did on its first day and the org had never seen it
//!   (one operator with several people's grants, as in the 2025 campaigns;
//!   people new to an app bring their office network and their browser,
//!   which the org knows), or for a user agent the org had never seen (a
//!   scripted client);
//! - an app used by many people (`PEOPLES_APP` or more: a mobile app, a
//!   browser extension), where people travel and update their clients every
//!   day: only when `PEOPLES_APP_QUORUM` or more such known people used it
//!   on its first day, or as many people and the org had never seen it.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, NewEntry};

/// People in the window from which an app is judged as people's app.
pub const PEOPLES_APP: i64 = 20;
/// Known people on one new source that make it news in a people's app.
pub const PEOPLES_APP_QUORUM: i64 = 3;

/// A network or user agent new to an app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewSource {
    pub id: i64,
    pub org_id: Uuid,
    pub app_key: String,
    pub app_name: Option<String>,
    /// `network` or `user_agent`.
    pub kind: String,
    /// The network in CIDR form, or the user agent.
    pub value: String,
    pub first_day: NaiveDate,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// People who used it on its first day.
    pub users: i64,
    pub requests: i64,
    pub acknowledged_by: Option<String>,
}

impl NewSource {
    pub fn is_network(&self) -> bool {
        self.kind == "network"
    }
}

/// Finds the sources first used on or after `since` in the org's archive
/// and keeps them (a source found before keeps its row and is brought up
/// to date). Each one found the first time goes on the timeline of every
/// open incident of its app. Returns those found the first time.
pub async fn detect(pool: &PgPool, org: Uuid, since: NaiveDate) -> sqlx::Result<Vec<NewSource>> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        r#"WITH a AS (
               SELECT l.app_key, max(l.app_name) AS app_name, coalesce(l.user_id, '') AS user_id,
                      l.day, v.kind, v.value, sum(l.requests)::int8 AS n,
                      min(l.first_seen) AS fs, max(l.last_seen) AS ls
               FROM log_activity l
               CROSS JOIN LATERAL (VALUES
                   ('network', CASE WHEN l.ip IS NOT NULL THEN
                       network(set_masklen(l.ip, CASE WHEN family(l.ip) = 4 THEN 24 ELSE 48 END))::text END),
                   ('user_agent', l.ua_id::text)) v(kind, value)
               WHERE l.org_id = $1 AND l.day >= $2::date - 120 AND v.value IS NOT NULL
               GROUP BY l.app_key, 3, l.day, v.kind, v.value
           ),
           -- Window functions over the one scan, no self-joins: their cost
           -- does not depend on the planner's estimates of a table that
           -- has just grown. `org_first`: the org's first day with the
           -- source, any app or none (browsers signing in to the UI);
           -- `*_before`: the app's, and the person's with the app, earlier
           -- days with evidence of the kind (LoginHistory reaches further
           -- back than the Login log, but has no user agent).
           w AS (
               SELECT a.*,
                      min(day) OVER (PARTITION BY kind, value) AS org_first,
                      min(day) OVER (PARTITION BY app_key, kind, value) AS first_day,
                      sum(n) OVER (PARTITION BY app_key, kind, value) AS total,
                      min(fs) OVER (PARTITION BY app_key, kind, value) AS first_seen,
                      max(ls) OVER (PARTITION BY app_key, kind, value) AS last_seen,
                      dense_rank() OVER (PARTITION BY app_key, kind ORDER BY day) - 1 AS app_before,
                      dense_rank() OVER (PARTITION BY app_key, kind, user_id ORDER BY day) - 1 AS user_before,
                      dense_rank() OVER (PARTITION BY app_key ORDER BY user_id) AS user_rank
               FROM a
           ),
           w2 AS (SELECT w.*, max(user_rank) OVER (PARTITION BY app_key) AS people FROM w),
           judged AS (
               SELECT app_key, kind, value, max(app_name) AS app_name, first_day,
                      org_first >= first_day AS new_to_org, people, total::int8 AS n,
                      first_seen AS fs, last_seen AS ls,
                      count(DISTINCT user_id) AS users_then,
                      count(DISTINCT user_id) FILTER (WHERE user_before >= 2) AS known_then
               FROM w2
               WHERE app_key IS NOT NULL AND day = first_day AND first_day >= $2 AND app_before >= 2
               GROUP BY app_key, kind, value, first_day, org_first, people, total, first_seen, last_seen
           ),
           news AS (
               SELECT j.*, CASE WHEN j.kind = 'user_agent'
                                THEN (SELECT user_agent FROM log_user_agents WHERE id = j.value::int8)
                                ELSE j.value END AS shown
               FROM judged j
               WHERE CASE WHEN j.people >= $3
                          THEN j.known_then >= $4 OR (j.new_to_org AND j.users_then >= $4)
                          ELSE j.known_then >= 1
                               OR (j.new_to_org AND (j.users_then >= 2 OR j.kind = 'user_agent')) END
           )
           INSERT INTO new_sources (org_id, app_key, app_name, kind, value, first_day, first_seen,
                                    last_seen, users, requests)
           SELECT $1, app_key, left(app_name, 255), kind, left(shown, 1024), first_day, fs, ls,
                  users_then, n
           FROM news WHERE shown IS NOT NULL
           ON CONFLICT (org_id, app_key, kind, value) DO UPDATE
               SET last_seen = EXCLUDED.last_seen, requests = EXCLUDED.requests,
                   app_name = coalesce(EXCLUDED.app_name, new_sources.app_name)
               WHERE EXCLUDED.last_seen > new_sources.last_seen
           RETURNING id, org_id, app_key, app_name, kind, value, first_day, first_seen, last_seen,
                     users, requests, acknowledged_by, (xmax = 0) AS "inserted!""#,
        org,
        since,
        PEOPLES_APP,
        PEOPLES_APP_QUORUM
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut new = Vec::new();
    for r in found.into_iter().filter(|r| r.inserted) {
        sqlx::query!(
            r#"INSERT INTO incident_events (incident_id, actor, kind, org_id, detail)
               SELECT i.id, 'cockpit', 'new_source', $2,
                      jsonb_build_object('app_key', $1::text, 'app', $3::text, 'source', $4::text,
                                         'value', $5::text, 'first_seen', $6::timestamptz,
                                         'last_seen', $7::timestamptz, 'users', $8::int8,
                                         'requests', $9::int8)
               FROM incidents i JOIN incident_apps a ON a.incident_id = i.id
               WHERE i.status <> 'closed' AND a.org_id = $2 AND a.app_key = $1"#,
            r.app_key,
            r.org_id,
            r.app_name,
            r.kind,
            r.value,
            r.first_seen,
            r.last_seen,
            r.users,
            r.requests
        )
        .execute(&mut *tx)
        .await?;
        new.push(NewSource {
            id: r.id,
            org_id: r.org_id,
            app_key: r.app_key,
            app_name: r.app_name,
            kind: r.kind,
            value: r.value,
            first_day: r.first_day,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            users: r.users,
            requests: r.requests,
            acknowledged_by: r.acknowledged_by,
        });
    }
    notify_new(&mut tx, org, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// One "new network or user agent" per app among the sources found the
/// first time.
async fn notify_new(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    new: &[NewSource],
) -> sqlx::Result<()> {
    let mut by_app: std::collections::BTreeMap<&str, Vec<&NewSource>> = Default::default();
    for s in new {
        by_app.entry(s.app_key.as_str()).or_default().push(s);
    }
    let keys: Vec<&str> = by_app.keys().copied().collect();
    let ids = crate::notify::app_ids(conn, org, &keys).await?;
    for (key, found) in by_app {
        let app = found
            .iter()
            .find_map(|s| s.app_name.clone())
            .unwrap_or_else(|| key.to_owned());
        let pick = |network: bool| -> Vec<&str> {
            found
                .iter()
                .filter(|s| s.is_network() == network)
                .map(|s| s.value.as_str())
                .take(20)
                .collect()
        };
        let n = crate::notify::Notice::new(
            cockpit_domain::notify::EventKind::SourceNew,
            Some(org),
            format!("{app} called from {} new source(s)", found.len()),
        )
        .detail(serde_json::json!({
            "app": app, "networks": pick(true), "user_agents": pick(false),
            "first_seen": found.iter().map(|s| s.first_seen).min(),
        }))
        .link(
            ids.get(key)
                .map_or_else(|| "/".to_owned(), |id| format!("/apps/{id}")),
        );
        crate::notify::emit(conn, &n).await?;
    }
    Ok(())
}

/// An app's new sources first used on or after `since`, newest first.
pub async fn of_app(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    since: NaiveDate,
) -> sqlx::Result<Vec<NewSource>> {
    sqlx::query_as!(
        NewSource,
        r#"SELECT id, org_id, app_key, app_name, kind, value, first_day, first_seen, last_seen, users,
                  requests, acknowledged_by
           FROM new_sources WHERE org_id = $1 AND app_key = $2 AND first_day >= $3
           ORDER BY first_day DESC, kind, value"#,
        org,
        app_key,
        since
    )
    .fetch_all(pool)
    .await
}

/// Apps with new sources not reviewed yet, per org and app: the overview's
/// signal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppWithNewSources {
    pub org_id: Uuid,
    pub org_name: String,
    /// The app's page, when the app is in the last snapshot.
    pub app_id: Option<i64>,
    pub app_name: Option<String>,
    pub networks: i64,
    pub user_agents: i64,
    pub last_seen: DateTime<Utc>,
}

pub async fn open_apps(
    pool: &PgPool,
    orgs: &[Uuid],
    since: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<AppWithNewSources>> {
    sqlx::query_as!(
        AppWithNewSources,
        r#"SELECT s.org_id, o.name AS org_name,
                  (SELECT min(p.id) FROM sf_apps p WHERE p.org_id = s.org_id AND p.app_key = s.app_key) AS app_id,
                  max(s.app_name) AS app_name,
                  count(*) FILTER (WHERE s.kind = 'network') AS "networks!",
                  count(*) FILTER (WHERE s.kind = 'user_agent') AS "user_agents!",
                  max(s.last_seen) AS "last_seen!"
           FROM new_sources s JOIN orgs o ON o.id = s.org_id
           WHERE s.org_id = ANY($1) AND s.acknowledged_at IS NULL AND s.first_day >= $2
           GROUP BY s.org_id, o.name, s.app_key ORDER BY max(s.last_seen) DESC LIMIT $3"#,
        orgs,
        since,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The org of a new source (for authorization by its org).
pub async fn org_of(pool: &PgPool, id: i64) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!("SELECT org_id FROM new_sources WHERE id = $1", id)
        .fetch_optional(pool)
        .await
}

/// Marks a new source of `org` reviewed, with an audit entry; whether
/// there was one to review.
pub async fn acknowledge(pool: &PgPool, id: i64, org: Uuid, actor: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "UPDATE new_sources SET acknowledged_by = $3, acknowledged_at = now()
         WHERE id = $1 AND org_id = $2 AND acknowledged_at IS NULL
         RETURNING app_key, kind, value",
        id,
        org,
        actor
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "source.acknowledged",
            org_id: Some(org),
            target: serde_json::json!({"new_source": id, "app_key": row.app_key}),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({"kind": row.kind, "value": row.value}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
