//! Sync figures (issue: scheduled sync). Prints; asserts nothing.
//!
//! sfsim runs in this process with no added latency; the cockpit runs as the
//! real `oauth-cockpit` binary in a child process, so that its peak memory is
//! its own. Run: `cargo bench -p oauth-cockpit --bench sync_bench`
//! (`SYNC_BENCH_TOKENS`, `SYNC_BENCH_USERS`, `SYNC_BENCH_APPS` change the size;
//! `SYNC_BENCH_KEEP_DB=1` keeps the database for a look at it afterwards).

mod common;

use std::time::Instant;

use common::figure;
use sfsim::{Sim, SimConfig};

/// CPU seconds this process (sfsim's threads, mostly) has used; see the
/// CLI's `sync::cpu_secs`.
fn own_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let tokens = common::env("SYNC_BENCH_TOKENS", 1_000_000) as usize;
    let users = common::env("SYNC_BENCH_USERS", 100_000) as usize;
    let apps = common::env("SYNC_BENCH_APPS", 2_000) as usize;
    let bench_db = common::BenchDb::new("sync");
    let db = bench_db.url.clone();

    println!("sync benchmark: {tokens} tokens, {users} users, {apps} apps");
    let t = Instant::now();
    let sim = Sim::spawn(SimConfig {
        tokens,
        users,
        apps,
        daily_api_limit: 10_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    println!(
        "  sfsim generated the org in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let db2 = db.clone();
    let sim2 = sim.credentials.clone();
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || common::add_org(&db2, &sim2, "bench", &dir_path))
        .await
        .unwrap();

    let mut results = Vec::new();
    // The third run is a scheduled sync's usual case: some activity since
    // the last one (new authorizations, tokens used, a few leavers).
    const ACTIVITY_STEPS: usize = 200;
    let third = format!("resync after {ACTIVITY_STEPS} steps of activity");
    for label in ["first full load", "resync, nothing changed", third.as_str()] {
        if label == third {
            sim.sim.simulate_activity(ACTIVITY_STEPS);
        }
        let db2 = db.clone();
        let sim_cpu = own_cpu_secs();
        let (out, secs) = tokio::task::spawn_blocking(move || {
            common::cockpit(&db2, &["sync", "--org", "bench", "--report-peak-rss"])
        })
        .await
        .unwrap();
        let sim_cpu = own_cpu_secs() - sim_cpu;
        let synced: u64 = figure(&out, "apps, ", " tokens").unwrap_or(0);
        let parts: u64 = figure(&out, "tokens (", " parts)").unwrap_or(0);
        let calls: u64 = figure(&out, "parts), ", " API calls").unwrap_or(0);
        let written: u64 = figure(&out, "API calls; ", " rows written").unwrap_or(0);
        let rss: u64 = figure(&out, "peak RSS: ", " KiB").unwrap_or(0);
        let budget = 1.1 * (synced as f64 / 500.0).ceil() + parts as f64 + 10.0;
        println!(
            "  {label}: {synced} tokens in {secs:.1} s = {:.0} tokens/s (process start to exit)",
            synced as f64 / secs
        );
        println!(
            "    API calls {calls} (budget 1.1 x ceil(tokens/500) + parts + 10 = {budget:.0}; {parts} parts)"
        );
        println!(
            "    rows written {written}; peak RSS of the cockpit {:.0} MiB",
            rss as f64 / 1024.0
        );
        for prefix in ["phases: ", "summaries: "] {
            if let Some(line) = out.lines().find(|l| l.starts_with(prefix)) {
                println!("    {line}");
            }
        }
        let cockpit_cpu = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("CPU: ")?
                    .strip_suffix(" s")?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0);
        println!(
            "    CPU: cockpit {cockpit_cpu:.1} s, sfsim {sim_cpu:.1} s (the rest of {:.1} core-seconds: PostgreSQL, other load, idle)",
            secs * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
        );
        results.push((synced, secs));
    }

    // Baseline: a raw COPY of the same rows into the same table.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    type Row = (
        String,
        String,
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, app_key, user_id, app_name, created_at, last_used_at, use_count FROM sf_tokens",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let org: uuid::Uuid = sqlx::query_scalar("SELECT id FROM orgs")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    // A table like sf_tokens, logged and with its indexes: a TEMP one would
    // measure this session's 8 MB of local buffers rather than the table.
    sqlx::raw_sql("CREATE TABLE copy_target (LIKE sf_tokens INCLUDING ALL)")
        .execute(&mut *conn)
        .await
        .unwrap();
    // Every column, in the binary format the sync copies tokens in.
    let mut copy_rows = cockpit_db::copy::BinaryRows::new();
    let now = chrono::Utc::now();
    for (id, app, user, name, created, used, uses) in &rows {
        copy_rows
            .row(9)
            .uuid(org)
            .text(id)
            .text(app)
            .text(user)
            .text(name)
            .opt_time(*created)
            .opt_time(*used)
            .opt_int(*uses)
            .time(now);
    }
    let bytes = copy_rows.finish();
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY copy_target (org_id, id, app_key, user_id, app_name, created_at, last_used_at, use_count,
                               first_seen_at) FROM STDIN (FORMAT binary)",
        )
        .await
        .unwrap();
    copy.send(bytes).await.unwrap();
    copy.finish().await.unwrap();
    let copy_secs = t.elapsed().as_secs_f64();
    let copy_rate = rows.len() as f64 / copy_secs;
    println!(
        "  raw COPY of the same {} rows: {copy_secs:.2} s = {copy_rate:.0} rows/s",
        rows.len()
    );
    let (synced, secs) = results[0];
    println!(
        "  ratio sync/COPY (first load): {:.3}",
        (synced as f64 / secs) / copy_rate
    );
    sqlx::raw_sql("DROP TABLE copy_target")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    pool.close().await;

    if std::env::var_os("SYNC_BENCH_KEEP_DB").is_some() {
        println!("  database kept: {}", bench_db.name);
        return;
    }
    bench_db.drop_it().await;
}
