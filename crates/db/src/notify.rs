//! Notifications: the outbox of what people and systems are told.
//!
//! [`emit`] writes a notification and one delivery per channel whose rules
//! take it, inside the caller's transaction: it exists if and only if the
//! change that caused it commits. The worker ([`claim`], [`record`])
//! delivers at least once, with the notification's `event_id` on every
//! attempt. Channels are configured on `/admin/channels`; their URL and
//! secret are sealed by the caller before they reach this module.

use chrono::{DateTime, Utc};
use cockpit_domain::notify::{ChannelKind, EventKind, Severity};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{NewEntry, append};

/// One notification to write.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: EventKind,
    pub severity: Severity,
    pub org: Option<Uuid>,
    /// The org's name when the caller has it; else it is read in [`emit`].
    pub org_name: Option<String>,
    /// One line; names from Salesforce are kept as they are (each channel
    /// format escapes them).
    pub title: String,
    pub detail: Value,
    /// A path in the cockpit (`/apps/12`).
    pub link: Option<String>,
}

impl Notice {
    pub fn new(kind: EventKind, org: Option<Uuid>, title: impl Into<String>) -> Notice {
        Notice {
            kind,
            severity: kind.severity(),
            org,
            org_name: None,
            title: title.into(),
            detail: json!({}),
            link: None,
        }
    }

    pub fn detail(mut self, detail: Value) -> Notice {
        self.detail = detail;
        self
    }

    /// The org's name, so [`emit`] need not read it again.
    pub fn org_name(mut self, name: &str) -> Notice {
        self.org_name = Some(name.to_owned());
        self
    }

    pub fn link(mut self, link: impl Into<String>) -> Notice {
        self.link = Some(link.into());
        self
    }
}

/// The cockpit's id of each of an org's apps named by key, read in one
/// query, for the links of notifications about many apps at once.
pub async fn app_ids(
    conn: &mut PgConnection,
    org: Uuid,
    keys: &[&str],
) -> sqlx::Result<std::collections::HashMap<String, i64>> {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let rows = sqlx::query!(
        "SELECT app_key, id FROM sf_apps WHERE org_id = $1 AND app_key = ANY($2)",
        org,
        &keys
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.app_key, r.id)).collect())
}

/// `1 app`, `3 apps`.
fn counted(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bounds a title built from outside names.
fn bounded_title(t: &str) -> String {
    t.chars().take(500).collect()
}

/// Writes `n` and its deliveries in the caller's transaction; returns the
/// notification's id.
pub async fn emit(conn: &mut PgConnection, n: &Notice) -> sqlx::Result<i64> {
    emit_to(conn, n, None).await
}

/// As [`emit`], to one channel only (the "send a test" button) when
/// `only` is given, whatever its rules.
pub async fn emit_to(conn: &mut PgConnection, n: &Notice, only: Option<Uuid>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"WITH n AS (
             INSERT INTO notifications (event_id, kind, severity, org_id, org_name, title, detail, link)
             VALUES ($1, $2, $3, $4, coalesce($9, (SELECT name FROM orgs WHERE id = $4)), $5, $6, $7)
             RETURNING id, kind, severity, org_id),
           d AS (
             INSERT INTO deliveries (notification_id, channel_id, status)
             SELECT n.id, c.id,
                    CASE WHEN $8::uuid IS NULL AND $10 AND c.digest IS NOT NULL THEN 'held' ELSE 'pending' END
             FROM n JOIN channels c ON c.deleted_at IS NULL
             WHERE CASE WHEN $8::uuid IS NOT NULL THEN c.id = $8
                   ELSE c.enabled
                        AND (cardinality(c.events) = 0 OR n.kind = ANY(c.events))
                        AND (c.org_ids IS NULL OR n.org_id = ANY(c.org_ids))
                        AND n.severity >= c.min_severity END)
           SELECT id AS "id!" FROM n"#,
        Uuid::new_v4(),
        n.kind.as_str(),
        n.severity.rank(),
        n.org,
        bounded_title(&n.title),
        n.detail,
        n.link,
        only,
        n.org_name,
        n.kind.noisy()
    )
    .fetch_one(conn)
    .await
}

