//! Incidents: an app found in every org, contained as one request, with a
//! timeline. Containment goes through the ordinary actions (block, then
//! revoke every authorization), which the executor runs and verifies.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use cockpit_domain::notify::{EventKind, Severity};

use crate::actions::{ActionKind, NewAction, request_in};
use crate::audit::{self, NewEntry};
use crate::notify::Notice;

pub const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub ticket: Option<String>,
    pub severity: String,
    pub owner: Option<String>,
    pub query: String,
    pub status: String,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
    pub closed_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_note: Option<String>,
    pub contained_at: Option<DateTime<Utc>>,
}

/// What declaring an incident records.
pub struct NewIncident<'a> {
    pub title: &'a str,
    pub ticket: Option<&'a str>,
    pub severity: &'a str,
    pub owner: Option<&'a str>,
    pub query: &'a str,
    /// (org, app key, matched by), each confirmed by the declarer.
    pub apps: &'a [(Uuid, String, String)],
    pub actor: &'a str,
}

/// Appends one entry to the incident's timeline.
pub(crate) async fn event(
    conn: &mut PgConnection,
    incident: i64,
    actor: &str,
    kind: &str,
    org: Option<Uuid>,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO incident_events (incident_id, actor, kind, org_id, detail) VALUES ($1, $2, $3, $4, $5)",
        incident,
        actor,
        kind,
        org,
        detail
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Tells the channels about the incident (`declared`, `contained`,
/// `closed`, an approval asked for or decided), in the caller's
/// transaction.
async fn notify(
    conn: &mut PgConnection,
    incident: i64,
    kind: EventKind,
    actor: &str,
    extra: serde_json::Value,
) -> sqlx::Result<()> {
    let i = sqlx::query!(
        "SELECT title, severity FROM incidents WHERE id = $1",
        incident
    )
    .fetch_one(&mut *conn)
    .await?;
    let what = match kind {
        EventKind::IncidentDeclared => "declared",
        EventKind::IncidentContained => "being contained",
        EventKind::IncidentClosed => "closed",
        EventKind::ApprovalRequested => "waits for a second admin to approve its containment",
        _ => "containment decided",
    };
    let mut n = Notice::new(
        kind,
        None,
        format!("Incident #{incident} {what}: {}", i.title),
    );
    if kind == EventKind::IncidentDeclared {
        n.severity = Severity::parse(&i.severity).unwrap_or(Severity::High);
    }
    let mut detail =
        json!({ "incident": incident, "title": i.title, "severity": i.severity, "by": actor });
    if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    crate::notify::emit(
        conn,
        &n.detail(detail).link(format!("/incidents/{incident}")),
    )
    .await?;
    Ok(())
}

/// Records the incident, its apps, its first timeline entry and its audit
/// entry, in one transaction.
pub async fn declare(pool: &PgPool, n: &NewIncident<'_>) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO incidents (title, ticket, severity, owner, query, declared_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        n.title,
        n.ticket,
        n.severity,
        n.owner,
        n.query,
        n.actor
    )
    .fetch_one(&mut *tx)
    .await?;
    let (orgs, rest): (Vec<Uuid>, Vec<(String, String)>) = n
        .apps
        .iter()
        .map(|(o, k, m)| (*o, (k.clone(), m.clone())))
        .unzip();
    let (keys, matched): (Vec<String>, Vec<String>) = rest.into_iter().unzip();
    sqlx::query!(
        "INSERT INTO incident_apps (incident_id, org_id, app_key, matched_by)
         SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
        id,
        &orgs,
        &keys,
        &matched
    )
    .execute(&mut *tx)
    .await?;
    let detail = json!({ "title": n.title, "severity": n.severity, "ticket": n.ticket, "query": n.query, "apps": n.apps.len() });
    event(&mut tx, id, n.actor, "declared", None, detail.clone()).await?;
    crate::incident_tasks::prefill(&mut tx, id, n.actor).await?;
    notify(
        &mut tx,
        id,
        EventKind::IncidentDeclared,
        n.actor,
        json!({ "apps": n.apps.len() }),
    )
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: n.actor,
            action: "incident.declared",
            org_id: None,
            target: json!({ "incident": id, "title": n.title }),
            reason: None,
            outcome: Some("open"),
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn get(pool: &PgPool, id: i64) -> sqlx::Result<Option<Incident>> {
    sqlx::query_as!(
        Incident,
        "SELECT id, title, ticket, severity, owner, query, status, declared_by, declared_at,
                closed_by, closed_at, close_note, contained_at
         FROM incidents WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await
}

/// The orgs an incident's apps are in.
pub async fn orgs_of(pool: &PgPool, id: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT org_id FROM incident_apps WHERE incident_id = $1",
        id
    )
    .fetch_all(pool)
    .await
}

/// Incidents with an app in one of `orgs`, newest first.
pub async fn list(pool: &PgPool, orgs: &[Uuid]) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as!(
        Incident,
        "SELECT id, title, ticket, severity, owner, query, status, declared_by, declared_at,
                closed_by, closed_at, close_note, contained_at
         FROM incidents i
         WHERE EXISTS (SELECT 1 FROM incident_apps a WHERE a.incident_id = i.id AND a.org_id = ANY($1))
         ORDER BY declared_at DESC, id DESC LIMIT 200",
        orgs
    )
    .fetch_all(pool)
    .await
}

/// An incident's app in one org, as it stands now.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentApp {
    pub org_id: Uuid,
    pub org_name: String,
    /// The app's row id, when it is still known.
    pub app_id: Option<i64>,
    pub app_key: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub matched_by: String,
    pub tokens: i64,
    pub blocked: bool,
}

