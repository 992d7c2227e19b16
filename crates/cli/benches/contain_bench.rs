//! Containment figures. Prints; asserts nothing.
//!
//! Several simulated orgs (10 by default), one connected app holding about
//! 100,000 authorizations across them, every call to Salesforce answered
//! after 250 ms. An incident names the app in every org; Contain is
//! requested by one admin and approved by a second, and the real job runner
//! runs the containment (block, then revoke every authorization, then
//! verify) in all orgs at once. From the approval, the bench prints per org
//! when the block was confirmed and when the last authorization was revoked
//! and verified absent, the calls made and the calls in flight (peak and
//! mean, as the action recorded them), then checks in each simulator that
//! the app is blocked with no authorization left.
//!
//! Run: `cargo bench -p oauth-cockpit --bench contain_bench`.
//! `CONTAIN_BENCH_ORGS` (10), `CONTAIN_BENCH_TOKENS` (authorizations per org
//! in the simulator, 13,500), `CONTAIN_BENCH_LATENCY_MS` (250) and
//! `CONTAIN_BENCH_MAX_IN_FLIGHT` (the operator's ceiling, `--max-in-flight`;
//! 50) change the setup.

mod common;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use cockpit_db::incidents::{NewIncident, decide, declare, request_contain};
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_worker::runner::{RunnerConfig, run};
use common::env;
use sfsim::{Fault, RunningSim, Sim, SimConfig};
use uuid::Uuid;

struct Org {
    id: Uuid,
    name: String,
    sim: RunningSim,
    app_key: String,
    app_name: String,
    consumer_key: String,
    tokens: i64,
    block_done: Option<f64>,
    revoke_done: Option<f64>,
}

