//! Indicator sets, hunts and hits: published indicators (addresses,
//! networks, user agents, app names, consumer keys) matched against the log
//! archive ([`crate::log_archive`]) by the `hunt_match` SQL function, which
//! both a hunt and each sync's match of the active sets use.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use sqlx::types::ipnet::IpNet;
use uuid::Uuid;

use crate::audit::{self, NewEntry};

/// An indicator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIndicator {
    /// `ip`, `cidr`, `user_agent`, `user_agent_contains`, `app_name` or
    /// `consumer_key`.
    pub kind: String,
    pub value: String,
    /// The network, for `ip` and `cidr`.
    pub net: Option<IpNet>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl From<&cockpit_domain::indicators::Indicator> for NewIndicator {
    fn from(i: &cockpit_domain::indicators::Indicator) -> NewIndicator {
        use cockpit_domain::indicators::IndicatorKind;
        let net = match i.kind {
            IndicatorKind::Ip => i.value.parse::<std::net::IpAddr>().ok().map(IpNet::from),
            IndicatorKind::Cidr => i.value.parse::<IpNet>().ok(),
            _ => None,
        };
        NewIndicator {
            kind: i.kind.as_str().to_owned(),
            value: i.value.clone(),
            net,
            valid_from: i.valid_from,
            valid_to: i.valid_to,
            note: i.note.clone(),
        }
    }
}

/// Installs the indicator sets shipped with the cockpit, or brings them up
/// to date with its files (an indicator a file dropped is dropped).
pub async fn install_shipped(pool: &PgPool) -> sqlx::Result<()> {
    for set in cockpit_domain::indicators::shipped() {
        let indicators: Vec<NewIndicator> = set.indicators.iter().map(NewIndicator::from).collect();
        let info = SetInfo {
            name: set.name.clone(),
            source_label: set.source_label.clone(),
            source_url: Some(set.source_url.clone()),
            published: Some(set.published),
            description: set.description.clone(),
        };
        import(pool, &info, true, true, &indicators, "system:start").await?;
    }
    Ok(())
}

