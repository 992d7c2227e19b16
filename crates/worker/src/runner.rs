//! The job runner: enqueues due syncs and works the job table until shutdown.

use std::{sync::Arc, time::Duration};

use cockpit_db::PgPool;
use cockpit_domain::secret::Keyring;
use tokio::sync::watch;

use crate::{
    WorkerError,
    sync::{SyncSettings, sync_org},
};

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Name of this worker in job leases.
    pub worker_id: String,
    /// How often the schedule is checked.
    pub tick: Duration,
    /// A claimed job is retried by another worker when its lease runs out; a
    /// live worker renews it every third of this while the job runs, so only
    /// a dead worker's job (after a `kill -9`) waits this long to resume.
    pub lease: Duration,
    /// Jobs run at once by this process.
    pub jobs: usize,
    /// The most calls an action keeps in flight at its org.
    pub max_in_flight: usize,
    pub sync: SyncSettings,
    /// Notifications: delivered by one loop of this process.
    pub delivery: crate::deliver::DeliverySettings,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            worker_id: format!("{}-{}", hostname(), std::process::id()),
            tick: Duration::from_secs(5),
            lease: Duration::from_secs(30),
            jobs: 4,
            max_in_flight: crate::actions::MAX_IN_FLIGHT,
            sync: SyncSettings::default(),
            delivery: crate::deliver::DeliverySettings::default(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "cockpit".into())
}

/// Runs until `shutdown` turns true: `config.jobs` workers, each claiming
/// and running jobs, so a long sync does not hold up a containment in
/// another org (one org's actions still run one at a time: the executor
/// locks the org). The first also keeps the schedule. Errors are logged and
/// the loops go on.
pub async fn run(
    pool: PgPool,
    keyring: Arc<Keyring>,
    config: RunnerConfig,
    wake: Arc<tokio::sync::Notify>,
    shutdown: watch::Receiver<bool>,
) {
    let workers = (0..config.jobs.max(1))
        .map(|n| worker(n == 0, &pool, &keyring, &config, &wake, shutdown.clone()));
    let deliver = async {
        match crate::deliver::Deliverer::new(pool.clone(), keyring.clone(), config.delivery.clone())
        {
            Ok(d) => d.run(shutdown.clone()).await,
            Err(e) => tracing::error!(error = %e, "cannot deliver notifications"),
        }
    };
    futures::future::join(futures::future::join_all(workers), deliver).await;
}

async fn worker(
    keeps_schedule: bool,
    pool: &PgPool,
    keyring: &Arc<Keyring>,
    config: &RunnerConfig,
    wake: &tokio::sync::Notify,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if keeps_schedule {
            // Syncs whose process died (this one's before a restart, or
            // another one's: a command-line sync killed, a worker cut off)
            // are closed.
            match cockpit_db::sync::fail_abandoned_runs(pool).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(runs = n, "marked syncs whose process stopped as failed"),
                Err(e) => tracing::error!(error = %e, "could not check for interrupted syncs"),
            }
            // Actions nobody approved in time under the two-person rule.
            match cockpit_db::action_approvals::expire_due(pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(actions = n, "approval requests expired"),
                Err(e) => tracing::error!(error = %e, "could not expire approval requests"),
            }
            match cockpit_db::jobs::enqueue_due_syncs(pool).await {
                Ok(due) if !due.is_empty() => wake.notify_waiters(),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "could not enqueue scheduled syncs"),
            }
        }
        // Work every ready job, then wait for the next tick.
        loop {
            if *shutdown.borrow() {
                return;
            }
            match run_one(pool, keyring, config).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::error!(error = %e, "job runner error");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.tick) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Renews a job's lease until dropped.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Claims and runs one job; `Ok(false)` when none was ready.
pub async fn run_one(
    pool: &PgPool,
    keyring: &Arc<Keyring>,
    config: &RunnerConfig,
) -> Result<bool, sqlx::Error> {
    let Some(job) = cockpit_db::jobs::claim(pool, &config.worker_id, config.lease).await? else {
        return Ok(false);
    };
    let _heartbeat = Heartbeat(tokio::spawn({
        let (pool, worker, lease, id) =
            (pool.clone(), config.worker_id.clone(), config.lease, job.id);
        async move {
            let mut every = tokio::time::interval(lease / 3);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = cockpit_db::jobs::extend(&pool, id, &worker, lease).await {
                    tracing::warn!(job = id, error = %e, "could not renew the job's lease");
                }
            }
        }
    }));
    match (job.kind.as_str(), job.org_id) {
        ("sync", Some(org)) => {
            let trigger = job.payload["trigger"]
                .as_str()
                .unwrap_or("schedule")
                .to_owned();
            match sync_org(pool, keyring.clone(), org, &trigger, &config.sync).await {
                Ok(_) => cockpit_db::jobs::complete(pool, job.id).await?,
                Err(WorkerError::Busy) => {
                    let later = chrono::Utc::now() + chrono::Duration::seconds(30);
                    cockpit_db::jobs::release(
                        pool,
                        job.id,
                        "another process is syncing this org",
                        later,
                    )
                    .await?
                }
                // The failure is on the run record and the org page; the
                // schedule brings the next attempt.
                Err(_) => cockpit_db::jobs::complete(pool, job.id).await?,
            }
        }
        ("action", _) => {
            let Some(action) = job.payload["action_id"].as_i64() else {
                cockpit_db::jobs::complete(pool, job.id).await?;
                return Ok(true);
            };
            let retry = |why: String, progressed: bool| async move {
                if progressed {
                    // Work is getting done, more slowly than it should:
                    // pause briefly, and the run does not count.
                    let later = chrono::Utc::now()
                        + chrono::Duration::from_std(crate::actions::backoff(1))
                            .unwrap_or(chrono::Duration::seconds(5));
                    return cockpit_db::jobs::defer(pool, job.id, &why, later).await;
                }
                if job.attempts >= crate::actions::MAX_RUNS {
                    tracing::warn!(action, error = %why, "action stopped after its retries");
                    if let Err(e) = crate::actions::give_up(pool, action, &why).await {
                        // Not finished: the job stays and runs again.
                        tracing::error!(action, error = %e, "could not finish the action");
                        let later = chrono::Utc::now() + chrono::Duration::seconds(60);
                        return cockpit_db::jobs::release(pool, job.id, &why, later).await;
                    }
                    return cockpit_db::jobs::complete(pool, job.id).await;
                }
                tracing::warn!(action, error = %why, attempt = job.attempts, "action interrupted; will retry");
                let pause = crate::actions::backoff(job.attempts);
                let later = chrono::Utc::now()
                    + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::seconds(300));
                cockpit_db::jobs::release(pool, job.id, &why, later).await
            };
            match crate::actions::execute_with(pool, keyring.clone(), action, config.max_in_flight)
                .await
            {
                Ok(crate::actions::Next::Done(_)) => {
                    cockpit_db::jobs::complete(pool, job.id).await?
                }
                Ok(crate::actions::Next::Later(why, secs)) => {
                    let later = chrono::Utc::now() + chrono::Duration::seconds(secs);
                    cockpit_db::jobs::defer(pool, job.id, &why, later).await?
                }
                Ok(crate::actions::Next::Retry { why, progressed }) => {
                    retry(why, progressed).await?
                }
                // The intent is durable: retry with backoff, never drop it.
                Err(e) => retry(e.to_string(), false).await?,
            }
        }
        (kind, _) => {
            tracing::error!(job = job.id, kind, "unknown job kind; dropped");
            cockpit_db::jobs::complete(pool, job.id).await?;
        }
    }
    Ok(true)
}