pub async fn apps(pool: &PgPool, id: i64, orgs: &[Uuid]) -> sqlx::Result<Vec<IncidentApp>> {
    sqlx::query_as!(
        IncidentApp,
        r#"SELECT ia.org_id, o.name AS org_name, a.id AS "app_id?", ia.app_key, a.name AS "name?",
                  a.kind AS "kind?", ia.matched_by,
                  coalesce(s.tokens, 0) AS "tokens!",
                  coalesce((SELECT x.kind = 'block_app' FROM actions x
                            WHERE x.org_id = ia.org_id AND x.app_key = ia.app_key
                              AND x.kind IN ('block_app', 'unblock_app') AND x.status = 'succeeded'
                            ORDER BY x.finished_at DESC LIMIT 1), false) AS "blocked!"
           FROM incident_apps ia
           JOIN orgs o ON o.id = ia.org_id
           LEFT JOIN sf_apps a ON a.org_id = ia.org_id AND a.app_key = ia.app_key
           LEFT JOIN app_summary s ON s.org_id = ia.org_id AND s.app_key = ia.app_key
           WHERE ia.incident_id = $1 AND ia.org_id = ANY($2)
           ORDER BY lower(o.name), ia.app_key"#,
        id,
        orgs
    )
    .fetch_all(pool)
    .await
}

/// A containment action of the incident.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentAction {
    pub id: i64,
    pub org_id: Uuid,
    pub kind: String,
    pub app_key: Option<String>,
    pub status: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn actions(pool: &PgPool, id: i64, orgs: &[Uuid]) -> sqlx::Result<Vec<IncidentAction>> {
    sqlx::query_as!(
        IncidentAction,
        "SELECT id, org_id, kind, app_key, status, requested_by, requested_at, finished_at
         FROM actions WHERE incident_id = $1 AND org_id = ANY($2) ORDER BY id",
        id,
        orgs
    )
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub org_id: Option<Uuid>,
    pub detail: serde_json::Value,
}

