//! `kill -9` in the middle of a sync, then a restart: no partial snapshot,
//! the interrupted run is recorded as such, and the org syncs again.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use sfsim::Fault;

mod common;
use common::{BIN, KEY, serve, wait_for};

fn cockpit(db: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `org add` of the simulated org as an operator types it, then a first
/// sync when `sync`.
async fn add_org(db: &str, org: &common::SimOrg, sync: bool) {
    let (db, add) = (db.to_owned(), org.org_add("Acme"));
    tokio::task::spawn_blocking(move || {
        let added = cockpit(&db).args(common::strs(&add)).status().unwrap();
        assert!(added.success(), "org add");
        if sync {
            assert!(cockpit(&db).arg("sync").status().unwrap().success());
        }
    })
    .await
    .unwrap();
}

async fn live_tokens(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sf_tokens WHERE gone_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn kill_nine_mid_sync_then_restart(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(6_000, 700, 15).await;
    let sim = &org.sim;
    let c = sim.credentials.clone();
    let key = org.key.clone();
    let (db2, key2) = (db.clone(), key.clone());
    tokio::task::spawn_blocking(move || {
        let ok = cockpit(&db2)
            .args([
                "org",
                "add",
                "--name",
                "Acme",
                "--login-url",
                &c.login_url,
                "--client-id",
                &c.client_id,
                "--jwt-key",
                key2.to_str().unwrap(),
                "--username",
                &c.username,
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        assert!(cockpit(&db2).arg("sync").status().unwrap().success());
    })
    .await
    .unwrap();
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let before = live_tokens(&pool).await;
    assert_eq!(before as usize, sim.sim.token_count());

    // Change in the org, a slow org, and a sync killed while it pulls.
    sim.sim.simulate_activity(200);
    sim.sim
        .set_fault(Fault::Latency(Duration::from_millis(150)));
    let mut child = cockpit(&db).arg("sync").spawn().unwrap();
    let mut running = false;
    for _ in 0..100 {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs WHERE status = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n > 0 {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running, "the sync started");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    sim.sim.clear_faults();

    assert_eq!(live_tokens(&pool).await, before, "no partial snapshot");
    // The restart finishes the story: the dead run is failed, a new one succeeds.
    let db2 = db.clone();
    let ok = tokio::task::spawn_blocking(move || cockpit(&db2).arg("sync").status().unwrap())
        .await
        .unwrap();
    assert!(ok.success());
    let runs: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, error FROM sync_runs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(runs[1].0, "failed");
    assert!(
        runs[1].1.as_deref().unwrap_or("").contains("interrupted"),
        "{runs:?}"
    );
    assert_eq!(runs[2].0, "succeeded");
    assert_eq!(live_tokens(&pool).await as usize, sim.sim.token_count());
}

/// A command-line sync killed while `serve` keeps running: the living
/// process closes the dead run, without a restart of anything.
#[sqlx::test(migrations = false)]
async fn a_killed_sync_is_closed_by_the_living_server(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(6_000, 700, 15).await;
    add_org(&db, &org, true).await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    // The server's own schedule stays out of the way: the run to watch is
    // the command line's.
    sqlx::query("UPDATE orgs SET next_sync_at = now() + interval '1 day'")
        .execute(&pool)
        .await
        .unwrap();
    // Nor does the sync `org add` queued, which the command line's first
    // sync has done already.
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
    let _server = common::browser::Killed(serve(&db));

    org.sim
        .sim
        .set_fault(Fault::Latency(Duration::from_millis(150)));
    let mut child = cockpit(&db).arg("sync").spawn().unwrap();
    let run: i64 = wait_for("the sync to start", Duration::from_secs(30), || async {
        sqlx::query_scalar("SELECT id FROM sync_runs WHERE status = 'running' AND trigger = 'cli'")
            .fetch_optional(&pool)
            .await
            .unwrap()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    org.sim.sim.clear_faults();

    let error: String = wait_for(
        "the server to close the dead run",
        Duration::from_secs(60),
        || async {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT error FROM sync_runs WHERE id = $1 AND status = 'failed'",
            )
            .bind(run)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten()
        },
    )
    .await;
    assert!(error.contains("interrupted"), "{error}");
    let (status, detail): (String, Option<String>) =
        sqlx::query_as("SELECT status, status_detail FROM orgs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed", "the org no longer says it is syncing");
    assert!(detail.unwrap_or_default().contains("interrupted"));
}

/// `kill -9` while a sync archives the org's log files: no file is half
/// archived, and the next sync archives each of the rest once, completely.
#[sqlx::test(migrations = false)]
async fn kill_nine_mid_archive_then_restart(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start_with(sfsim::SimConfig {
        tokens: 3_000,
        users: 500,
        apps: 15,
        log_rows_per_day: Some(30_000),
        ..sfsim::SimConfig::default()
    })
    .await;
    add_org(&db, &org, false).await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let archived = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM log_files WHERE status = 'archived'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    // A slow org: each file is one request; killed once some are archived.
    org.sim
        .sim
        .set_fault(Fault::Latency(Duration::from_millis(400)));
    let mut child = cockpit(&db).arg("sync").spawn().unwrap();
    let p = pool.clone();
    wait_for("two files to be archived", Duration::from_secs(120), || {
        let p = p.clone();
        async move { (archived(p).await >= 2).then_some(()) }
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    org.sim.sim.clear_faults();
    let before_restart = archived(pool.clone()).await;

    // Nothing of a file without its mark: every row belongs to an archived
    // file, and each archived file's rows count its lines.
    let check = |pool: sqlx::PgPool| async move {
        let orphans: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM log_activity a LEFT JOIN log_files f ON f.id = a.file_id
             WHERE a.file_id IS NOT NULL AND f.status IS DISTINCT FROM 'archived'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(orphans, 0, "no rows of a file not archived");
        let uneven: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT f.id, f.lines, coalesce((SELECT sum(requests) FROM log_activity a WHERE a.file_id = f.id), 0)::int8
             FROM log_files f WHERE f.status = 'archived'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for (id, lines, counted) in uneven {
            assert_eq!(lines, counted, "file {id}: every line counted once");
        }
    };
    check(pool.clone()).await;

    let db2 = db.clone();
    let ok = tokio::task::spawn_blocking(move || cockpit(&db2).arg("sync").status().unwrap())
        .await
        .unwrap();
    assert!(ok.success());
    check(pool.clone()).await;
    let (files, once): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (event_type, log_date)) FROM log_files WHERE status = 'archived'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(files, once, "each file once");
    assert!(
        files > before_restart,
        "the restart archived the rest: {files} after {before_restart}"
    );
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM log_files WHERE status <> 'archived'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(failed, 0);
}
