//! Threat-hunting figures. Prints; asserts nothing.
//!
//! 1. Archive ingest: sfsim (in this process) serves daily ApiTotalUsage
//!    files of `HUNT_BENCH_INGEST_ROWS` lines (1,000,000) and their Login
//!    files; the real `oauth-cockpit sync` (a child process, so its peak
//!    memory is its own) archives them. Prints lines per second of the
//!    archive phase, the cockpit's peak RSS, and the archive's rows and
//!    bytes per raw log line.
//! 2. Hunts: `HUNT_BENCH_ORGS` orgs (10) × `HUNT_BENCH_DAYS` days (90) of
//!    `HUNT_BENCH_EVENTS` API events a day (100,000), loaded with SQL as
//!    archive rows at the ratio of rows per event the ingest measured; a
//!    hunt of `HUNT_BENCH_INDICATORS` indicators (1,000: addresses,
//!    networks and user-agent substrings, a few of which occur) over all of
//!    it, run `HUNT_BENCH_RUNS` times (20). Prints p50 and p99.
//!
//! Run: `cargo bench -p oauth-cockpit --bench hunt_bench`
//! (`HUNT_BENCH_SKIP_INGEST=1` runs the hunts only, at 0.3 rows per event).

mod common;

use std::time::Instant;

use chrono::Utc;
use cockpit_db::hunts::{NewIndicator, SetInfo};
use common::{env, figure};
use sfsim::{Sim, SimConfig};
use uuid::Uuid;