/// The timeline: the incident's own entries, and every outcome of its
/// actions as the executor recorded it in the audit log.
pub async fn timeline(pool: &PgPool, id: i64, orgs: &[Uuid]) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"SELECT at AS "at!", actor AS "actor!", kind AS "kind!", org_id, detail AS "detail!" FROM (
             SELECT e.at, e.actor, e.kind, e.org_id, e.detail, e.id AS n FROM incident_events e
             WHERE e.incident_id = $1 AND (e.org_id IS NULL OR e.org_id = ANY($2))
             UNION ALL
             SELECT l.at, l.actor, l.action, l.org_id,
                    jsonb_build_object('action', l.target->'action', 'outcome', l.outcome, 'target', l.target, 'detail', l.detail - 'token_ids'),
                    l.seq
             FROM audit_log l
             WHERE l.org_id = ANY($2) AND l.action LIKE 'action.%'
               AND (l.target->>'action')::bigint IN (SELECT x.id FROM actions x WHERE x.incident_id = $1)
           ) t ORDER BY at, n"#,
        id,
        orgs
    )
    .fetch_all(pool)
    .await
}

/// Containment could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainRefused {
    /// Someone contained it already, or it is closed.
    NotOpen(String),
}

/// A containment request under the two-person rule.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub id: i64,
    pub kind: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `approved`, `rejected`, `expired` or `broken_glass`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
}

