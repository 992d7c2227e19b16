//! Page latency under load: a large simulated org is connected and synced
//! into a fresh database, then 16 clients hit the real server over loopback.
//! Prints p50/p99 and requests per second per page; no pass/fail.
//!
//! Size with BENCH_TOKENS (default 200000), BENCH_USERS (20000), BENCH_APPS
//! (500); BENCH_REQUESTS per page (default 4000); BENCH_REUSE=1 measures the
//! database a previous run loaded. Needs the PostgreSQL named
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
    let config = SimConfig {
        tokens: env("BENCH_TOKENS", 200_000),
        users: env("BENCH_USERS", 20_000),
        apps: env("BENCH_APPS", 500),
        daily_api_limit: 100_000_000,
        ..SimConfig::default()
    };
    println!(
        "loading a simulated org: {} tokens, {} users, {} apps",
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
            name: "Bench".into(),
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
    sqlx::raw_sql("ANALYZE").execute(pool).await.unwrap();
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
         ON CONFLICT DO NOTHING",
    )
    .bind(cockpit_web::auth::hash_token(session))
    .execute(pool)
    .await
    .unwrap();
    format!("__Host-cockpit_session={session}")
}

async fn drive(base: &str, cookie: &str, name: &str, urls: &[String], requests: usize) {
    if urls.is_empty() {
        println!("{name:<28} skipped: nothing to request");
        return;
    }
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let urls = Arc::new(urls.to_vec());
    // Warm-up: one pass over the URLs.
    for u in urls.iter().take(50) {
        let _ = client
            .get(format!("{base}{u}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
    }
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
    println!(
        "{name:<28} n={:<6} p50={:>7.2} ms  p99={:>7.2} ms  {:>7.0} req/s{}",
        all.len(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.len() as f64 / wall.as_secs_f64(),
        if failures > 0 {
            format!("  ({failures} non-2xx)")
        } else {
            String::new()
        }
    );
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
        let targets = targets(&pool).await;
        let cookie = admin_session(&pool).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(pool, &base);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cockpit_web::serve(state, listener, async {
            let _ = stop_rx.await;
        }));
        let requests = env("BENCH_REQUESTS", 4_000);
        println!("{CLIENTS} concurrent clients over loopback, {requests} requests per page");
        for (name, urls) in &targets {
            drive(&base, &cookie, name, urls, requests).await;
        }
        let _ = stop_tx.send(());
        let _ = server.await;
    });
}