/// As [`emit`], unless a notification of the same kind about the same org
/// was written since the org's last successful sync: a failing org is
/// reported once per streak, not once per attempt.
pub async fn emit_once_per_streak(conn: &mut PgConnection, n: &Notice) -> sqlx::Result<bool> {
    let sent = sqlx::query_scalar!(
        r#"SELECT EXISTS (
             SELECT 1 FROM notifications
             WHERE kind = $1 AND org_id = $2
               AND created_at > coalesce((SELECT max(finished_at) FROM sync_runs
                                          WHERE org_id = $2 AND status = 'succeeded'), '-infinity')
           ) AS "sent!""#,
        n.kind.as_str(),
        n.org
    )
    .fetch_one(&mut *conn)
    .await?;
    if sent {
        return Ok(false);
    }
    emit(conn, n).await?;
    Ok(true)
}

/// What a sync found that people are told about, read from the run's
/// history events (written by the merge in the same transaction):
/// apps new to the org (not on its first sync, when every app is new),
/// people deactivated while still holding live tokens, apps authorized
/// again after the cockpit revoked them, and apps outside the inventory
/// that reached `outside_inventory_people` people in this sync (once per
/// app). One notification per app, and one per leaver.
/// Returns how many were written.
pub async fn emit_from_sync(
    conn: &mut PgConnection,
    org: Uuid,
    run: i64,
    outside_inventory_people: i64,
) -> sqlx::Result<u64> {
    let first_sync = sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (SELECT 1 FROM sync_runs
                              WHERE org_id = $1 AND status = 'succeeded' AND id <> $2) AS "first!""#,
        org,
        run
    )
    .fetch_one(&mut *conn)
    .await?;
    let org_name = sqlx::query_scalar!("SELECT name FROM orgs WHERE id = $1", org)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or_default();
    let mut written = 0;
    if !first_sync {
        let apps = sqlx::query!(
            r#"SELECT a.id, a.name, a.kind, a.app_key,
                      (SELECT count(*) FROM sf_tokens t
                       WHERE t.org_id = $1 AND t.app_key = a.app_key AND t.gone_at IS NULL) AS "tokens!"
               FROM events e JOIN sf_apps a ON a.org_id = e.org_id AND a.app_key = e.app_key
               WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.kind = 'app_first_seen'
               ORDER BY a.name LIMIT 200"#,
            org,
            run
        )
        .fetch_all(&mut *conn)
        .await?;
        for a in apps {
            let n = Notice::new(
                EventKind::AppNew,
                Some(org),
                format!("New app in {org_name}: {}", a.name),
            )
            .detail(json!({ "app": a.name, "app_kind": a.kind, "authorizations": a.tokens }))
            .link(format!("/apps/{}", a.id));
            emit(conn, &n.org_name(&org_name)).await?;
            written += 1;
        }
    }
    if !first_sync {
        // The summary is this sync's (refreshed before this runs). People
        // new to the app are those granted it in this run who held no live
        // authorization of it before; the app reached the threshold if
        // without them it was below. Told once per app: the notification
        // itself is the memory.
        let spreading = sqlx::query!(
            r#"WITH grown AS (
                 SELECT e.app_key, count(DISTINCT e.user_id) AS new_people FROM events e
                 WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.kind = 'token_granted'
                   AND NOT EXISTS (
                     SELECT 1 FROM sf_tokens t
                     WHERE t.org_id = $1 AND t.user_id = e.user_id AND t.app_key = e.app_key
                       AND t.gone_at IS NULL
                       AND t.first_seen_at < (SELECT started_at FROM sync_runs WHERE id = $2))
                 GROUP BY e.app_key)
               SELECT a.id, a.name, a.app_key, a.kind, s.users, s.tokens, g.new_people AS "new_people!"
               FROM grown g
               JOIN app_summary s ON s.org_id = $1 AND s.app_key = g.app_key
               JOIN sf_apps a ON a.org_id = $1 AND a.app_key = g.app_key
               WHERE s.users >= $3 AND s.users - g.new_people < $3 AND a.gone_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM inventory_match(a.consumer_key, a.name))
                 AND NOT EXISTS (SELECT 1 FROM notifications n
                                 WHERE n.org_id = $1 AND n.kind = 'app.outside_inventory'
                                   AND n.detail->>'app_key' = a.app_key)
               ORDER BY s.users DESC LIMIT 200"#,
            org,
            run,
            outside_inventory_people
        )
        .fetch_all(&mut *conn)
        .await?;
        for a in spreading {
            let n = Notice::new(
                EventKind::AppOutsideInventory,
                Some(org),
                format!(
                    "{} is not in the inventory and {} people in {org_name} have authorized it",
                    a.name, a.users
                ),
            )
            .detail(json!({
                "app": a.name, "app_key": a.app_key, "app_kind": a.kind, "people": a.users,
                "authorizations": a.tokens, "new_people": a.new_people,
                "threshold": outside_inventory_people,
            }))
            .link(format!("/apps/{}", a.id));
            emit(conn, &n.org_name(&org_name)).await?;
            written += 1;
        }
    }
    let again = sqlx::query!(
        r#"SELECT a.id, a.name, count(DISTINCT e.user_id) AS "people!",
                  array_agg(DISTINCT u.username) FILTER (WHERE u.username IS NOT NULL) AS usernames
           FROM events e JOIN sf_apps a ON a.org_id = e.org_id AND a.app_key = e.app_key
           LEFT JOIN sf_users u ON u.org_id = e.org_id AND u.id = e.user_id
           WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.kind = 'reauthorized_after_revoke'
           GROUP BY a.id, a.name ORDER BY a.name LIMIT 200"#,
        org,
        run
    )
    .fetch_all(&mut *conn)
    .await?;
    for a in again {
        let mut people = a.usernames.unwrap_or_default();
        people.truncate(20);
        let n = Notice::new(
            EventKind::AppReauthorized,
            Some(org),
            format!(
                "{} was authorized again in {org_name} after the cockpit revoked it ({} people)",
                a.name, a.people
            ),
        )
        .detail(json!({ "app": a.name, "people": a.people, "users": people }))
        .link(format!("/apps/{}", a.id));
        emit(conn, &n.org_name(&org_name)).await?;
        written += 1;
    }
    let leavers = sqlx::query!(
        r#"SELECT u.uid, u.username, u.name,
                  count(t.id) AS "tokens!", count(DISTINCT t.app_key) AS "apps!"
           FROM events e JOIN sf_users u ON u.org_id = e.org_id AND u.id = e.user_id
           JOIN sf_tokens t ON t.org_id = e.org_id AND t.user_id = e.user_id AND t.gone_at IS NULL
           WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.kind = 'user_deactivated'
           GROUP BY u.uid, u.username, u.name ORDER BY count(t.id) DESC, u.username LIMIT 200"#,
        org,
        run
    )
    .fetch_all(&mut *conn)
    .await?;
    for l in leavers {
        let n = Notice::new(
            EventKind::LeaverWithTokens,
            Some(org),
            format!(
                "{} left {org_name} but still holds {} to {}",
                l.username,
                counted(l.tokens, "authorization"),
                counted(l.apps, "app")
            ),
        )
        .detail(json!({ "user": l.username, "name": l.name, "authorizations": l.tokens, "apps": l.apps }))
        .link(format!("/users/{}", l.uid));
        emit(conn, &n.org_name(&org_name)).await?;
        written += 1;
    }
    Ok(written)
}