/// Locks the incident for a change and returns its status.
async fn lock(conn: &mut PgConnection, id: i64) -> sqlx::Result<String> {
    sqlx::query_scalar!("SELECT status FROM incidents WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// Locks the incident and checks it is open (not contained, not closed).
async fn open(conn: &mut PgConnection, id: i64) -> sqlx::Result<Result<(), ContainRefused>> {
    let status = lock(conn, id).await?;
    Ok(if status == "open" {
        Ok(())
    } else {
        Err(ContainRefused::NotOpen(status))
    })
}

/// Requests past their time are expired, each with a timeline entry.
async fn expire(conn: &mut PgConnection, id: i64) -> sqlx::Result<()> {
    let gone = sqlx::query!(
        "UPDATE approvals SET status = 'expired', decided_at = expires_at
         WHERE incident_id = $1 AND status = 'pending' AND expires_at <= now()
         RETURNING id, requested_by",
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    for a in gone {
        let detail = json!({ "approval": a.id, "requested_by": a.requested_by });
        event(
            conn,
            id,
            "system:approvals",
            "approval_expired",
            None,
            detail,
        )
        .await?;
    }
    Ok(())
}

async fn pending(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<Approval>> {
    sqlx::query_as!(
        Approval,
        "SELECT id, kind, requested_by, requested_at, reason, expires_at, status, decided_by, decided_at, decision_note
         FROM approvals WHERE incident_id = $1 AND status = 'pending' FOR UPDATE",
        id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Closes a waiting request: decided by `by` with `note` (approved,
/// rejected, or broken glass).
pub(crate) async fn settle(
    conn: &mut PgConnection,
    approval: i64,
    status: &str,
    by: &str,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE approvals SET status = $2, decided_by = $3, decided_at = now(), decision_note = $4 WHERE id = $1",
        approval,
        status,
        by,
        note
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The incident's approval requests, newest first (expired ones marked so).
pub async fn approvals(pool: &PgPool, id: i64) -> sqlx::Result<Vec<Approval>> {
    let mut tx = pool.begin().await?;
    expire(&mut tx, id).await?;
    let all = sqlx::query_as!(
        Approval,
        "SELECT id, kind, requested_by, requested_at, reason, expires_at, status, decided_by, decided_at, decision_note
         FROM approvals WHERE incident_id = $1 ORDER BY id DESC",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(all)
}

/// Contains the incident in every org it names: for each app, a block and
/// then a revocation of every authorization, as ordinary actions naming the
/// incident, all requested in one transaction with their audit entries. The
/// incident turns `contained` in the same transaction, so two people
/// pressing Contain at once create one containment. Returns the actions.
pub async fn contain(
    pool: &PgPool,
    id: i64,
    actor: &str,
    reason: &str,
) -> sqlx::Result<Result<Vec<i64>, ContainRefused>> {
    let mut tx = pool.begin().await?;
    if let Err(refused) = open(&mut tx, id).await? {
        return Ok(Err(refused));
    }
    let created = contain_locked(&mut tx, id, actor, reason, None).await?;
    tx.commit().await?;
    Ok(Ok(created))
}

/// The containment itself, on an incident locked and open. `approved_by`:
/// the second admin who let it go ahead, if the two-person rule applied.
async fn contain_locked(
    tx: &mut PgConnection,
    id: i64,
    actor: &str,
    reason: &str,
    approved_by: Option<&str>,
) -> sqlx::Result<Vec<i64>> {
    let apps = sqlx::query!(
        "SELECT org_id, app_key FROM incident_apps WHERE incident_id = $1 ORDER BY org_id, app_key",
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut created = Vec::new();
    for app in &apps {
        for kind in [ActionKind::BlockApp, ActionKind::RevokeAppAll] {
            let key = format!("incident-{id}-{}", Uuid::new_v4());
            let requested = request_in(
                &mut *tx,
                &NewAction {
                    org_id: app.org_id,
                    kind,
                    app_key: Some(&app.app_key),
                    user_id: None,
                    token_ids: &[],
                    idle_days: None,
                    requested_by: actor,
                    reason,
                    idempotency_key: &key,
                },
            )
            .await?
            .map_err(|_| sqlx::Error::Protocol("a fresh random key was taken".into()))?;
            sqlx::query!(
                "UPDATE actions SET incident_id = $2 WHERE id = $1",
                requested.id,
                id
            )
            .execute(&mut *tx)
            .await?;
            created.push(requested.id);
        }
        event(
            &mut *tx,
            id,
            actor,
            "contain_requested",
            Some(app.org_id),
            json!({ "app_key": app.app_key, "reason": reason, "approved_by": approved_by }),
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE incidents SET status = 'contained', contained_at = now() WHERE id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    notify(
        &mut *tx,
        id,
        EventKind::IncidentContained,
        actor,
        json!({ "actions": created.len(), "reason": reason, "approved_by": approved_by }),
    )
    .await?;
    audit::append(
        &mut *tx,
        &NewEntry {
            actor,
            action: "incident.contain_requested",
            org_id: None,
            target: json!({ "incident": id }),
            reason: Some(reason),
            outcome: Some("pending"),
            detail: json!({ "actions": created, "apps": apps.len(), "approved_by": approved_by }),
        },
    )
    .await?;
    Ok(created)
}

/// Asks a second admin to approve containing the incident. A request already
/// waiting is returned as it is (two people asking at once make one).
pub async fn request_contain(
    pool: &PgPool,
    id: i64,
    actor: &str,
    reason: &str,
    expires_after: chrono::Duration,
) -> sqlx::Result<Result<Approval, ContainRefused>> {
    let mut tx = pool.begin().await?;
    if let Err(refused) = open(&mut tx, id).await? {
        return Ok(Err(refused));
    }
    expire(&mut tx, id).await?;
    if let Some(waiting) = pending(&mut tx, id).await? {
        tx.commit().await?;
        return Ok(Ok(waiting));
    }
    let approval = sqlx::query_as!(
        Approval,
        "INSERT INTO approvals (kind, incident_id, requested_by, reason, expires_at)
         VALUES ('contain', $1, $2, $3, now() + make_interval(secs => $4))
         RETURNING id, kind, requested_by, requested_at, reason, expires_at, status, decided_by, decided_at, decision_note",
        id,
        actor,
        reason,
        expires_after.num_seconds() as f64
    )
    .fetch_one(&mut *tx)
    .await?;
    let detail =
        json!({ "approval": approval.id, "reason": reason, "expires_at": approval.expires_at });
    event(
        &mut tx,
        id,
        actor,
        "approval_requested",
        None,
        detail.clone(),
    )
    .await?;
    notify(
        &mut tx,
        id,
        EventKind::ApprovalRequested,
        actor,
        json!({ "reason": reason, "expires_at": approval.expires_at }),
    )
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "incident.contain_approval_requested",
            org_id: None,
            target: json!({ "incident": id, "approval": approval.id }),
            reason: Some(reason),
            outcome: Some("pending"),
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(approval))
}

/// Why a decision was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideRefused {
    /// No request waits (decided, expired, or never made).
    NonePending,
    /// The requester cannot be the second person.
    OwnRequest,
}

/// A second admin approves (the containment starts, in the same
/// transaction) or rejects the waiting request, with a note. Returns the
/// containment's actions when approved.
pub async fn decide(
    pool: &PgPool,
    id: i64,
    approver: &str,
    approve: bool,
    note: &str,
) -> sqlx::Result<Result<Vec<i64>, DecideRefused>> {
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, id).await?;
    expire(&mut tx, id).await?;
    let Some(waiting) = pending(&mut tx, id).await?.filter(|_| status == "open") else {
        tx.commit().await?;
        return Ok(Err(DecideRefused::NonePending));
    };
    if waiting.requested_by == approver {
        tx.rollback().await?;
        return Ok(Err(DecideRefused::OwnRequest));
    }
    let verdict = if approve { "approved" } else { "rejected" };
    settle(&mut tx, waiting.id, verdict, approver, note).await?;
    let detail =
        json!({ "approval": waiting.id, "requested_by": waiting.requested_by, "note": note });
    event(&mut tx, id, approver, verdict, None, detail.clone()).await?;
    notify(
        &mut tx,
        id,
        EventKind::ApprovalDecided,
        approver,
        json!({ "decision": verdict, "requested_by": waiting.requested_by }),
    )
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: approver,
            action: if approve {
                "incident.contain_approved"
            } else {
                "incident.contain_rejected"
            },
            org_id: None,
            target: json!({ "incident": id, "approval": waiting.id }),
            reason: Some(note),
            outcome: Some(verdict),
            detail,
        },
    )
    .await?;
    let created = if approve {
        contain_locked(
            &mut tx,
            id,
            &waiting.requested_by,
            &waiting.reason,
            Some(approver),
        )
        .await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(Ok(created))
}

/// A global admin contains the incident without a second person, with a
/// mandatory reason: a waiting request is closed as `broken_glass`, and the
/// timeline and the audit log say so.
pub async fn break_glass(
    pool: &PgPool,
    id: i64,
    actor: &str,
    reason: &str,
) -> sqlx::Result<Result<Vec<i64>, ContainRefused>> {
    let mut tx = pool.begin().await?;
    if let Err(refused) = open(&mut tx, id).await? {
        return Ok(Err(refused));
    }
    expire(&mut tx, id).await?;
    let waiting = pending(&mut tx, id).await?;
    if let Some(w) = &waiting {
        settle(&mut tx, w.id, "broken_glass", actor, reason).await?;
    }
    let detail = json!({ "approval": waiting.as_ref().map(|w| w.id), "reason": reason });
    event(&mut tx, id, actor, "break_glass", None, detail.clone()).await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "incident.break_glass",
            org_id: None,
            target: json!({ "incident": id }),
            reason: Some(reason),
            outcome: Some("contained"),
            detail,
        },
    )
    .await?;
    let created = contain_locked(&mut tx, id, actor, reason, None).await?;
    tx.commit().await?;
    Ok(Ok(created))
}

/// Closes the incident with a note; `false` if it was closed already.
pub async fn close(pool: &PgPool, id: i64, actor: &str, note: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let closed = sqlx::query!(
        "UPDATE incidents SET status = 'closed', closed_by = $2, closed_at = now(), close_note = $3
         WHERE id = $1 AND status <> 'closed'",
        id,
        actor,
        note
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !closed {
        tx.rollback().await?;
        return Ok(false);
    }
    event(&mut tx, id, actor, "closed", None, json!({ "note": note })).await?;
    notify(
        &mut tx,
        id,
        EventKind::IncidentClosed,
        actor,
        json!({ "note": note }),
    )
    .await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "incident.closed",
            org_id: None,
            target: json!({ "incident": id }),
            reason: Some(note),
            outcome: Some("closed"),
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
