//! Page latency under load: a large simulated org is connected and synced
//! into a fresh database, then 16 clients hit the real server over loopback.
//! Prints p50/p99, requests per second, the rows the database read and the
//! queries it ran per request, and the CPU time per request of the server
//! (this process, which with wrk serves and does not load) and of the
//! database backends serving it, for each page; no pass/fail. The load comes from `wrk` in a
//! process of its own when it is installed (16 connections, BENCH_SECONDS
//! per page, default 10), else from 16 clients inside this process
//! (BENCH_REQUESTS per page, default 4000; BENCH_DRIVER=inprocess forces it).
//!
//! Size with BENCH_TOKENS (default 200000), BENCH_USERS (20000), BENCH_APPS
//! (500), per org, and BENCH_ORGS (1) orgs of that size, each its own
//! simulated org; BENCH_PAGES (a comma-separated list of page names'
//! beginnings, e.g. `where`) measures only those pages; BENCH_REUSE=1
//! measures the database a previous run loaded. Needs the PostgreSQL named
//! by DATABASE_URL (its server; the bench creates `oauth_cockpit_bench`).
//!
//!     cargo bench -p cockpit-web --bench pages_bench

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_web::AppState;
use cockpit_worker::{
    connect::{ConnectRequest, Credentials, connect},
    sync::{SyncSettings, sync_org},
};
use secrecy::SecretString;
use sfsim::{Sim, SimConfig};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::TcpListener;

const CLIENTS: usize = 16;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench database: fresh, or (BENCH_REUSE=1) the one a previous run
/// loaded, to measure again without reloading.
async fn database() -> (PgPool, bool) {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/oauth_cockpit".into());
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends with /dbname");
    if std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1")
        && let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(CLIENTS as u32 + 4)
            .connect(&format!("{server}/oauth_cockpit_bench"))
            .await
    {
        let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM orgs")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        if orgs > 0 {
            cockpit_db::migrate(&pool).await.unwrap();
            println!("reusing the loaded bench database");
            return (pool, true);
        }
    }
    (fresh_database().await, false)
}

async fn fresh_database() -> PgPool {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/oauth_cockpit".into());
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends with /dbname");
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to the postgres database");
    sqlx::raw_sql("DROP DATABASE IF EXISTS oauth_cockpit_bench WITH (FORCE)")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql("CREATE DATABASE oauth_cockpit_bench")
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CLIENTS as u32 + 4)
        .connect(&format!("{server}/oauth_cockpit_bench"))
        .await
        .unwrap();
    cockpit_db::migrate(&pool).await.unwrap();
    pool
}

