//! Background work as rows. Enqueue inside the caller's transaction; claim
//! with `FOR UPDATE SKIP LOCKED` as a lease that lapses if the worker dies.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub org_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Enqueues a sync of `org` unless one is already pending (one per org).
pub async fn enqueue_sync(db: impl PgExecutor<'_>, org: Uuid, trigger: &str) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO jobs (kind, org_id, payload) VALUES ('sync', $1, jsonb_build_object('trigger', $2::text))
         ON CONFLICT (org_id) WHERE kind = 'sync' DO NOTHING",
        org,
        trigger
    )
    .execute(db)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Claims the next due job for `lease`; `None` when there is nothing to do.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: std::time::Duration,
) -> sqlx::Result<Option<Job>> {
    let lease_secs = lease.as_secs_f64();
    let row = sqlx::query!(
        "UPDATE jobs SET locked_by = $1, locked_until = now() + make_interval(secs => $2), attempts = attempts + 1
         WHERE id = (
            SELECT id FROM jobs
            WHERE run_after <= now() AND (locked_until IS NULL OR locked_until < now())
            ORDER BY run_after, id
            FOR UPDATE SKIP LOCKED
            LIMIT 1)
         RETURNING id, kind, org_id, payload, attempts",
        worker,
        lease_secs
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Job {
        id: r.id,
        kind: r.kind,
        org_id: r.org_id,
        payload: r.payload,
        attempts: r.attempts,
    }))
}

/// Keeps a long job's lease alive.
pub async fn extend(
    pool: &PgPool,
    job: i64,
    worker: &str,
    lease: std::time::Duration,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $3) WHERE id = $1 AND locked_by = $2",
        job,
        worker,
        lease.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn complete(db: impl PgExecutor<'_>, job: i64) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM jobs WHERE id = $1", job)
        .execute(db)
        .await?;
    Ok(())
}

/// Releases a job to run again at `run_after`, recording why it stopped.
pub async fn release(
    db: impl PgExecutor<'_>,
    job: i64,
    error: &str,
    run_after: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $2, run_after = $3 WHERE id = $1",
        job,
        error,
        run_after
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Like [`release`], but the claim does not count as an attempt: the job
/// waited its turn (another action of the org was running, Salesforce asked
/// to slow down) rather than failed.
pub async fn defer(
    db: impl PgExecutor<'_>,
    job: i64,
    why: &str,
    run_after: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $2, run_after = $3,
                attempts = greatest(attempts - 1, 0) WHERE id = $1",
        job,
        why,
        run_after
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Enqueues a sync for every org whose schedule is due, and moves its
/// schedule on. Returns the orgs enqueued.
pub async fn enqueue_due_syncs(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    let mut tx = pool.begin().await?;
    let due = sqlx::query_scalar!(
        "UPDATE orgs SET next_sync_at = now() + make_interval(mins => sync_interval_minutes)
         WHERE status IN ('connected', 'failed', 'syncing', 'paused_budget')
           AND (next_sync_at IS NULL OR next_sync_at <= now())
         RETURNING id"
    )
    .fetch_all(&mut *tx)
    .await?;
    for org in &due {
        enqueue_sync(&mut *tx, *org, "schedule").await?;
    }
    tx.commit().await?;
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn org(pool: &PgPool) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query!("INSERT INTO orgs (id, name, login_url) VALUES ($1, $2, 'https://login.salesforce.com')", id, id.to_string())
            .execute(pool)
            .await
            .unwrap();
        id
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn one_pending_sync_per_org_and_claims_do_not_overlap(pool: PgPool) {
        let org = org(&pool).await;
        assert!(enqueue_sync(&pool, org, "manual").await.unwrap());
        assert!(
            !enqueue_sync(&pool, org, "manual").await.unwrap(),
            "double click makes one job"
        );
        let job = claim(&pool, "w1", Duration::from_secs(60))
            .await
            .unwrap()
            .expect("a job");
        assert_eq!(job.org_id, Some(org));
        assert_eq!(job.payload["trigger"], "manual");
        assert!(
            claim(&pool, "w2", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none(),
            "leased to w1"
        );
        complete(&pool, job.id).await.unwrap();
        assert!(enqueue_sync(&pool, org, "manual").await.unwrap());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_dead_workers_lease_lapses(pool: PgPool) {
        let org = org(&pool).await;
        enqueue_sync(&pool, org, "schedule").await.unwrap();
        let first = claim(&pool, "dead", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = claim(&pool, "alive", Duration::from_secs(60))
            .await
            .unwrap()
            .expect("lease lapsed");
        assert_eq!(again.id, first.id);
        assert_eq!(again.attempts, 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn due_orgs_are_enqueued_once_per_interval(pool: PgPool) {
        let org = org(&pool).await;
        assert_eq!(enqueue_due_syncs(&pool).await.unwrap(), vec![org]);
        assert!(
            enqueue_due_syncs(&pool).await.unwrap().is_empty(),
            "next run is an interval away"
        );
    }
}
