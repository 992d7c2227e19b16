//! A fault campaign: trials of what an operator's worst day brings, each
//! checked for what would be lost. Every fault sfsim offers is set at
//! points of a sync (the Nth request, for N across a sync's requests) and of
//! a Revoke All; command-line syncs and `serve` in the middle of a Revoke All
//! are killed with SIGKILL at random moments; PostgreSQL (a private cluster
//! this test creates) is stopped in the middle of a sync. After each trial
//! the state must be whole: a snapshot is the one before the sync or the
//! one after it, never a mix; no sync run stays `running`; no action is left
//! with pending items and no job; no authorization is revoked twice; the
//! next sync (or run) completes the story.
//!
//! `CAMPAIGN_TRIALS` trials of each kind of kill, Revoke All fault and
//! outage, and `CAMPAIGN_POINTS` points of a sync for each fault (both
//! default 2: the short run that `scripts/test` runs); `CAMPAIGN_SEED`
//! repeats a run. It prints a table and
//! fails if any trial lost something. The full run and its last table are in
//! `docs/benchmarks.md`.

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use cockpit_db::actions::{ActionKind, NewAction};
use cockpit_domain::secret::{Keyring, MasterKey};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sfsim::Fault;
use sqlx::PgPool;

mod common;
use common::{BIN, KEY, SimOrg, serve};

fn cockpit(db: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `oauth-cockpit sync` to its end; whether it succeeded. A sync that has
/// not ended after two minutes is killed and counts as failed (the check
/// after it says what that left).
async fn sync(db: &str) -> bool {
    let mut child = cockpit(db).arg("sync").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            println!("  a sync did not end within two minutes: killed");
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `oauth-cockpit org add` of the simulated org, as an operator types it.
async fn add_org(db: &str, org: &SimOrg) {
    let (db, add) = (db.to_owned(), org.org_add("Acme"));
    let added = tokio::task::spawn_blocking(move || {
        cockpit(&db).args(common::strs(&add)).status().unwrap()
    })
    .await
    .unwrap();
    assert!(added.success(), "org add");
}

async fn scalar(pool: &PgPool, sql: &str) -> Result<i64, String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())
}

async fn live_tokens(pool: &PgPool) -> Result<i64, String> {
    scalar(pool, "SELECT count(*) FROM sf_tokens WHERE gone_at IS NULL").await
}

/// One kind of trial and how its trials went.
struct Tally {
    kind: &'static str,
    trials: u32,
    lost: Vec<String>,
}

impl Tally {
    fn new(kind: &'static str) -> Tally {
        Tally {
            kind,
            trials: 0,
            lost: Vec::new(),
        }
    }
    fn record(&mut self, what: &str, outcome: Result<(), String>) {
        println!(
            "  {}: {what}: {}",
            self.kind,
            outcome.as_ref().map_or_else(|e| e.as_str(), |_| "ok")
        );
        self.trials += 1;
        if let Err(e) = outcome {
            self.lost.push(format!("{what}: {e}"));
        }
    }
}

/// The snapshot after a sync that ended (`ok` or not): whole, one side or
/// the other of the sync, and no run left `running`; then a clean sync
/// completes it.
async fn check_sync(
    pool: &PgPool,
    db: &str,
    org: &SimOrg,
    before: i64,
    ok: Option<bool>,
) -> Result<(), String> {
    let now = live_tokens(pool).await?;
    let truth = org.sim.sim.token_count() as i64;
    match ok {
        Some(true) if now != truth => {
            return Err(format!(
                "the sync succeeded with {now} of {truth} authorizations"
            ));
        }
        Some(false) if now != before => {
            return Err(format!(
                "a failed sync changed the snapshot: {before} -> {now}"
            ));
        }
        _ if now != before && now != truth => {
            return Err(format!(
                "partial snapshot: {now}, neither {before} nor {truth}"
            ));
        }
        _ => {}
    }
    if !sync(db).await {
        return Err("the next clean sync failed".into());
    }
    let now = live_tokens(pool).await?;
    if now != truth {
        return Err(format!(
            "after the next sync {now} of {truth} authorizations"
        ));
    }
    let running = scalar(
        pool,
        "SELECT count(*) FROM sync_runs WHERE status = 'running'",
    )
    .await?;
    if running > 0 {
        return Err(format!("{running} sync run(s) left running"));
    }
    Ok(())
}

