//! Action figures (issue: block, revoke, audit). Prints; asserts nothing.
//!
//! Against sfsim in this process: submit-to-intent latency (the action, its
//! items, its audit entry and its job committed), and Revoke All of an app
//! with about 23,000 authorizations through the real executor, at most
//! `ACTIONS_BENCH_MAX_IN_FLIGHT` revokes in flight (default `MAX_IN_FLIGHT`,
//! as `serve` runs), every call answered after `ACTIONS_BENCH_LATENCY_MS`
//! (default 0) once the org is synced.
//! Run: `cargo bench -p oauth-cockpit --bench actions_bench`.

mod common;

use std::{sync::Arc, time::Instant};

use cockpit_db::actions::{ActionKind, NewAction, request};
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_worker::actions::{MAX_IN_FLIGHT, execute_with};
use common::env;
use sfsim::{Sim, SimConfig};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let db = common::BenchDb::new("actions");
    let pool = cockpit_db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    cockpit_db::migrate(&pool).await.unwrap();

    // Few apps, many users: the most popular app holds over 10,000 authorizations.
    let sim = Sim::spawn(SimConfig {
        tokens: 40_000,
        users: 15_000,
        apps: 4,
        daily_api_limit: 10_000_000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([9; 32]), vec![]));
    let org = cockpit_worker::testing::connect_and_sync(&pool, &keyring, "bench", &sim).await;

    // Submit to intent committed, for single revokes.
    let tokens: Vec<String> =
        sqlx::query_scalar("SELECT id FROM sf_tokens WHERE org_id = $1 ORDER BY id LIMIT 300")
            .bind(org)
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut lat = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let ids = vec![t.clone()];
        let key = format!("bench-{i}");
        let started = Instant::now();
        request(
            &pool,
            &NewAction {
                org_id: org,
                kind: ActionKind::RevokeToken,
                app_key: None,
                user_id: None,
                token_ids: &ids,
                idle_days: None,
                requested_by: "user:bench@example.com",
                reason: "benchmark",
                idempotency_key: &key,
            },
        )
        .await
        .unwrap()
        .expect("a fresh idempotency key");
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "submit to intent committed ({} actions): p50 {:.1} ms, p99 {:.1} ms (target p99 <= 100 ms)",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE actions SET status = 'failed'")
        .execute(&pool)
        .await
        .unwrap();

    // Revoke All of the biggest app.
    let (app_key, count): (String, i64) = sqlx::query_as(
        "SELECT app_key, count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL GROUP BY app_key ORDER BY 2 DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    let requested = request(
        &pool,
        &NewAction {
            org_id: org,
            kind: ActionKind::RevokeAppAll,
            app_key: Some(&app_key),
            user_id: None,
            token_ids: &[],
            idle_days: None,
            requested_by: "user:bench@example.com",
            reason: "benchmark",
            idempotency_key: "bench-revoke-all",
        },
    )
    .await
    .unwrap()
    .expect("a fresh idempotency key");
    let ceiling = env("ACTIONS_BENCH_MAX_IN_FLIGHT", MAX_IN_FLIGHT as u64) as usize;
    let latency = env("ACTIONS_BENCH_LATENCY_MS", 0);
    if latency > 0 {
        sim.sim
            .set_fault(sfsim::Fault::Latency(std::time::Duration::from_millis(
                latency,
            )));
    }
    let before = sim.sim.request_count();
    let started = Instant::now();
    let outcome = execute_with(&pool, keyring.clone(), requested.id, ceiling)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let counts = cockpit_db::actions::item_counts(&pool, requested.id)
        .await
        .unwrap();
    let (peak, mean): (Option<i32>, Option<f32>) =
        sqlx::query_as("SELECT peak_in_flight, mean_in_flight FROM actions WHERE id = $1")
            .bind(requested.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    println!(
        "Revoke All of an app with {count} authorizations, {latency} ms per call: {secs:.1} s \
         ({outcome:?}; revoked {}, failed {}), {} requests to Salesforce, ceiling {ceiling} in flight, \
         peak {} / mean {:.1} in flight (target <= 60 s at 0 ms, <= 10 in flight)",
        counts.revoked,
        counts.failed,
        sim.sim.request_count() - before,
        peak.unwrap_or(0),
        mean.unwrap_or(0.0)
    );
    pool.close().await;
    db.drop_it().await;
}
