//! An incident's follow-up checklist: tasks with an owner, a due date, done
//! or not, and a note. Declaring an incident fills in the published
//! guidance for a stolen integration; every change is on the incident's
//! timeline and in the audit log, in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::audit::{self, NewEntry};

/// What is left once an integration's tokens are contained, as the
/// guidance after the 2025 campaigns put it (Salesforce, Google's threat
/// intelligence group, the vendors): rotate everything the integration
/// held or could read, hunt, notify, and only then let it back in.
pub const GUIDANCE: [&str; 6] = [
    "Rotate every credential of the integration: its consumer secret, JWT certificate and API keys, at the vendor and in each org",
    "Rotate secrets stored in records the app could read (cloud keys, warehouse and connector credentials, passwords in cases and notes); scan for them with a secrets scanner",
    "Hunt the published indicators (addresses, user agents) in the orgs' logs over the compromise window; ask Salesforce Support for the queries the app ran",
    "Review the reach of the people who authorized the app, administrators first: what could their tokens read",
    "Decide on notifications: GDPR within 72 hours of awareness, SEC 8-K within four business days of materiality, customers and contracts",
    "Re-authorize the legitimate integration once the vendor is confirmed clean: unblock, least-privilege scopes, IP restrictions enforced, refresh token rotation",
];

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    pub note: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The checklist, in order.
pub async fn list(pool: &PgPool, incident: i64) -> sqlx::Result<Vec<Task>> {
    sqlx::query_as!(
        Task,
        "SELECT id, title, owner, due, note, done_at, done_by, updated_by, updated_at
         FROM incident_tasks WHERE incident_id = $1 ORDER BY position, id",
        incident
    )
    .fetch_all(pool)
    .await
}

/// Fills in the guidance for a new incident (inside its declaration).
pub(crate) async fn prefill(
    conn: &mut PgConnection,
    incident: i64,
    actor: &str,
) -> sqlx::Result<()> {
    let titles: Vec<String> = GUIDANCE.iter().map(|t| (*t).to_owned()).collect();
    sqlx::query!(
        "INSERT INTO incident_tasks (incident_id, position, title, updated_by)
         SELECT $1, n::int, t, $3 FROM unnest($2::text[]) WITH ORDINALITY AS g(t, n)",
        incident,
        &titles,
        actor
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn record(
    tx: &mut PgConnection,
    incident: i64,
    actor: &str,
    kind: &str,
    detail: serde_json::Value,
) -> sqlx::Result<()> {
    crate::incidents::event(&mut *tx, incident, actor, kind, None, detail.clone()).await?;
    audit::append(
        &mut *tx,
        &NewEntry {
            actor,
            action: &format!("incident.{kind}"),
            org_id: None,
            target: json!({ "incident": incident, "task": detail["task"] }),
            reason: None,
            outcome: None,
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Adds a task at the end of the checklist.
pub async fn add(
    pool: &PgPool,
    incident: i64,
    actor: &str,
    title: &str,
    owner: Option<&str>,
    due: Option<NaiveDate>,
) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO incident_tasks (incident_id, position, title, owner, due, updated_by)
         SELECT $1, coalesce(max(position), 0) + 1, $2, $3, $4, $5 FROM incident_tasks WHERE incident_id = $1
         RETURNING id",
        incident,
        title,
        owner,
        due,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    let detail = json!({ "task": id, "title": title, "owner": owner, "due": due });
    record(&mut tx, incident, actor, "task_added", detail).await?;
    tx.commit().await?;
    Ok(id)
}

/// A task's new state, as the checklist's row form sends it.
pub struct TaskChange<'a> {
    pub owner: Option<&'a str>,
    pub due: Option<NaiveDate>,
    pub note: Option<&'a str>,
    pub done: bool,
}

/// Changes a task of `incident`; `false` when it has no such task. A change
/// that changes nothing records nothing.
pub async fn update(
    pool: &PgPool,
    incident: i64,
    task: i64,
    actor: &str,
    c: &TaskChange<'_>,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let Some(before) = sqlx::query!(
        "SELECT title, owner, due, note, done_at IS NOT NULL AS \"done!\" FROM incident_tasks
         WHERE id = $1 AND incident_id = $2 FOR UPDATE",
        task,
        incident
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    if before.owner.as_deref() == c.owner
        && before.due == c.due
        && before.note.as_deref() == c.note
        && before.done == c.done
    {
        return Ok(true);
    }
    sqlx::query!(
        "UPDATE incident_tasks SET owner = $3, due = $4, note = $5,
                done_at = CASE WHEN $6 THEN coalesce(done_at, now()) END,
                done_by = CASE WHEN $6 THEN coalesce(done_by, $7) END,
                updated_by = $7, updated_at = now()
         WHERE id = $1 AND incident_id = $2",
        task,
        incident,
        c.owner,
        c.due,
        c.note,
        c.done,
        actor
    )
    .execute(&mut *tx)
    .await?;
    let kind = match (before.done, c.done) {
        (false, true) => "task_done",
        (true, false) => "task_reopened",
        _ => "task_updated",
    };
    let detail = json!({
        "task": task, "title": before.title, "owner": c.owner, "due": c.due, "note": c.note, "done": c.done,
    });
    record(&mut tx, incident, actor, kind, detail).await?;
    tx.commit().await?;
    Ok(true)
}