/// The fault kinds sfsim offers, the request-numbered ones at `nth`.
fn faults(nth: u64) -> Vec<(String, Fault)> {
    vec![
        (
            format!("503 on request {nth}"),
            Fault::ServerErrorOnNth(nth),
        ),
        (
            format!("connection dropped mid-body on response {nth}"),
            Fault::DropConnectionMidBody { nth },
        ),
        (
            format!("body cut in half on response {nth}"),
            Fault::TruncateJson { nth },
        ),
        ("30% of requests 503".into(), Fault::ServerErrorRate(0.3)),
        ("every request 503".into(), Fault::ServerErrorRate(1.0)),
        ("API budget exhausted".into(), Fault::ExhaustBudget),
        ("sessions expired".into(), Fault::ExpireSessions),
        (
            "503 on every query".into(),
            Fault::ServerErrorOnPath("/query".into()),
        ),
        (
            "503 on the token endpoint".into(),
            Fault::ServerErrorOnPath("/services/oauth2/token".into()),
        ),
        (
            "503 on the Metadata API".into(),
            Fault::ServerErrorOnPath("/Soap/m/".into()),
        ),
        (
            "a third call in flight refused".into(),
            Fault::MaxInFlight(2),
        ),
        (
            "40 ms on every call".into(),
            Fault::Latency(Duration::from_millis(40)),
        ),
    ]
}

/// The connected app holding the most live authorizations (at least
/// `min`), as the snapshot says: (org, app key, name, authorizations).
async fn busiest_app(pool: &PgPool, min: i64) -> Option<(uuid::Uuid, String, String, i64)> {
    sqlx::query_as(
        "SELECT a.org_id, a.app_key, a.name, count(*) FROM sf_apps a
         JOIN sf_tokens t ON t.org_id = a.org_id AND t.app_key = a.app_key AND t.gone_at IS NULL
         WHERE a.kind = 'connected_app' GROUP BY 1, 2, 3 HAVING count(*) >= $1
         ORDER BY 4 DESC LIMIT 1",
    )
    .bind(min)
    .fetch_optional(pool)
    .await
    .unwrap()
}

async fn revoke_all(pool: &PgPool, org: uuid::Uuid, app_key: &str, key: &str) -> i64 {
    cockpit_db::actions::request(
        pool,
        &NewAction {
            org_id: org,
            kind: ActionKind::RevokeAppAll,
            app_key: Some(app_key),
            user_id: None,
            token_ids: &[],
            idle_days: None,
            requested_by: "user:campaign@example.com",
            reason: "fault campaign",
            idempotency_key: key,
        },
    )
    .await
    .unwrap()
    .unwrap()
    .id
}

/// An action that ended: no item pending, every authorization named in at
/// most one revoke call, and, when it succeeded, none of the app's left.
async fn check_action(pool: &PgPool, org: &SimOrg, id: i64, app: &str) -> Result<String, String> {
    let status: String = sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    if matches!(status.as_str(), "pending" | "running") {
        return Err(format!("the action is still {status}"));
    }
    let pending = scalar(
        pool,
        &format!("SELECT count(*) FROM action_items WHERE action_id = {id} AND status = 'pending'"),
    )
    .await?;
    if pending > 0 {
        return Err(format!("{pending} item(s) left pending, the intent lost"));
    }
    let twice: Vec<String> = org
        .sim
        .sim
        .revoke_calls()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(t, _)| t)
        .collect();
    if !twice.is_empty() {
        return Err(format!("revoked twice: {twice:?}"));
    }
    if status == "succeeded" && org.sim.sim.tokens_for_app(app) > 0 {
        return Err(format!(
            "succeeded but {} authorization(s) of the app are left",
            org.sim.sim.tokens_for_app(app)
        ));
    }
    Ok(status)
}

/// Works the job table as `serve` does, every backoff skipped, until the
/// action has ended or `runs` runs are spent.
async fn run_until_ended(pool: &PgPool, keyring: &Arc<Keyring>, id: i64, runs: usize) {
    let config = cockpit_worker::runner::RunnerConfig::default();
    for _ in 0..runs {
        sqlx::query("UPDATE jobs SET run_after = now() WHERE kind = 'action'")
            .execute(pool)
            .await
            .unwrap();
        let _ = cockpit_worker::runner::run_one(pool, keyring, &config).await;
        if ended(pool, id).await {
            return;
        }
    }
}

async fn ended(pool: &PgPool, id: i64) -> bool {
    let status: String = sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    !matches!(status.as_str(), "pending" | "running")
}