/// A channel as pages list it (never its URL or secret).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub target_hint: String,
    pub email_to: Vec<String>,
    pub events: Vec<String>,
    pub org_ids: Option<Vec<Uuid>>,
    pub min_severity: i16,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub delivered: i64,
    pub pending: i64,
    pub dead: i64,
    pub last_code: Option<i32>,
    pub last_error: Option<String>,
    /// SIEM channels streaming the audit log: the last entry taken.
    pub audit_after: Option<i64>,
    pub audit_error: Option<String>,
    /// `hourly` or `daily`: noisy types go as one digest.
    pub digest: Option<String>,
    /// Noisy events waiting for the next digest.
    pub held: i64,
}

/// Live channels with their delivery counts.
pub async fn channels(pool: &PgPool) -> sqlx::Result<Vec<Channel>> {
    sqlx::query_as!(
        Channel,
        r#"SELECT c.id, c.name, c.kind, c.target_hint, c.email_to, c.events, c.org_ids, c.min_severity, c.enabled,
                  c.created_by, c.created_at,
                  count(d.id) FILTER (WHERE d.status = 'delivered') AS "delivered!",
                  count(d.id) FILTER (WHERE d.status = 'pending') AS "pending!",
                  count(d.id) FILTER (WHERE d.status = 'dead') AS "dead!",
                  last.last_code, last.last_error, c.audit_after, c.audit_error, c.digest,
                  count(d.id) FILTER (WHERE d.status = 'held') AS "held!"
           FROM channels c LEFT JOIN deliveries d ON d.channel_id = c.id
           LEFT JOIN LATERAL (SELECT x.last_code, x.last_error FROM deliveries x
                              WHERE x.channel_id = c.id AND x.last_at IS NOT NULL
                              ORDER BY x.last_at DESC LIMIT 1) last ON true
           WHERE c.deleted_at IS NULL
           GROUP BY c.id, last.last_code, last.last_error ORDER BY lower(c.name)"#
    )
    .fetch_all(pool)
    .await
}