/// What describes a set.
#[derive(Debug, Clone, Default)]
pub struct SetInfo {
    pub name: String,
    pub source_label: String,
    pub source_url: Option<String>,
    pub published: Option<NaiveDate>,
    pub description: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IndicatorSet {
    pub id: i64,
    pub name: String,
    pub source_label: String,
    pub source_url: Option<String>,
    pub published: Option<NaiveDate>,
    pub description: String,
    pub builtin: bool,
    pub active: bool,
    pub indicators: i64,
    pub updated_at: DateTime<Utc>,
}

/// Creates the set, or updates its description, and adds `indicators`
/// (those it holds already are kept once). `replace`: the set holds exactly
/// these afterwards (a shipped set updated from its file). Returns the set
/// and how many indicators were new.
pub async fn import(
    pool: &PgPool,
    info: &SetInfo,
    builtin: bool,
    replace: bool,
    indicators: &[NewIndicator],
    actor: &str,
) -> sqlx::Result<(i64, u64)> {
    let mut tx = pool.begin().await?;
    let set_id = sqlx::query_scalar!(
        "INSERT INTO indicator_sets (name, source_label, source_url, published, description, builtin, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (name) DO UPDATE SET source_label = EXCLUDED.source_label,
             source_url = coalesce(EXCLUDED.source_url, indicator_sets.source_url),
             published = coalesce(EXCLUDED.published, indicator_sets.published),
             description = CASE WHEN EXCLUDED.description = '' THEN indicator_sets.description
                                ELSE EXCLUDED.description END,
             builtin = indicator_sets.builtin OR EXCLUDED.builtin,
             updated_at = now()
         RETURNING id",
        info.name,
        info.source_label,
        info.source_url,
        info.published,
        info.description,
        builtin,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    if replace {
        // Those it keeps keep their ids (hits refer to them).
        let kinds: Vec<String> = indicators.iter().map(|i| i.kind.clone()).collect();
        let values: Vec<String> = indicators.iter().map(|i| i.value.clone()).collect();
        sqlx::query!(
            "DELETE FROM indicators WHERE set_id = $1
               AND (kind, value) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))",
            set_id,
            &kinds,
            &values
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut added = 0;
    for chunk in indicators.chunks(10_000) {
        if !builtin {
            // A person adding one back undoes its removal.
            sqlx::query!(
                "DELETE FROM indicator_removals WHERE set_id = $1
                   AND (kind, value) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
                set_id,
                &chunk.iter().map(|i| i.kind.clone()).collect::<Vec<_>>(),
                &chunk.iter().map(|i| i.value.clone()).collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        let text = |f: fn(&NewIndicator) -> &str| {
            chunk.iter().map(|i| f(i).to_owned()).collect::<Vec<_>>()
        };
        let nets: Vec<Option<IpNet>> = chunk.iter().map(|i| i.net).collect();
        let from: Vec<Option<DateTime<Utc>>> = chunk.iter().map(|i| i.valid_from).collect();
        let to: Vec<Option<DateTime<Utc>>> = chunk.iter().map(|i| i.valid_to).collect();
        let notes: Vec<Option<String>> = chunk.iter().map(|i| i.note.clone()).collect();
        added += sqlx::query!(
            "INSERT INTO indicators (set_id, kind, value, net, valid_from, valid_to, note)
             SELECT $1, x.* FROM unnest($2::text[], $3::text[], $4::cidr[], $5::timestamptz[],
                                        $6::timestamptz[], $7::text[]) x(kind, value)
             WHERE NOT EXISTS (SELECT 1 FROM indicator_removals r
                               WHERE r.set_id = $1 AND r.kind = x.kind AND r.value = x.value)
             ON CONFLICT DO NOTHING",
            set_id,
            &text(|i| &i.kind),
            &text(|i| &i.value),
            &nets as &[Option<IpNet>],
            &from as &[Option<DateTime<Utc>>],
            &to as &[Option<DateTime<Utc>>],
            &notes as &[Option<String>],
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if !builtin || added > 0 {
        audit::append(
            &mut tx,
            &NewEntry {
                actor,
                action: "indicators.imported",
                org_id: None,
                target: serde_json::json!({"set": set_id, "name": info.name}),
                reason: None,
                outcome: Some("succeeded"),
                detail: serde_json::json!({"given": indicators.len(), "added": added, "replace": replace}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok((set_id, added))
}

pub async fn sets(pool: &PgPool) -> sqlx::Result<Vec<IndicatorSet>> {
    sqlx::query_as!(
        IndicatorSet,
        r#"SELECT s.id, s.name, s.source_label, s.source_url, s.published, s.description, s.builtin,
                  s.active, (SELECT count(*) FROM indicators i WHERE i.set_id = s.id) AS "indicators!",
                  s.updated_at
           FROM indicator_sets s ORDER BY s.builtin DESC, s.published DESC NULLS LAST, s.name"#
    )
    .fetch_all(pool)
    .await
}

/// Removes an indicator from its set, with its hits of the continuous
/// match (a saved hunt keeps what it found), and keeps it from coming back
/// with the shipped set's next update; whether it was in the set.
pub async fn remove_indicator(
    pool: &PgPool,
    set: i64,
    indicator: i64,
    actor: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "DELETE FROM hunt_hits WHERE hunt_id IS NULL AND indicator_id = $1",
        indicator
    )
    .execute(&mut *tx)
    .await?;
    let Some(gone) = sqlx::query!(
        "DELETE FROM indicators WHERE id = $1 AND set_id = $2 RETURNING kind, value",
        indicator,
        set
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    sqlx::query!(
        "INSERT INTO indicator_removals (set_id, kind, value, removed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (set_id, kind, value) DO UPDATE SET removed_by = $4, removed_at = now()",
        set,
        gone.kind,
        gone.value,
        actor
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE indicator_sets SET updated_at = now() WHERE id = $1",
        set
    )
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "indicators.removed",
            org_id: None,
            target: serde_json::json!({"set": set, "indicator": indicator}),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({"kind": gone.kind, "value": gone.value}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Turns the continuous match of a set on or off; whether the set exists.
pub async fn set_active(pool: &PgPool, set: i64, active: bool, actor: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        "UPDATE indicator_sets SET active = $2, updated_at = now() WHERE id = $1",
        set,
        active
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if found {
        audit::append(
            &mut tx,
            &NewEntry {
                actor,
                action: "indicators.set_active",
                org_id: None,
                target: serde_json::json!({"set": set}),
                reason: None,
                outcome: Some("succeeded"),
                detail: serde_json::json!({"active": active}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// An indicator of a set, for its page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Indicator {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

pub async fn indicators(pool: &PgPool, set: i64, limit: i64) -> sqlx::Result<Vec<Indicator>> {
    sqlx::query_as!(
        Indicator,
        "SELECT id, kind, value, valid_from, valid_to, note FROM indicators
         WHERE set_id = $1 ORDER BY kind, value LIMIT $2",
        set,
        limit
    )
    .fetch_all(pool)
    .await
}

/// A saved hunt.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hunt {
    pub id: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub set_ids: Vec<i64>,
    pub set_names: Vec<String>,
    pub org_ids: Vec<Uuid>,
    pub rows_searched: i64,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub millis: i64,
    pub hits: i64,
}

/// One answer: an org, app and person that a indicator matched.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hit {
    pub id: i64,
    pub org_id: Uuid,
    pub app_key: Option<String>,
    pub app_name: Option<String>,
    pub user_name: Option<String>,
    pub set_name: String,
    pub kind: String,
    pub value: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub requests: i64,
    pub errors: i64,
    pub subtypes: Vec<String>,
    pub ips: Vec<String>,
    pub user_agents: Vec<String>,
}

/// Runs a hunt of `sets` over the archive of `orgs` and saves it with its
/// answer. Sets that do not exist are left out.
pub async fn run(pool: &PgPool, sets: &[i64], orgs: &[Uuid], actor: &str) -> sqlx::Result<i64> {
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let names = sqlx::query!(
        "SELECT id, name FROM indicator_sets WHERE id = ANY($1) ORDER BY name",
        sets
    )
    .fetch_all(&mut *tx)
    .await?;
    // What it searched, read cheaply: the log lines archived, and the first
    // and last day by each org's index.
    let span = sqlx::query!(
        r#"SELECT (SELECT coalesce(sum(lines), 0)::int8 FROM log_files
                   WHERE org_id = ANY($1) AND status = 'archived') AS "rows!",
                  min(d.first) AS first, max(d.last) AS last
           FROM unnest($1::uuid[]) o(id),
                LATERAL (SELECT (SELECT min(day) FROM log_activity WHERE org_id = o.id) AS first,
                                (SELECT max(day) FROM log_activity WHERE org_id = o.id) AS last) d"#,
        orgs
    )
    .fetch_one(&mut *tx)
    .await?;
    let set_ids: Vec<i64> = names.iter().map(|r| r.id).collect();
    let set_names: Vec<String> = names.into_iter().map(|r| r.name).collect();
    let id = sqlx::query_scalar!(
        "INSERT INTO hunts (created_by, set_ids, set_names, org_ids, rows_searched, first_day, last_day)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        actor,
        &set_ids,
        &set_names,
        orgs,
        span.rows,
        span.first,
        span.last
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        r#"INSERT INTO hunt_hits (hunt_id, org_id, app_key, app_name, user_name, indicator_id, set_name,
                                 kind, value, first_seen, last_seen, requests, errors, subtypes, ips,
                                 user_agents)
           SELECT $1, m.org_id, m.app_key, m.app_name, m.user_name, m.indicator_id, m.set_name, m.kind,
                  m.value, m.first_seen, m.last_seen, m.requests, m.errors, m.subtypes, m.ips,
                  m.user_agents
           FROM hunt_match($2, $3) m"#,
        id,
        &set_ids,
        orgs
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE hunts SET millis = $2 WHERE id = $1",
        id,
        started.elapsed().as_millis() as i64
    )
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "hunt.run",
            org_id: None,
            target: serde_json::json!({"hunt": id}),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({"sets": set_names, "orgs": orgs.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn get(pool: &PgPool, id: i64) -> sqlx::Result<Option<Hunt>> {
    sqlx::query_as!(
        Hunt,
        r#"SELECT h.id, h.created_by, h.created_at, h.set_ids, h.set_names, h.org_ids, h.rows_searched,
                  h.first_day, h.last_day, h.millis,
                  (SELECT count(*) FROM hunt_hits x WHERE x.hunt_id = h.id) AS "hits!"
           FROM hunts h WHERE h.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Hunts that searched at least one of `orgs`, newest first.
pub async fn list(pool: &PgPool, orgs: &[Uuid], limit: i64) -> sqlx::Result<Vec<Hunt>> {
    sqlx::query_as!(
        Hunt,
        r#"SELECT h.id, h.created_by, h.created_at, h.set_ids, h.set_names, h.org_ids, h.rows_searched,
                  h.first_day, h.last_day, h.millis,
                  (SELECT count(*) FROM hunt_hits x WHERE x.hunt_id = h.id AND x.org_id = ANY($1)) AS "hits!"
           FROM hunts h WHERE h.org_ids && $1 ORDER BY h.id DESC LIMIT $2"#,
        orgs,
        limit
    )
    .fetch_all(pool)
    .await
}

/// A hunt's answer in `orgs`, latest activity first.
pub async fn hits(pool: &PgPool, hunt: i64, orgs: &[Uuid]) -> sqlx::Result<Vec<Hit>> {
    sqlx::query_as!(
        Hit,
        r#"SELECT id, org_id, app_key, app_name, user_name, set_name, kind, value, first_seen, last_seen,
                  requests, errors, subtypes, ips, user_agents
           FROM hunt_hits WHERE hunt_id = $1 AND org_id = ANY($2)
           ORDER BY last_seen DESC, org_id, app_name, user_name, kind, value"#,
        hunt,
        orgs
    )
    .fetch_all(pool)
    .await
}

/// A hit of the continuous match that is new or grew: for the overview
/// and the timeline of an incident open for its app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveHit {
    pub id: i64,
    pub org_id: Uuid,
    pub app_key: Option<String>,
    pub app_name: Option<String>,
    pub user_name: Option<String>,
    pub set_name: String,
    pub kind: String,
    pub value: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub requests: i64,
    pub ips: Vec<String>,
    pub user_agents: Vec<String>,
}

/// Matches every active set against the org's archive and keeps the hits;
/// a hit seen again later than before is unacknowledged again. Each new or
/// grown hit of an app with an open incident goes on its timeline. Returns
/// the new or grown hits.
pub async fn match_active(pool: &PgPool, org: Uuid) -> sqlx::Result<Vec<LiveHit>> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query_as!(
        LiveHit,
        r#"WITH m AS (
               SELECT * FROM hunt_match(
                   (SELECT coalesce(array_agg(id), '{}') FROM indicator_sets WHERE active), ARRAY[$1::uuid])
           )
           INSERT INTO hunt_hits (hunt_id, org_id, app_key, app_name, user_name, indicator_id, set_name,
                                  kind, value, first_seen, last_seen, requests, errors, subtypes, ips,
                                  user_agents)
           SELECT NULL, m.org_id, m.app_key, m.app_name, m.user_name, m.indicator_id, m.set_name, m.kind,
                  m.value, m.first_seen, m.last_seen, m.requests, m.errors, m.subtypes, m.ips,
                  m.user_agents
           FROM m
           ON CONFLICT (org_id, coalesce(app_key, ''), coalesce(user_name, ''), indicator_id)
               WHERE hunt_id IS NULL
           DO UPDATE SET first_seen = least(hunt_hits.first_seen, EXCLUDED.first_seen),
                         last_seen = EXCLUDED.last_seen, requests = EXCLUDED.requests,
                         errors = EXCLUDED.errors, subtypes = EXCLUDED.subtypes, ips = EXCLUDED.ips,
                         user_agents = EXCLUDED.user_agents, found_at = now(),
                         acknowledged_by = NULL, acknowledged_at = NULL
               WHERE EXCLUDED.last_seen > hunt_hits.last_seen
           RETURNING id, org_id, app_key, app_name, user_name, set_name, kind, value, first_seen,
                     last_seen, requests, ips, user_agents"#,
        org
    )
    .fetch_all(&mut *tx)
    .await?;
    for h in &changed {
        let Some(app) = &h.app_key else { continue };
        sqlx::query!(
            r#"INSERT INTO incident_events (incident_id, actor, kind, org_id, detail)
               SELECT i.id, 'cockpit', 'indicator_hit', $2,
                      jsonb_build_object('app_key', $3::text, 'app', $4::text, 'set', $5::text,
                                         'indicator', $6::text, 'value', $7::text, 'user', $8::text,
                                         'first_seen', $9::timestamptz, 'last_seen', $10::timestamptz,
                                         'requests', $11::int8, 'ips', $12::text[], 'user_agents', $13::text[])
               FROM incidents i JOIN incident_apps a ON a.incident_id = i.id
               WHERE i.status <> 'closed' AND a.org_id = $2 AND a.app_key = $1"#,
            app,
            h.org_id,
            app,
            h.app_name,
            h.set_name,
            h.kind,
            h.value,
            h.user_name,
            h.first_seen,
            h.last_seen,
            h.requests,
            &h.ips,
            &h.user_agents
        )
        .execute(&mut *tx)
        .await?;
    }
    notify_hits(&mut tx, org, &changed).await?;
    tx.commit().await?;
    Ok(changed)
}

/// One "indicator hit" per app (or per org, for hits of no app) among the
/// hits a match found new or active again.
async fn notify_hits(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    hits: &[LiveHit],
) -> sqlx::Result<()> {
    let mut by_app: std::collections::BTreeMap<Option<&str>, Vec<&LiveHit>> = Default::default();
    for h in hits {
        by_app.entry(h.app_key.as_deref()).or_default().push(h);
    }
    let keys: Vec<&str> = by_app.keys().flatten().copied().collect();
    let ids = crate::notify::app_ids(conn, org, &keys).await?;
    for (key, hits) in by_app {
        let app = hits.iter().find_map(|h| h.app_name.clone());
        let mut values: Vec<&str> = hits.iter().map(|h| h.value.as_str()).collect();
        values.sort_unstable();
        values.dedup();
        let mut sets: Vec<&str> = hits.iter().map(|h| h.set_name.as_str()).collect();
        sets.sort_unstable();
        sets.dedup();
        let first = hits.iter().map(|h| h.first_seen).min();
        let last = hits.iter().map(|h| h.last_seen).max();
        let link = key
            .and_then(|k| ids.get(k))
            .map_or_else(|| "/hunts".to_owned(), |id| format!("/apps/{id}"));
        let title = match &app {
            Some(a) => format!("Published indicators matched calls of {a}"),
            None => "Published indicators matched calls in an org".to_owned(),
        };
        values.truncate(20);
        let n = crate::notify::Notice::new(
            cockpit_domain::notify::EventKind::IndicatorHit,
            Some(org),
            title,
        )
        .detail(serde_json::json!({
            "app": app, "indicators": values, "sets": sets, "hits": hits.len(),
            "first_seen": first, "last_seen": last,
        }))
        .link(link);
        crate::notify::emit(conn, &n).await?;
    }
    Ok(())
}

/// Unacknowledged hits of the continuous match in `orgs`, newest first:
/// the overview's red signals.
pub async fn live_hits(pool: &PgPool, orgs: &[Uuid], limit: i64) -> sqlx::Result<Vec<LiveHit>> {
    sqlx::query_as!(
        LiveHit,
        r#"SELECT id, org_id, app_key, app_name, user_name, set_name, kind, value, first_seen, last_seen,
                  requests, ips, user_agents
           FROM hunt_hits WHERE hunt_id IS NULL AND acknowledged_at IS NULL AND org_id = ANY($1)
           ORDER BY last_seen DESC LIMIT $2"#,
        orgs,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Acknowledges a live hit in one of `orgs`; whether there was one.
pub async fn acknowledge(
    pool: &PgPool,
    hit: i64,
    orgs: &[Uuid],
    actor: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let org = sqlx::query_scalar!(
        "UPDATE hunt_hits SET acknowledged_by = $3, acknowledged_at = now()
         WHERE id = $1 AND hunt_id IS NULL AND org_id = ANY($2) AND acknowledged_at IS NULL
         RETURNING org_id",
        hit,
        orgs,
        actor
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(org) = org {
        audit::append(
            &mut tx,
            &NewEntry {
                actor,
                action: "hunt.hit_acknowledged",
                org_id: Some(org),
                target: serde_json::json!({"hit": hit}),
                reason: None,
                outcome: Some("succeeded"),
                detail: serde_json::json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(org.is_some())
}

/// Unacknowledged hits of the continuous match, per org and app: the
/// overview's red signal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HitApp {
    pub org_id: Uuid,
    pub org_name: String,
    pub app_name: Option<String>,
    pub hits: i64,
    pub people: i64,
    pub sets: Vec<String>,
    pub last_seen: DateTime<Utc>,
}

pub async fn live_hit_apps(pool: &PgPool, orgs: &[Uuid], limit: i64) -> sqlx::Result<Vec<HitApp>> {
    sqlx::query_as!(
        HitApp,
        r#"SELECT h.org_id, o.name AS org_name, max(h.app_name) AS app_name, count(*) AS "hits!",
                  count(DISTINCT h.user_name) AS "people!",
                  array_agg(DISTINCT h.set_name) AS "sets!", max(h.last_seen) AS "last_seen!"
           FROM hunt_hits h JOIN orgs o ON o.id = h.org_id
           WHERE h.hunt_id IS NULL AND h.acknowledged_at IS NULL AND h.org_id = ANY($1)
           GROUP BY h.org_id, o.name, h.app_key ORDER BY max(h.last_seen) DESC LIMIT $2"#,
        orgs,
        limit
    )
    .fetch_all(pool)
    .await
}