async fn wait_ended(pool: &PgPool, id: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && !ended(pool, id).await {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A PostgreSQL cluster of the test's own, to stop in the middle of work.
/// PostgreSQL refuses to run as root: as root, it runs as the `postgres`
/// account, as `oauth-cockpit demo` does.
struct Cluster {
    bindir: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    run_as: Option<nix::unistd::User>,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let bindir = common::server_bindir()?;
        let run_as = if nix::unistd::Uid::effective().is_root() {
            Some(nix::unistd::User::from_name("postgres").ok()??)
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        if let Some(user) = &run_as {
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).ok()?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            bindir,
            dir,
            port,
            run_as,
        };
        let data = cluster.dir.path().join("data");
        let ok = cluster
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
        cluster.pg_ctl(&["start", "-w"]).then_some(cluster)
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(self.dir.path());
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.command("pg_ctl")
            .args(args)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }
}

#[sqlx::test(migrations = false)]
async fn fault_campaign(_p: sqlx::postgres::PgPoolOptions, opts: sqlx::postgres::PgConnectOptions) {
    let setting = |name: &str| -> u32 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2)
    };
    let (trials, points) = (setting("CAMPAIGN_TRIALS"), setting("CAMPAIGN_POINTS"));
    let seed: u64 = std::env::var("CAMPAIGN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!(
        "fault campaign: {trials} trial(s) of each kind, every fault at {points} point(s) of a sync, \
         CAMPAIGN_SEED={seed}"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let db = common::db_url(&opts);
    // Enough apps that every Revoke All of the run has its own.
    let org = SimOrg::start(2_500 + 600 * trials as usize, 500, 12 + 2 * trials as usize).await;
    add_org(&db, &org).await;
    let before_first = org.sim.sim.request_count();
    assert!(sync(&db).await, "the first sync");
    let requests_per_sync = (org.sim.sim.request_count() - before_first).max(2);
    let pool = PgPool::connect(&db).await.unwrap();
    // The org's schedule stays out of the way of `serve` below.
    sqlx::query("UPDATE orgs SET next_sync_at = now() + interval '1 day'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_base64(KEY).unwrap(), vec![]));
    let mut tallies = Vec::new();

    // Faults set before a sync, at points across its requests.
    let mut t = Tally::new("upstream fault during a sync");
    for i in 0..points {
        let nth = rng.random_range(1..=requests_per_sync);
        for (what, fault) in faults(nth) {
            org.sim.sim.simulate_activity(20);
            let before = live_tokens(&pool).await.unwrap();
            org.sim.sim.set_fault(fault);
            let ok = sync(&db).await;
            org.sim.sim.clear_faults();
            // A new day: the budget an exhausted-budget trial spent is back.
            org.sim.sim.set_api_usage(0);
            let outcome = check_sync(&pool, &db, &org, before, Some(ok)).await;
            t.record(&format!("#{i} {what}"), outcome);
        }
    }
    tallies.push(t);

    // SIGKILL of a command-line sync at a random moment.
    let mut t = Tally::new("kill -9 of a sync");
    for i in 0..trials {
        org.sim.sim.simulate_activity(40);
        let before = live_tokens(&pool).await.unwrap();
        org.sim
            .sim
            .set_fault(Fault::Latency(Duration::from_millis(15)));
        let mut child = cockpit(&db).arg("sync").spawn().unwrap();
        let after_ms = rng.random_range(0..2_500);
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        org.sim.sim.clear_faults();
        let outcome = check_sync(&pool, &db, &org, before, None).await;
        t.record(&format!("#{i} after {after_ms} ms"), outcome);
    }
    tallies.push(t);

    // Faults set in the middle of a Revoke All (the real executor).
    let mut t = Tally::new("upstream fault during a Revoke All");
    for i in 0..trials {
        let Some((org_id, app_key, app, n)) = busiest_app(&pool, 10).await else {
            break;
        };
        let all = faults(1);
        let (what, fault) = &all[rng.random_range(0..all.len())];
        // Requests of the action: about one per authorization.
        let nth = rng.random_range(1..=n as u64);
        let fault = match fault {
            Fault::ServerErrorOnNth(_) => Fault::ServerErrorOnNth(nth),
            Fault::DropConnectionMidBody { .. } => Fault::DropConnectionMidBody { nth },
            Fault::TruncateJson { .. } => Fault::TruncateJson { nth },
            f => f.clone(),
        };
        let id = revoke_all(&pool, org_id, &app_key, &format!("campaign-fault-{i}")).await;
        // The org is in trouble for a while (an action waits out a spent
        // budget or a crowded org rather than fail), then recovers.
        org.sim.sim.set_fault(fault);
        run_until_ended(&pool, &keyring, id, 12).await;
        org.sim.sim.clear_faults();
        org.sim.sim.set_api_usage(0);
        run_until_ended(&pool, &keyring, id, 300).await;
        let mut outcome = check_action(&pool, &org, id, &app).await;
        // What failed is retried from the page's button: it must finish.
        if outcome.as_deref().is_ok_and(|s| s != "succeeded") {
            cockpit_db::actions::retry(&pool, id, "user:campaign@example.com")
                .await
                .unwrap();
            run_until_ended(&pool, &keyring, id, 300).await;
            outcome = match check_action(&pool, &org, id, &app).await {
                Ok(s) if s == "succeeded" => Ok(s),
                Ok(s) => Err(format!("the retry ended {s}")),
                e => e,
            };
        }
        t.record(
            &format!("#{i} {what} ({n} authorizations)"),
            outcome.map(|_| ()),
        );
        assert!(sync(&db).await);
    }
    tallies.push(t);

    // SIGKILL of `serve` in the middle of a Revoke All, then a restart.
    let mut t = Tally::new("kill -9 of serve during a Revoke All");
    for i in 0..trials {
        // Every trial revokes an app's authorizations: the busiest app left,
        // down to one with three.
        let mut found = busiest_app(&pool, 10).await;
        if found.is_none() {
            found = busiest_app(&pool, 3).await;
        }
        let Some((org_id, app_key, app, n)) = found else {
            println!("  no app with three authorizations left: the serve kills end at #{i}");
            break;
        };
        org.sim
            .sim
            .set_fault(Fault::RevokeLatency(Duration::from_millis(
                rng.random_range(50..150),
            )));
        let id = revoke_all(&pool, org_id, &app_key, &format!("campaign-kill-{i}")).await;
        let done_sql = format!(
            "SELECT count(*) FROM action_items WHERE action_id = {id} AND status <> 'pending'"
        );
        let done = || scalar(&pool, &done_sql);
        // Killed once a random share of the authorizations is done: the
        // answers being written, the next batch being read, a revoke in
        // flight are all moments a kill may land on.
        let kill_at = rng.random_range(0..n);
        let mut child = serve(&db);
        let deadline = Instant::now() + Duration::from_secs(60);
        while done().await.unwrap_or(0) < kill_at && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        let done_at_kill = done().await.unwrap_or(0);
        let mut child = serve(&db);
        // A dead worker's job waits out its lease (30 s).
        wait_ended(&pool, id, Duration::from_secs(120)).await;
        let _ = child.kill();
        let _ = child.wait();
        org.sim.sim.clear_faults();
        let outcome = match check_action(&pool, &org, id, &app).await {
            Ok(s) if s == "succeeded" => Ok(()),
            Ok(s) => Err(format!("ended {s}")),
            Err(e) => Err(e),
        };
        t.record(
            &format!("#{i} killed with {done_at_kill} of {n} authorizations done"),
            outcome,
        );
        sqlx::query("DELETE FROM jobs WHERE kind <> 'action'")
            .execute(&pool)
            .await
            .unwrap();
        assert!(sync(&db).await);
    }
    tallies.push(t);

    // PostgreSQL stopped in the middle of a sync, on a cluster of our own.
    let mut t = Tally::new("PostgreSQL stopped during a sync");
    match Cluster::start() {
        None => println!("(no PostgreSQL server binaries here: outage trials skipped)"),
        Some(cluster) => {
            let db = cluster.url();
            add_org(&db, &org).await;
            assert!(sync(&db).await, "the first sync on the private cluster");
            for i in 0..trials {
                org.sim.sim.simulate_activity(40);
                let before = {
                    let pool = PgPool::connect(&db).await.unwrap();
                    let n = live_tokens(&pool).await.unwrap();
                    pool.close().await;
                    n
                };
                org.sim
                    .sim
                    .set_fault(Fault::Latency(Duration::from_millis(15)));
                let mut child = cockpit(&db).arg("sync").spawn().unwrap();
                let after_ms = rng.random_range(0..2_500);
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                cluster.pg_ctl(&["stop", "-m", "immediate"]);
                let _ = tokio::task::spawn_blocking(move || child.wait()).await;
                org.sim.sim.clear_faults();
                assert!(cluster.pg_ctl(&["start", "-w"]), "PostgreSQL starts again");
                let pool = PgPool::connect(&db).await.unwrap();
                let outcome = check_sync(&pool, &db, &org, before, None).await;
                pool.close().await;
                t.record(&format!("#{i} after {after_ms} ms"), outcome);
            }
        }
    }
    tallies.push(t);

    println!();
    println!(
        "{:<40} {:>7} {:>9} {:>7}  lost",
        "kind", "trials", "survived", "failed"
    );
    for t in &tallies {
        println!(
            "{:<40} {:>7} {:>9} {:>7}  {}",
            t.kind,
            t.trials,
            t.trials as usize - t.lost.len(),
            t.lost.len(),
            if t.lost.is_empty() {
                "nothing".to_owned()
            } else {
                t.lost.join("; ")
            }
        );
    }
    let lost: Vec<&String> = tallies.iter().flat_map(|t| &t.lost).collect();
    assert!(lost.is_empty(), "the campaign lost something: {lost:?}");
}