/// A channel to create; `target` and `secret` are sealed already.
#[derive(Debug)]
pub struct NewChannel<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub kind: ChannelKind,
    pub target_sealed: &'a [u8],
    pub target_hint: &'a str,
    pub secret_sealed: Option<&'a [u8]>,
    /// Email channels: sender and recipients.
    pub email_from: Option<&'a str>,
    pub email_to: &'a [String],
    pub events: &'a [EventKind],
    pub orgs: Option<&'a [Uuid]>,
    pub min_severity: Severity,
    /// A SIEM channel that also takes the audit log, from its first entry.
    pub audit: bool,
    /// `hourly` or `daily`: the noisy types as one digest.
    pub digest: Option<&'a str>,
}

/// An audit entry about channels and deliveries (no org: a channel may
/// carry every org's events).
async fn audit(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    target: Value,
    detail: Value,
) -> sqlx::Result<()> {
    append(
        conn,
        &NewEntry {
            actor,
            action,
            org_id: None,
            target,
            reason: None,
            outcome: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Creates a channel with its audit entry; `false` when a live channel
/// has that name already.
pub async fn create_channel(pool: &PgPool, actor: &str, c: &NewChannel<'_>) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let events: Vec<String> = c.events.iter().map(|k| k.as_str().to_owned()).collect();
    let inserted = sqlx::query!(
        "INSERT INTO channels (id, name, kind, target_sealed, target_hint, secret_sealed, events, org_ids,
                               min_severity, created_by, email_from, email_to, audit_after, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                 CASE WHEN $13 THEN 0::bigint END, $14)
         ON CONFLICT (lower(name)) WHERE deleted_at IS NULL DO NOTHING",
        c.id,
        c.name,
        c.kind.as_str(),
        c.target_sealed,
        c.target_hint,
        c.secret_sealed,
        &events,
        c.orgs,
        c.min_severity.rank(),
        actor,
        c.email_from,
        c.email_to,
        c.audit && c.kind == ChannelKind::Siem,
        c.digest
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    audit(
        &mut tx,
        actor,
        "channel.created",
        json!({ "channel": c.id, "name": c.name }),
        json!({ "kind": c.kind.as_str(), "target": c.target_hint, "events": events,
                            "orgs": c.orgs, "min_severity": c.min_severity.as_str(),
                            "email_to": c.email_to, "audit_log": c.audit && c.kind == ChannelKind::Siem,
                            "digest": c.digest }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Turns a channel on or off, or deletes it (`"enable"`, `"disable"`,
/// `"delete"`), audited. A deleted channel's pending deliveries are
/// given up; a disabled one's wait. `false` if the channel is unknown or
/// already so.
pub async fn change_channel(
    pool: &PgPool,
    actor: &str,
    id: Uuid,
    change: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let name = match change {
        "enable" | "disable" => {
            sqlx::query_scalar!(
                "UPDATE channels SET enabled = $2 WHERE id = $1 AND deleted_at IS NULL AND enabled <> $2
                 RETURNING name",
                id,
                change == "enable"
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        "delete" => {
            let name = sqlx::query_scalar!(
                "UPDATE channels SET deleted_at = now(), enabled = false
                 WHERE id = $1 AND deleted_at IS NULL RETURNING name",
                id
            )
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query!(
                "UPDATE deliveries SET status = 'dead', last_error = 'the channel was deleted'
                 WHERE channel_id = $1 AND status IN ('pending', 'held')",
                id
            )
            .execute(&mut *tx)
            .await?;
            name
        }
        _ => None,
    };
    let Some(name) = name else {
        tx.rollback().await?;
        return Ok(false);
    };
    audit(
        &mut tx,
        actor,
        &format!("channel.{change}d"),
        json!({ "channel": id, "name": name }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Queues a test message to channel `id` (audited: it sends data out).
pub async fn send_test(pool: &PgPool, actor: &str, id: Uuid) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let Some(name) = sqlx::query_scalar!(
        "SELECT name FROM channels WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    let n = Notice::new(
        EventKind::Test,
        None,
        format!("Test message from OAuth Cockpit to {name}"),
    )
    .detail(json!({ "sent_by": actor }))
    .link("/admin/channels");
    emit_to(&mut tx, &n, Some(id)).await?;
    audit(
        &mut tx,
        actor,
        "channel.tested",
        json!({ "channel": id, "name": name }),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A claimed delivery with what the worker needs to send it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub attempts: i32,
    pub channel_id: Uuid,
    pub channel_kind: String,
    pub target_sealed: Vec<u8>,
    pub secret_sealed: Option<Vec<u8>>,
    pub email_from: Option<String>,
    pub email_to: Vec<String>,
    pub event_id: Uuid,
    pub kind: String,
    pub severity: i16,
    pub org_id: Option<Uuid>,
    pub org_name: Option<String>,
    pub title: String,
    pub detail: Value,
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Writes the digest of every channel whose period (an hour or a day)
/// has passed since its last one and that holds noisy events: one
/// `digest` notification for that channel alone, counting the events by
/// type and naming the first of them; the held deliveries become
/// `digested`, in the same transaction. Returns how many were written.
pub async fn make_digests(pool: &PgPool) -> sqlx::Result<u64> {
    let due = sqlx::query!(
        r#"SELECT c.id, c.digest AS "digest!" FROM channels c
           WHERE c.deleted_at IS NULL AND c.enabled AND c.digest IS NOT NULL
             AND c.digest_sent_at <= now() - CASE c.digest WHEN 'hourly' THEN interval '1 hour'
                                                          ELSE interval '1 day' END
             AND EXISTS (SELECT 1 FROM deliveries d WHERE d.channel_id = c.id AND d.status = 'held')"#
    )
    .fetch_all(pool)
    .await?;
    let mut written = 0;
    for channel in due {
        let mut tx = pool.begin().await?;
        // Locks the channel's row: two workers cannot write the same digest.
        let still_due = sqlx::query_scalar!(
            "UPDATE channels SET digest_sent_at = now() WHERE id = $1
               AND digest_sent_at <= now() - CASE digest WHEN 'hourly' THEN interval '1 hour'
                                                         ELSE interval '1 day' END
             RETURNING id",
            channel.id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if still_due.is_none() {
            continue;
        }
        let events = sqlx::query!(
            r#"WITH held AS (
                 UPDATE deliveries SET status = 'digested'
                 WHERE channel_id = $1 AND status = 'held' RETURNING notification_id)
               SELECT n.kind, n.title, n.created_at FROM notifications n JOIN held h ON h.notification_id = n.id
               ORDER BY n.created_at, n.id"#,
            channel.id
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(first) = events.first().map(|e| e.created_at) else {
            continue;
        };
        let mut counts = serde_json::Map::new();
        for e in &events {
            let label =
                EventKind::parse(&e.kind).map_or_else(|| e.kind.clone(), |k| k.label().to_owned());
            let n = counts.get(&label).and_then(Value::as_i64).unwrap_or(0);
            counts.insert(label, json!(n + 1));
        }
        let titles: Vec<&str> = events.iter().take(10).map(|e| e.title.as_str()).collect();
        let mut detail = json!({
            "events": events.len(),
            "since": first,
            "first": titles,
        });
        if let Some(obj) = detail.as_object_mut() {
            obj.extend(counts);
        }
        let period = if channel.digest == "hourly" {
            "hour"
        } else {
            "day"
        };
        let n = Notice::new(
            EventKind::Digest,
            None,
            format!("{} events in the last {period}", events.len()),
        )
        .detail(detail)
        .link("/admin/deliveries");
        emit_to(&mut tx, &n, Some(channel.id)).await?;
        tx.commit().await?;
        written += 1;
    }
    Ok(written)
}

/// A SIEM channel that streams the audit log, and where it stands.
#[derive(Debug, Clone)]
pub struct AuditStream {
    pub channel_id: Uuid,
    pub target_sealed: Vec<u8>,
    /// The last sequence number the collector took.
    pub after: i64,
}

/// Live, enabled channels that take the audit log and have entries to
/// send.
pub async fn audit_streams(pool: &PgPool) -> sqlx::Result<Vec<AuditStream>> {
    sqlx::query_as!(
        AuditStream,
        r#"SELECT c.id AS channel_id, c.target_sealed, c.audit_after AS "after!"
           FROM channels c
           WHERE c.deleted_at IS NULL AND c.enabled AND c.audit_after IS NOT NULL
             AND c.audit_after < (SELECT coalesce(max(seq), 0) FROM audit_log)"#
    )
    .fetch_all(pool)
    .await
}

/// Up to `limit` audit entries after sequence number `after`, in order.
pub async fn audit_after(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<cockpit_domain::notify::AuditRecord>> {
    let rows = sqlx::query!(
        r#"SELECT l.seq, encode(l.hash, 'hex') AS "hash!", l.at, l.actor, l.action, l.org_id,
                  o.name AS "org_name?", l.target, l.reason, l.outcome, l.detail
           FROM audit_log l LEFT JOIN orgs o ON o.id = l.org_id
           WHERE l.seq > $1 ORDER BY l.seq LIMIT $2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| cockpit_domain::notify::AuditRecord {
            seq: r.seq,
            hash: r.hash,
            at: r.at,
            actor: r.actor,
            action: r.action,
            org: r.org_id.map(|id| cockpit_domain::notify::MessageOrg {
                id,
                name: r.org_name,
            }),
            target: r.target,
            reason: r.reason,
            outcome: r.outcome,
            detail: r.detail,
        })
        .collect())
}

/// Records how a channel's audit stream went: on success it moves on to
/// `to` (never back) and clears the error; on failure it keeps its place
/// and the error.
pub async fn audit_sent(
    pool: &PgPool,
    channel: Uuid,
    result: Result<i64, &str>,
) -> sqlx::Result<()> {
    match result {
        Ok(to) => {
            sqlx::query!(
                "UPDATE channels SET audit_after = greatest(audit_after, $2), audit_error = NULL
             WHERE id = $1 AND audit_after IS NOT NULL",
                channel,
                to
            )
            .execute(pool)
            .await?
        }
        Err(e) => {
            sqlx::query!(
                "UPDATE channels SET audit_error = $2 WHERE id = $1",
                channel,
                e.chars().take(500).collect::<String>()
            )
            .execute(pool)
            .await?
        }
    };
    Ok(())
}

/// Claims up to `limit` due deliveries of live, enabled channels for
/// `lease` (their `next_at` moves past it, so a worker that dies leaves
/// them due again), counting the attempt.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"WITH c AS (
             UPDATE deliveries d SET next_at = now() + make_interval(secs => $2), attempts = attempts + 1
             WHERE d.id IN (
                 SELECT x.id FROM deliveries x JOIN channels ch ON ch.id = x.channel_id
                 WHERE x.status = 'pending' AND x.next_at <= now() AND ch.enabled AND ch.deleted_at IS NULL
                 ORDER BY x.next_at LIMIT $1
                 FOR UPDATE OF x SKIP LOCKED)
             RETURNING d.id, d.attempts, d.channel_id, d.notification_id)
           SELECT c.id AS "id!", c.attempts AS "attempts!", c.channel_id AS "channel_id!",
                  ch.kind AS channel_kind, ch.target_sealed, ch.secret_sealed, ch.email_from, ch.email_to,
                  n.event_id, n.kind, n.severity, n.org_id, n.org_name, n.title, n.detail, n.link,
                  n.created_at
           FROM c JOIN channels ch ON ch.id = c.channel_id JOIN notifications n ON n.id = c.notification_id
           ORDER BY n.id"#,
        limit,
        lease.as_secs_f64()
    )
    .fetch_all(pool)
    .await
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: i64,
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub code: Option<i32>,
    /// Why it failed, bounded, no secret (never the URL).
    pub error: Option<String>,
    /// When to try again; `None` with `delivered` false: dead.
    pub retry_in: Option<std::time::Duration>,
}

/// Records a batch of attempts in one statement.
pub async fn record(pool: &PgPool, outcomes: &[Outcome]) -> sqlx::Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = outcomes.iter().map(|o| o.id).collect();
    let status: Vec<String> = outcomes
        .iter()
        .map(|o| match (o.delivered, o.retry_in) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "dead",
        })
        .map(str::to_owned)
        .collect();
    let codes: Vec<Option<i32>> = outcomes.iter().map(|o| o.code).collect();
    let errors: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| o.error.as_ref().map(|e| e.chars().take(500).collect()))
        .collect();
    let retry: Vec<f64> = outcomes
        .iter()
        .map(|o| o.retry_in.map_or(0.0, |d| d.as_secs_f64()))
        .collect();
    sqlx::query!(
        "UPDATE deliveries d SET status = u.status, last_at = now(), last_code = u.code, last_error = u.error,
                delivered_at = CASE WHEN u.status = 'delivered' THEN now() END,
                next_at = now() + make_interval(secs => u.retry)
         FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], $5::float8[]) AS u(id, status, code, error, retry)
         WHERE d.id = u.id AND d.status = 'pending'",
        &ids,
        &status,
        &codes as &[Option<i32>],
        &errors as &[Option<String>],
        &retry
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One row of the delivery log.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub id: i64,
    pub status: String,
    pub attempts: i32,
    pub last_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_at: Option<DateTime<Utc>>,
    pub next_at: DateTime<Utc>,
    pub channel: String,
    pub event_id: Uuid,
    pub kind: String,
    pub severity: i16,
    pub org_name: Option<String>,
    pub title: String,
    pub created_at: DateTime<Utc>,
}

/// The newest deliveries, of one status when given, before id `before`.
pub async fn log(
    pool: &PgPool,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<LogRow>> {
    sqlx::query_as!(
        LogRow,
        r#"SELECT d.id, d.status, d.attempts, d.last_code, d.last_error, d.last_at, d.next_at,
                  c.name AS channel, n.event_id, n.kind, n.severity, n.org_name, n.title, n.created_at
           FROM deliveries d JOIN channels c ON c.id = d.channel_id
           JOIN notifications n ON n.id = d.notification_id
           WHERE ($1::text IS NULL OR d.status = $1) AND ($2::int8 IS NULL OR d.id < $2)
           ORDER BY d.id DESC LIMIT $3"#,
        status,
        before,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Removes notifications written more than `days` ago, with their
/// deliveries, unless one is still being tried; how many went. In batches,
/// so no one statement holds many locks for long.
pub async fn prune(pool: &PgPool, days: i32) -> sqlx::Result<u64> {
    const BATCH: i64 = 5_000;
    let mut removed = 0;
    loop {
        let n = sqlx::query!(
            "DELETE FROM notifications WHERE id IN (
               SELECT n.id FROM notifications n
               WHERE n.created_at < now() - make_interval(days => $1)
                 AND NOT EXISTS (SELECT 1 FROM deliveries d
                                 WHERE d.notification_id = n.id AND d.status IN ('pending', 'held'))
               LIMIT $2)",
            days,
            BATCH
        )
        .execute(pool)
        .await?
        .rows_affected();
        removed += n;
        if n < BATCH as u64 {
            return Ok(removed);
        }
    }
}

/// Puts a dead delivery back to work (same event id), audited; `false` if
/// it is not dead or its channel is gone.
pub async fn resend(pool: &PgPool, actor: &str, id: i64) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"UPDATE deliveries d SET status = 'pending', next_at = now(), attempts = 0
           FROM channels c, notifications n
           WHERE d.id = $1 AND d.status = 'dead' AND c.id = d.channel_id AND c.deleted_at IS NULL
             AND n.id = d.notification_id
           RETURNING c.name, n.event_id, n.kind"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = row else {
        tx.rollback().await?;
        return Ok(false);
    };
    audit(
        &mut tx,
        actor,
        "delivery.resent",
        json!({ "delivery": id, "channel": r.name, "event_id": r.event_id }),
        json!({ "kind": r.kind }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Channels whose URL or secret is sealed under another key than
/// `current_key` (hex), for `keys rotate`: id, sealed URL, sealed secret.
pub async fn channels_to_rotate(
    pool: &PgPool,
    current_key: &str,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, Vec<u8>, Option<Vec<u8>>)>> {
    let rows = sqlx::query!(
        "SELECT id, target_sealed, secret_sealed FROM channels
         WHERE encode(substring(target_sealed FROM 2 FOR 4), 'hex') <> $1
            OR encode(substring(secret_sealed FROM 2 FOR 4), 'hex') <> $1
         ORDER BY id LIMIT $2",
        current_key,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.target_sealed, r.secret_sealed))
        .collect())
}

/// Stores a channel's URL and secret sealed again.
pub async fn reseal_channel(
    pool: &PgPool,
    id: Uuid,
    target: &[u8],
    secret: Option<&[u8]>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE channels SET target_sealed = $2, secret_sealed = $3 WHERE id = $1",
        id,
        target,
        secret
    )
    .execute(pool)
    .await?;
    Ok(())
}