async fn load(pool: &PgPool) {
    let orgs = env("BENCH_ORGS", 1);
    let started = Instant::now();
    for i in 0..orgs {
        let name = if orgs == 1 {
            "Bench".to_owned()
        } else {
            format!("Bench {}", i + 1)
        };
        load_org(pool, &name, 42 + i as u64).await;
    }
    // VACUUM too: what autovacuum does some time after a large sync (the
    // visibility map lets index-only scans skip the table); without it the
    // figures depend on whether autovacuum got there before the measurement.
    sqlx::raw_sql("VACUUM (ANALYZE)")
        .execute(pool)
        .await
        .unwrap();
    println!(
        "loaded {orgs} org(s) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// One simulated org, connected and synced as an admin would; the
/// simulator is dropped afterwards, so only one is in memory at a time.
async fn load_org(pool: &PgPool, name: &str, seed: u64) {
    let config = SimConfig {
        tokens: env("BENCH_TOKENS", 200_000),
        users: env("BENCH_USERS", 20_000),
        apps: env("BENCH_APPS", 500),
        daily_api_limit: 100_000_000,
        seed,
        ..SimConfig::default()
    };
    println!(
        "loading a simulated org ({name}): {} tokens, {} users, {} apps",
        config.tokens, config.users, config.apps
    );
    let started = Instant::now();
    let sim = Sim::spawn(config).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([7; 32]), vec![]));
    let c = &sim.credentials;
    let org = connect(
        pool,
        &keyring,
        ConnectRequest {
            name: name.into(),
            login_url: url::Url::parse(&c.login_url).unwrap(),
            client_id: c.client_id.clone(),
            client_secret: Some(SecretString::from(c.client_secret.clone())),
            sandbox: false,
            api_version: "66.0".into(),
            credentials: Credentials::JwtBearer {
                private_key_pem: SecretString::from(c.jwt_private_key_pem.clone()),
                username: c.username.clone(),
            },
        },
    )
    .await
    .unwrap()
    .id;
    let out = sync_org(pool, keyring, org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    println!(
        "synced {} tokens in {:.1} s",
        out.tokens,
        started.elapsed().as_secs_f64()
    );
}

/// URLs to request for one page kind, cycled through by the clients.
async fn targets(pool: &PgPool) -> Vec<(&'static str, Vec<String>)> {
    let biggest: Vec<i64> = sqlx::query_scalar(
        "SELECT a.id FROM sf_apps a JOIN app_summary s USING (org_id, app_key) ORDER BY s.tokens DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let users: Vec<i64> = sqlx::query_scalar(
        "SELECT u.uid FROM sf_users u WHERE EXISTS (SELECT 1 FROM sf_tokens t WHERE t.org_id = u.org_id AND t.user_id = u.id) ORDER BY random() LIMIT 200",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    // "Where is this app?" for the apps holding the most authorizations
    // across the orgs: the largest answers.
    let apps: Vec<String> = sqlx::query_scalar(
        "SELECT lower(a.name) FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         GROUP BY lower(a.name) ORDER BY sum(s.tokens) DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let prefixes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT lower(left(name, 3)) FROM sf_users WHERE name ~ '^[A-Za-z]{3}' LIMIT 200",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    vec![
        // No database, no template: what the machine and loopback cost.
        ("healthz (baseline)", vec!["/healthz".to_owned()]),
        (
            "app detail (biggest apps)",
            biggest.iter().map(|id| format!("/apps/{id}")).collect(),
        ),
        (
            "user detail",
            users.iter().map(|id| format!("/users/{id}")).collect(),
        ),
        (
            "user search",
            prefixes.iter().map(|p| format!("/users?q={p}")).collect(),
        ),
        ("overview", vec!["/".to_owned()]),
        (
            "apps list",
            vec![
                "/apps".to_owned(),
                "/apps?sort=name&dir=asc".to_owned(),
                "/apps?sort=last_used&dir=desc".to_owned(),
                "/apps?flag=stale".to_owned(),
            ],
        ),
        (
            "where is this app",
            apps.iter()
                .map(|name| {
                    let q: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                    format!("/apps/where?q={q}")
                })
                .collect(),
        ),
        ("stale report", vec!["/reports/stale".to_owned()]),
        (
            "offboarding report",
            vec!["/reports/offboarding".to_owned()],
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A signed-in global admin: the pages sit behind sign-in.
async fn admin_session(pool: &PgPool) -> String {
    let session = "bench-session-0123456789abcdef0123456789abcdef";
    sqlx::query(
        "INSERT INTO accounts (id, email, role) VALUES ('00000000-0000-0000-0000-0000000be4c4', 'bench@example.com', 'admin')
         ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, '00000000-0000-0000-0000-0000000be4c4', 'bench-csrf-0123456789abcdef0123456789')
         ON CONFLICT (id_hash) DO UPDATE SET created_at = now(), last_seen_at = now(), reauth_at = now(), ended_at = NULL",
    )
    .bind(cockpit_web::auth::hash_token(session))
    .execute(pool)
    .await
    .unwrap();
    format!("__Host-cockpit_session={session}")
}

/// One page kind's figures.
struct Figures {
    n: usize,
    p50_ms: f64,
    p99_ms: f64,
    rps: f64,
    failures: usize,
}

/// CPU seconds (user + system) a process used so far, from /proc (Linux);
/// `None` elsewhere or when the process has ended.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces), from 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux the bench runs on.
    Some(ticks / 100.0)
}

/// CPU seconds used so far by this process (the server; the load generator
/// is wrk, another process) and by the database backends serving the bench
/// database, by backend pid.
async fn cpu_now(pool: &PgPool) -> (f64, std::collections::HashMap<i32, f64>) {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let backends = pids
        .into_iter()
        .filter_map(|p| cpu_seconds(&p.to_string()).map(|c| (p, c)))
        .collect();
    (cpu_seconds("self").unwrap_or(f64::NAN), backends)
}

/// CPU milliseconds per request between two [`cpu_now`] readings: (server,
/// database). A backend started in between counts from zero.
fn cpu_per_request(
    before: &(f64, std::collections::HashMap<i32, f64>),
    after: &(f64, std::collections::HashMap<i32, f64>),
    n: usize,
) -> (f64, f64) {
    let n = n.max(1) as f64;
    let db: f64 = after
        .1
        .iter()
        .map(|(pid, c)| c - before.1.get(pid).copied().unwrap_or(0.0))
        .sum();
    ((after.0 - before.0) * 1000.0 / n, db * 1000.0 / n)
}

fn print_figures(name: &str, f: &Figures, reads: Option<Reads>, cpu: (f64, f64)) {
    println!(
        "{name:<28} n={:<6} p50={:>7.2} ms  p99={:>7.2} ms  {:>7.0} req/s  rows read/request {:>6}  \
         queries/request {:>4}  CPU ms/request: server {:.2}, database {:.2}{}",
        f.n,
        f.p50_ms,
        f.p99_ms,
        f.rps,
        reads.map_or_else(|| "-".to_owned(), |r| r.rows.to_string()),
        reads.map_or_else(|| "-".to_owned(), |r| format!("{:.1}", r.queries)),
        cpu.0,
        cpu.1,
        if f.failures > 0 {
            format!("  ({} non-2xx)", f.failures)
        } else {
            String::new()
        }
    );
}

/// The load generator: `wrk` in a process of its own when it is installed
/// (BENCH_DRIVER=inprocess forces the clients inside this process).
fn wrk_available() -> bool {
    std::env::var("BENCH_DRIVER").map_or(true, |d| d != "inprocess")
        && std::process::Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok()
}

/// A wrk duration (`812.00us`, `1.25ms`, `2.01s`) in milliseconds.
fn wrk_ms(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (v.strip_suffix('s')?, 1000.0)
    };
    Some(num.parse::<f64>().ok()? * scale)
}

fn drive_wrk(base: &str, cookie: &str, urls: &[String], seconds: usize) -> Figures {
    let script = std::env::temp_dir().join(format!("pages_bench_{}.lua", std::process::id()));
    let quote = |s: &str| format!("{s:?}");
    std::fs::write(
        &script,
        format!(
            "local paths = {{ {} }}\n\
             wrk.headers[\"Cookie\"] = {}\n\
             local i = math.random(#paths)\n\
             request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n",
            urls.iter().map(|u| quote(u)).collect::<Vec<_>>().join(", "),
            quote(cookie)
        ),
    )
    .unwrap();
    let out = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CLIENTS}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(base)
        .output()
        .expect("run wrk");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    let n = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Figures {
        n,
        p50_ms: field("50%").and_then(|v| wrk_ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").and_then(|v| wrk_ms(&v)).unwrap_or(f64::NAN),
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        failures: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

async fn drive(base: &str, cookie: &str, urls: &[String], requests: usize) -> Figures {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let urls = Arc::new(urls.to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, urls, base) = (client.clone(), urls.clone(), base.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(requests / CLIENTS);
            let mut failures = 0usize;
            for i in 0..requests / CLIENTS {
                let url = format!("{base}{}", urls[(c * 7919 + i) % urls.len()]);
                let t = Instant::now();
                let res = client.get(&url).send().await.unwrap();
                let ok = res.status().is_success();
                let _ = res.bytes().await.unwrap();
                times.push(t.elapsed());
                failures += usize::from(!ok);
            }
            (times, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (times, f) = t.await.unwrap();
        all.extend(times);
        failures += f;
    }
    let wall = started.elapsed();
    all.sort();
    Figures {
        n: all.len(),
        p50_ms: percentile(&all, 0.50).as_secs_f64() * 1000.0,
        p99_ms: percentile(&all, 0.99).as_secs_f64() * 1000.0,
        rps: all.len() as f64 / wall.as_secs_f64(),
        failures,
    }
}

/// Rows the database read so far (heap rows of sequential scans plus index
/// entries of index scans, over every table) and transactions it ran in the
/// bench database (each page query outside a transaction is one).
async fn rows_read(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT ((SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables)
                 + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes))::bigint,
                (SELECT xact_commit + xact_rollback FROM pg_stat_database
                 WHERE datname = current_database())::bigint",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// What one request of a page made the database do, at most.
#[derive(Clone, Copy)]
struct Reads {
    rows: i64,
    queries: f64,
}

/// The most rows one request of these URLs made the database read (all of
/// its queries together, so at least what its largest query read), over a
/// few of them, each requested twice on a quiet server, and the most
/// queries (transactions) one made. Backends publish their statistics once
/// idle for a second (later if they contend): the reading after the two
/// requests waits for that and takes half; the reading's own transaction
/// before the requests is taken off. The queries are an upper bound: a
/// request served by a connection that has not prepared its statements yet
/// also counts the preparations.
async fn largest_rows_read(
    pool: &PgPool,
    client: &reqwest::Client,
    base: &str,
    urls: &[String],
) -> Reads {
    let mut largest = Reads {
        rows: 0,
        queries: 0.0,
    };
    for u in urls.iter().take(env("BENCH_ROWS_SAMPLES", 3)) {
        // Once first, so that statements are prepared on this connection
        // (a preparation counts as a transaction too).
        let _ = get(client, base, u).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = rows_read(pool).await;
        for _ in 0..2 {
            let _ = get(client, base, u).await;
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let after = rows_read(pool).await;
        largest.rows = largest.rows.max((after.0 - before.0) / 2);
        largest.queries = largest
            .queries
            .max((after.1 - before.1 - 1).max(0) as f64 / 2.0);
    }
    largest
}

/// One request, its body read and dropped; whether it answered 2xx.
async fn get(client: &reqwest::Client, base: &str, path: &str) -> bool {
    let res = client.get(format!("{base}{path}")).send().await.unwrap();
    let ok = res.status().is_success();
    let _ = res.bytes().await;
    ok
}

fn cookie_client(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    // No redirects: a page that sends to sign-in is a failure, not a page.
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn measure(
    pool: &PgPool,
    base: &str,
    cookie: &str,
    name: &str,
    urls: &[String],
    use_wrk: bool,
    reads: Option<Reads>,
) {
    if urls.is_empty() {
        println!("{name:<28} skipped: nothing to request");
        return;
    }
    let client = cookie_client(cookie);
    // Warm-up: one pass over (some of) the URLs.
    let mut failed = 0;
    for u in urls.iter().take(50) {
        failed += usize::from(!get(&client, base, u).await);
    }
    if failed > 0 {
        println!("{name:<28} {failed} warm-up requests were not 2xx (wrk counts only 4xx/5xx)");
    }
    let cpu_before = cpu_now(pool).await;
    let figures = if use_wrk {
        let (base, cookie, urls) = (base.to_owned(), cookie.to_owned(), urls.to_vec());
        let seconds = env("BENCH_SECONDS", 10);
        tokio::task::spawn_blocking(move || drive_wrk(&base, &cookie, &urls, seconds))
            .await
            .unwrap()
    } else {
        drive(base, cookie, urls, env("BENCH_REQUESTS", 4_000)).await
    };
    let cpu = cpu_per_request(&cpu_before, &cpu_now(pool).await, figures.n);
    print_figures(name, &figures, reads, cpu);
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (pool, reused) = database().await;
        if !reused {
            load(&pool).await;
        }
        let mut targets = targets(&pool).await;
        if let Ok(only) = std::env::var("BENCH_PAGES") {
            let only: Vec<&str> = only.split(',').map(str::trim).collect();
            targets.retain(|(name, _)| {
                name.starts_with("healthz") || only.iter().any(|o| name.starts_with(o))
            });
        }
        let cookie = admin_session(&pool).await;
        // Two servers on the same database: one reads it for every request,
        // the other keeps page data in memory until it changes (as `serve`
        // does). Both are measured, the uncached first.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(pool.clone(), &base);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cockpit_web::serve(state, listener, async {
            let _ = stop_rx.await;
        }));
        let cached_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cached_base = format!("http://{}", cached_listener.local_addr().unwrap());
        let cached_state = AppState::new(pool.clone(), &cached_base).with_page_cache();
        let cache = cached_state.pages.clone();
        let (cached_stop_tx, cached_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let cached_server = tokio::spawn(cockpit_web::serve(cached_state, cached_listener, async {
            let _ = cached_stop_rx.await;
        }));
        let use_wrk = wrk_available();
        if use_wrk {
            println!(
                "load from wrk in a separate process: {CLIENTS} connections, 2 threads, {} s per page",
                env("BENCH_SECONDS", 10)
            );
        } else {
            println!(
                "load from {CLIENTS} clients inside this process (wrk not found), {} requests per page",
                env("BENCH_REQUESTS", 4_000)
            );
        }
        // Rows read first, on a quiet server: under load, backends put off
        // publishing their statistics (by up to 10 s when they contend), which
        // would count in whatever is measured next.
        let client = cookie_client(&cookie);
        // The set-up queries (picking the apps and people to request read
        // whole tables) are published by their idle backends up to 10 s
        // later: wait for that, or the first page measured is charged for them.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let mut rows = Vec::new();
        for (name, urls) in &targets {
            rows.push(if name.starts_with("healthz") || urls.is_empty() {
                None
            } else {
                Some(largest_rows_read(&pool, &client, &base, urls).await)
            });
        }
        println!("-- every request reads the database (no page cache)");
        for ((name, urls), rows) in targets.iter().zip(&rows) {
            measure(&pool, &base, &cookie, name, urls, use_wrk, *rows).await;
        }
        println!(
            "-- page cache on, as `serve` runs (data kept until a write commits, at most {} s)",
            cockpit_web::page_cache::TTL.as_secs()
        );
        if cache.generation().is_none() {
            println!("   (the cache is not listening yet: these figures read the database)");
        }
        for (name, urls) in &targets {
            let (hits, misses) = cache.counts();
            measure(&pool, &cached_base, &cookie, name, urls, use_wrk, None).await;
            let (h, m) = cache.counts();
            let (h, m) = (h - hits, m - misses);
            if h + m > 0 {
                println!(
                    "{:<28} page cache: {h} hits, {m} misses ({:.1}% from memory)",
                    "",
                    100.0 * h as f64 / (h + m) as f64
                );
            }
        }
        let largest = rows.iter().flatten().map(|r| r.rows).max().unwrap_or(0);
        println!("largest number of rows one page request read (all its queries): {largest}");
        let _ = stop_tx.send(());
        let _ = server.await;
        let _ = cached_stop_tx.send(());
        let _ = cached_server.await;
    });
}