/// Archives sfsim's logs with the real sync; returns rows per raw line.
async fn ingest(db: &str, pool: &sqlx::PgPool) -> f64 {
    let rows_per_day = env("HUNT_BENCH_INGEST_ROWS", 1_000_000) as usize;
    let t = Instant::now();
    let sim = Sim::spawn(SimConfig {
        tokens: 20_000,
        users: 5_000,
        apps: 60,
        daily_api_limit: 10_000_000,
        log_rows_per_day: Some(rows_per_day),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    println!(
        "archive ingest: sfsim serves daily ApiTotalUsage files of {rows_per_day} lines (generated in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let (db2, creds, dir_path) = (
        db.to_owned(),
        sim.credentials.clone(),
        dir.path().to_owned(),
    );
    let (out, _) = tokio::task::spawn_blocking(move || {
        common::add_org(&db2, &creds, "bench", &dir_path);
        common::cockpit(&db2, &["sync", "--report-peak-rss"])
    })
    .await
    .unwrap();
    let secs: f64 = figure(&out, "archive logs ", " s").unwrap_or(f64::NAN);
    let rss: f64 = figure(&out, "peak RSS: ", " KiB").unwrap_or(0.0);
    let (files, lines, bytes, api_lines): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(lines)::int8, sum(bytes)::int8,
                (sum(lines) FILTER (WHERE event_type = 'ApiTotalUsage'))::int8
         FROM log_files WHERE status = 'archived'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (rows, table_bytes): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM log_activity WHERE file_id IS NOT NULL),
                pg_total_relation_size('log_activity')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    println!(
        "  {files} files, {lines} lines ({api_lines} ApiTotalUsage), {:.0} MB downloaded, archived in {secs:.1} s: {:.0} lines/s",
        bytes as f64 / 1e6,
        lines as f64 / secs
    );
    println!("  peak RSS of the cockpit: {:.0} MiB", rss / 1024.0);
    let ratio = rows as f64 / lines.max(1) as f64;
    println!(
        "  archive: {rows} rows, {:.3} rows and {:.1} bytes (table and indexes) per raw line, against {:.1} bytes of CSV",
        ratio,
        table_bytes as f64 / lines.max(1) as f64,
        bytes as f64 / lines.max(1) as f64
    );
    ratio
}

/// The archive of `orgs` orgs over `days` days, `per_day` rows a day each,
/// written with SQL: addresses from 5,000 networks, 3,000 user agents, 50
/// apps and 5,000 people per org.
async fn load(pool: &sqlx::PgPool, orgs: &[Uuid], days: i64, per_day: i64) {
    sqlx::query(
        "INSERT INTO log_user_agents (user_agent)
         SELECT 'Client-' || g || '/' || (g % 7) || '.' || (g % 13) || ' (lib ' || md5(g::text) || ')'
         FROM generate_series(1, 3000) g ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap();
    for (n, org) in orgs.iter().enumerate() {
        let t = Instant::now();
        sqlx::query(
            "WITH u AS (SELECT array_agg(id ORDER BY id) AS ids, count(*)::int8 AS n FROM log_user_agents)
             INSERT INTO log_activity (org_id, day, source, app_key, app_name, user_id, user_name, ip, ua_id,
                                       subtype, requests, errors, first_seen, last_seen)
             SELECT $1, current_date - (g % $2)::int, CASE WHEN g % 5 = 0 THEN 'login' ELSE 'api' END,
                    'app' || (g % 50), 'App ' || (g % 50), 'user' || (g % 5000), 'user' || (g % 5000) || '@example.com',
                    ('10.' || ((g / 7) % 5000 / 250) || '.' || ((g / 7) % 250) || '.' || (g % 250 + 1))::inet,
                    CASE WHEN g % 5 = 0 THEN u.ids[1 + (g % u.n)::int] END,
                    CASE WHEN g % 5 = 0 THEN 'OauthRefreshToken' ELSE 'REST' END, 1 + g % 9, g % 2,
                    now() - ((g % $2) || ' days')::interval, now() - ((g % $2) || ' days')::interval + interval '1 hour'
             FROM generate_series(1, $3::int8) g, u",
        )
        .bind(org)
        .bind(days as i32)
        .bind(days * per_day)
        .execute(pool)
        .await
        .unwrap();
        println!(
            "  org {n}: {} rows loaded in {:.1} s",
            days * per_day,
            t.elapsed().as_secs_f64()
        );
    }
    sqlx::query("ANALYZE log_activity")
        .execute(pool)
        .await
        .unwrap();
}

fn indicators(n: usize) -> Vec<NewIndicator> {
    let mut out = Vec::new();
    for i in 0..n {
        let (kind, value) = match i % 5 {
            // Addresses: one in fifty occurs in the archive.
            0..=2 if i % 50 == 0 => ("ip", format!("10.{}.{}.{}", i % 20, i % 250, i % 250 + 1)),
            0..=2 => ("ip", format!("198.51.{}.{}", (i / 250) % 250, i % 250)),
            // Networks outside the archive's.
            3 => ("cidr", format!("203.{}.{}.0/24", (i / 250) % 250, i % 250)),
            // User-agent substrings: one in forty occurs.
            _ if i % 40 == 4 => ("user_agent_contains", format!("Client-{}/", i)),
            _ => ("user_agent_contains", format!("evil-fetcher-{i}")),
        };
        let net = match kind {
            "ip" => value.parse::<std::net::IpAddr>().ok().map(Into::into),
            "cidr" => value.parse().ok(),
            _ => None,
        };
        out.push(NewIndicator {
            kind: kind.into(),
            value,
            net,
            valid_from: None,
            valid_to: None,
            note: None,
        });
    }
    out
}

#[tokio::main]
async fn main() {
    let orgs_n = env("HUNT_BENCH_ORGS", 10) as usize;
    let days = env("HUNT_BENCH_DAYS", 90) as i64;
    let events = env("HUNT_BENCH_EVENTS", 100_000) as i64;
    let n_indicators = env("HUNT_BENCH_INDICATORS", 1_000) as usize;
    let runs = env("HUNT_BENCH_RUNS", 20) as usize;
    let bench_db = common::BenchDb::new("hunt");
    let pool = cockpit_db::connect(&bench_db.url, &Default::default())
        .await
        .unwrap();
    cockpit_db::migrate(&pool).await.unwrap();

    let ratio = if std::env::var("HUNT_BENCH_SKIP_INGEST").is_ok() {
        0.3
    } else {
        ingest(&bench_db.url, &pool).await
    };

    let per_day = ((events as f64) * ratio).ceil() as i64;
    println!(
        "hunts: {orgs_n} orgs x {days} days x {events} API events a day, as {per_day} archive rows a day each"
    );
    let mut orgs = Vec::new();
    for n in 0..orgs_n {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO orgs (id, name, login_url, instance_url) VALUES ($1, $2, 'https://login.salesforce.com', 'https://x.my.salesforce.com')")
            .bind(id)
            .bind(format!("Hunt org {n:02}"))
            .execute(&pool)
            .await
            .unwrap();
        orgs.push(id);
    }
    load(&pool, &orgs, days, per_day).await;
    let info = SetInfo {
        name: "bench".into(),
        source_label: "bench".into(),
        ..SetInfo::default()
    };
    let (set, _) = cockpit_db::hunts::import(
        &pool,
        &info,
        false,
        false,
        &indicators(n_indicators),
        "bench",
    )
    .await
    .unwrap();
    let mut times = Vec::new();
    let mut hits = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let id = cockpit_db::hunts::run(&pool, &[set], &orgs, "bench")
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        hits = cockpit_db::hunts::get(&pool, id)
            .await
            .unwrap()
            .unwrap()
            .hits;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM log_activity")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!(
        "  a hunt of {n_indicators} indicators over {rows} rows: p50 {:.0} ms, p99 {:.0} ms ({runs} runs, {hits} hits each), {}",
        pct(0.5),
        pct(0.99),
        Utc::now().format("%Y-%m-%d")
    );
    bench_db.drop_it().await;
}