#[tokio::main]
async fn main() {
    let orgs_n = env("CONTAIN_BENCH_ORGS", 10) as usize;
    let tokens = env("CONTAIN_BENCH_TOKENS", 13_500) as usize;
    let latency = Duration::from_millis(env("CONTAIN_BENCH_LATENCY_MS", 250));
    let ceiling = env("CONTAIN_BENCH_MAX_IN_FLIGHT", 50) as usize;

    let db = common::BenchDb::new("contain");
    let pool = cockpit_db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    cockpit_db::migrate(&pool).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([9; 32]), vec![]));

    // The orgs, loaded with no added latency.
    let mut orgs = Vec::new();
    for n in 0..orgs_n {
        let sim = Sim::spawn(SimConfig {
            seed: 1_000 + n as u64,
            tokens,
            users: tokens / 3,
            apps: 3,
            daily_api_limit: 10_000_000,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let name = format!("Org {n:02}");
        let id = cockpit_worker::testing::connect_and_sync(&pool, &keyring, &name, &sim).await;
        // The org's busiest connected app stands for the stolen integration.
        let (app_key, app_name, consumer_key, count): (String, String, Option<String>, i64) =
            sqlx::query_as(
                "SELECT a.app_key, a.name, a.consumer_key, count(*) FROM sf_tokens t
                 JOIN sf_apps a USING (org_id, app_key)
                 WHERE t.org_id = $1 AND t.gone_at IS NULL AND a.kind = 'connected_app'
                 GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        let consumer_key = consumer_key
            .or_else(|| sim.sim.app_credentials(&app_name).map(|c| c.0))
            .unwrap();
        orgs.push(Org {
            id,
            name,
            sim,
            app_key,
            app_name,
            consumer_key,
            tokens: count,
            block_done: None,
            revoke_done: None,
        });
    }
    let total: i64 = orgs.iter().map(|o| o.tokens).sum();
    println!(
        "{orgs_n} orgs, the app holds {total} authorizations across them; every call answered after {} ms; \
         at most {ceiling} calls in flight per org",
        latency.as_millis()
    );

    let apps: Vec<(Uuid, String, String)> = orgs
        .iter()
        .map(|o| (o.id, o.app_key.clone(), "consumer_key".to_owned()))
        .collect();
    let incident = declare(
        &pool,
        &NewIncident {
            title: "Vendor integration tokens stolen",
            ticket: Some("BENCH-1"),
            severity: "critical",
            owner: None,
            query: "bench",
            apps: &apps,
            actor: "user:first@example.com",
        },
    )
    .await
    .unwrap();
    // Nothing else in the queue: the syncs `connect` asked for are done.
    sqlx::query("DELETE FROM jobs")
        .execute(&pool)
        .await
        .unwrap();
    request_contain(
        &pool,
        incident,
        "user:first@example.com",
        "vendor announced stolen tokens",
        chrono::Duration::hours(1),
    )
    .await
    .unwrap()
    .unwrap();
    for o in &orgs {
        o.sim.sim.set_fault(Fault::Latency(latency));
    }
    let calls_before: Vec<u64> = orgs.iter().map(|o| o.sim.sim.request_count()).collect();

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(run(
        pool.clone(),
        keyring.clone(),
        RunnerConfig {
            jobs: orgs_n * 2,
            tick: Duration::from_millis(200),
            max_in_flight: ceiling,
            ..RunnerConfig::default()
        },
        Arc::new(tokio::sync::Notify::new()),
        shutdown,
    ));
    let approved = Instant::now();
    let actions = decide(
        &pool,
        incident,
        "user:second@example.com",
        true,
        "confirmed with the vendor",
    )
    .await
    .unwrap()
    .unwrap();
    println!("approved: {} actions queued", actions.len());

    // Watch the actions finish.
    let index: HashMap<Uuid, usize> = orgs.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    loop {
        let rows: Vec<(Uuid, String, String)> =
            sqlx::query_as("SELECT org_id, kind, status FROM actions WHERE incident_id = $1")
                .bind(incident)
                .fetch_all(&pool)
                .await
                .unwrap();
        let at = approved.elapsed().as_secs_f64();
        let mut open = 0;
        for (org, kind, status) in rows {
            let o = &mut orgs[index[&org]];
            let done = !matches!(status.as_str(), "pending" | "running");
            if !done {
                open += 1;
                continue;
            }
            let slot = if kind == "block_app" {
                &mut o.block_done
            } else {
                &mut o.revoke_done
            };
            slot.get_or_insert(at);
        }
        if open == 0 {
            break;
        }
        if at > 1_800.0 {
            println!("gave up waiting after 30 minutes; {open} actions still open");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    let _ = runner.await;

    println!(
        "{:<7} {:>8} {:>10} {:>11} {:>9} {:>8} {:>9} {:>7} {:>5}",
        "org", "tokens", "blocked s", "revoked s", "outcome", "calls", "in flight", "mean", "left"
    );
    let mut worst_block = 0f64;
    let mut worst_revoke = 0f64;
    let mut all_clean = true;
    for (i, o) in orgs.iter().enumerate() {
        let (status, peak, mean): (String, Option<i32>, Option<f32>) = sqlx::query_as(
            "SELECT status, peak_in_flight, mean_in_flight FROM actions
             WHERE incident_id = $1 AND org_id = $2 AND kind = 'revoke_app_all'",
        )
        .bind(incident)
        .bind(o.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        let left = o.sim.sim.tokens_for_app(&o.app_name);
        let blocked = o.sim.sim.is_blocked(&o.consumer_key);
        all_clean &= left == 0 && blocked;
        worst_block = worst_block.max(o.block_done.unwrap_or(f64::NAN));
        worst_revoke = worst_revoke.max(o.revoke_done.unwrap_or(f64::NAN));
        println!(
            "{:<7} {:>8} {:>10.1} {:>11.1} {:>9} {:>8} {:>9} {:>7.1} {:>5}{}",
            o.name,
            o.tokens,
            o.block_done.unwrap_or(f64::NAN),
            o.revoke_done.unwrap_or(f64::NAN),
            status,
            o.sim.sim.request_count() - calls_before[i],
            peak.unwrap_or(0),
            mean.unwrap_or(0.0),
            left,
            if blocked { "" } else { "  NOT BLOCKED" }
        );
    }
    println!(
        "from the approval: blocked and verified in every org {worst_block:.1} s (target <= 30 s); \
         every authorization revoked and verified absent {worst_revoke:.1} s (target <= 120 s); \
         {}",
        if all_clean {
            "every org blocked with 0 authorizations of the app left"
        } else {
            "SOME ORG NOT CLEAN (see above)"
        }
    );

    pool.close().await;
    db.drop_it().await;
}
