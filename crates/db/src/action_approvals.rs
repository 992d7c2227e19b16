//! The two-person rule for single-org actions (see
//! [`crate::actions::request_with_rule`]): the waiting request, a second
//! admin's decision, a global admin breaking glass, and expiry. Each step is
//! one transaction with its audit entry; an approved action is queued in the
//! same transaction.

use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::audit::{self, NewEntry};
use crate::incidents::{Approval, DecideRefused, settle};

const SYSTEM: &str = "system:approvals";

/// Expires every request past its time, and its action with it.
pub async fn expire_due(pool: &PgPool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let n = expire(&mut tx, None).await?;
    tx.commit().await?;
    Ok(n)
}

/// Expires the requests past their time (of one action, or all), each with
/// its action and an audit entry.
async fn expire(conn: &mut PgConnection, action: Option<i64>) -> sqlx::Result<u64> {
    let gone = sqlx::query!(
        "WITH gone AS (
            UPDATE approvals SET status = 'expired', decided_at = expires_at
            WHERE kind = 'action' AND status = 'pending' AND expires_at <= now()
              AND ($1::bigint IS NULL OR action_id = $1)
            RETURNING id, action_id, requested_by, expires_at)
         UPDATE actions a SET status = 'expired', finished_at = g.expires_at,
                detail = 'no second admin approved it in time'
         FROM gone g WHERE a.id = g.action_id
         RETURNING a.id, a.org_id, g.id AS approval, g.requested_by",
        action
    )
    .fetch_all(&mut *conn)
    .await?;
    for g in &gone {
        audit::append(
            &mut *conn,
            &NewEntry {
                actor: SYSTEM,
                action: "action.approval_expired",
                org_id: Some(g.org_id),
                target: json!({ "action": g.id, "approval": g.approval }),
                reason: None,
                outcome: Some("expired"),
                detail: json!({ "requested_by": g.requested_by }),
            },
        )
        .await?;
    }
    Ok(gone.len() as u64)
}

/// The action's approval requests, newest first (expired ones marked so).
pub async fn of_action(pool: &PgPool, action: i64) -> sqlx::Result<Vec<Approval>> {
    let read = || {
        sqlx::query_as!(
            Approval,
            "SELECT id, kind, requested_by, requested_at, reason, expires_at, status, decided_by, decided_at, decision_note
             FROM approvals WHERE action_id = $1 ORDER BY id DESC",
            action
        )
        .fetch_all(pool)
    };
    let all = read().await?;
    // A plain read, unless a request is past its time and the worker's tick
    // has not expired it yet: then it is expired here first, so no page
    // offers to approve what can no longer be approved.
    let now = chrono::Utc::now();
    if !all
        .iter()
        .any(|a| a.status == "pending" && a.expires_at <= now)
    {
        return Ok(all);
    }
    let mut tx = pool.begin().await?;
    expire(&mut tx, Some(action)).await?;
    tx.commit().await?;
    read().await
}

/// The waiting request of the action, locked with the action.
async fn waiting(
    conn: &mut PgConnection,
    action: i64,
) -> sqlx::Result<Option<(Approval, uuid::Uuid)>> {
    let org = sqlx::query_scalar!(
        "SELECT org_id FROM actions WHERE id = $1 AND status = 'awaiting_approval' FOR UPDATE",
        action
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(org) = org else { return Ok(None) };
    expire(conn, Some(action)).await?;
    let pending = sqlx::query_as!(
        Approval,
        "SELECT id, kind, requested_by, requested_at, reason, expires_at, status, decided_by, decided_at, decision_note
         FROM approvals WHERE action_id = $1 AND status = 'pending' FOR UPDATE",
        action
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(pending.map(|p| (p, org)))
}

/// The action may run: it is queued.
async fn release(conn: &mut PgConnection, org: uuid::Uuid, action: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE actions SET status = 'pending' WHERE id = $1",
        action
    )
    .execute(&mut *conn)
    .await?;
    crate::actions::queue(&mut *conn, org, action).await
}

/// A second admin of the action's org approves it (it is queued at once)
/// or rejects it, with a note. `Ok(true)`: queued.
pub async fn decide(
    pool: &PgPool,
    action: i64,
    approver: &str,
    approve: bool,
    note: &str,
) -> sqlx::Result<Result<bool, DecideRefused>> {
    let mut tx = pool.begin().await?;
    let Some((w, org)) = waiting(&mut tx, action).await? else {
        tx.commit().await?;
        return Ok(Err(DecideRefused::NonePending));
    };
    if w.requested_by == approver {
        tx.rollback().await?;
        return Ok(Err(DecideRefused::OwnRequest));
    }
    let verdict = if approve { "approved" } else { "rejected" };
    settle(&mut tx, w.id, verdict, approver, note).await?;
    if approve {
        release(&mut tx, org, action).await?;
    } else {
        sqlx::query!(
            "UPDATE actions SET status = 'rejected', finished_at = now(), detail = $2 WHERE id = $1",
            action,
            format!("rejected by {approver}: {note}")
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::append(
        &mut tx,
        &NewEntry {
            actor: approver,
            action: if approve {
                "action.approved"
            } else {
                "action.rejected"
            },
            org_id: Some(org),
            target: json!({ "action": action, "approval": w.id }),
            reason: Some(note),
            outcome: Some(verdict),
            detail: json!({ "requested_by": w.requested_by }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(approve))
}

/// A global admin lets the waiting action go ahead without a second
/// person, with a mandatory reason; the request is closed as
/// `broken_glass` and the audit log says so. `false`: nothing waited.
pub async fn break_glass(
    pool: &PgPool,
    action: i64,
    actor: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let Some((w, org)) = waiting(&mut tx, action).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    settle(&mut tx, w.id, "broken_glass", actor, reason).await?;
    release(&mut tx, org, action).await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor,
            action: "action.break_glass",
            org_id: Some(org),
            target: json!({ "action": action, "approval": w.id }),
            reason: Some(reason),
            outcome: Some("pending"),
            detail: json!({ "requested_by": w.requested_by }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
