//! Every fault sfsim can inject in the middle of a sync. The ones that end
//! the run leave the stored snapshot exactly as it was, the run recorded
//! failed with its reason, and the next run succeeds; the passing ones (a
//! single 5xx, an answer cut off, an expired session) are retried and the
//! run is complete.

use cockpit_worker::sync::{SyncSettings, sync_org};
use sfsim::{Fault, SimConfig};
use sqlx::PgPool;

mod common;
use common::{SimOrg, synced_sim_org};
use uuid::Uuid;

/// The live snapshot, as a fingerprint that any change would move.
async fn snapshot(pool: &PgPool, org: Uuid) -> (i64, String) {
    sqlx::query_as(
        "SELECT count(*), coalesce(md5(string_agg(id || app_key || coalesce(use_count, 0)::text, ',' ORDER BY id)), '')
         FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn last_run(pool: &PgPool, org: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, error FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 1")
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn faults_mid_sync_keep_the_previous_snapshot(pool: PgPool) {
    let SimOrg { sim, keyring, org } = synced_sim_org(
        &pool,
        SimConfig {
            tokens: 3_000,
            users: 400,
            apps: 12,
            ..SimConfig::default()
        },
        8,
    )
    .await;
    let settings = SyncSettings::default();

    // Faults that end the run: deep into the token fetch (request 12 of ~30).
    let faults: Vec<(Fault, &str)> = vec![
        (Fault::ServerErrorRate(1.0), "HTTP 503"),
        (Fault::ExhaustBudget, "limit"),
    ];
    for (fault, reason) in faults {
        sim.sim.simulate_activity(50); // there is change to (not) apply
        let before = snapshot(&pool, org).await;
        sim.sim.set_fault(fault.clone());
        let err = sync_org(&pool, keyring.clone(), org, "cli", &settings)
            .await
            .unwrap_err();
        sim.sim.clear_faults();
        assert_eq!(
            snapshot(&pool, org).await,
            before,
            "{fault:?} changed the stored snapshot"
        );
        let (status, error) = last_run(&pool, org).await;
        assert_eq!(status, "failed", "{fault:?}");
        let error = error.unwrap_or_default();
        assert!(error.contains(reason), "{fault:?}: {error} ({err})");
        assert!(
            error.starts_with("while "),
            "the reason names the phase: {error}"
        );
        if matches!(fault, Fault::ExhaustBudget) {
            sim.sim.set_api_usage(0);
            let status: String = sqlx::query_scalar("SELECT status FROM orgs WHERE id = $1")
                .bind(org)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(
                status, "paused_budget",
                "a spent budget pauses the org and says so"
            );
        }
        sync_org(&pool, keyring.clone(), org, "cli", &settings)
            .await
            .unwrap();
        assert_eq!(
            snapshot(&pool, org).await.0 as usize,
            sim.sim.token_count(),
            "the next run is complete"
        );
        assert_eq!(last_run(&pool, org).await.0, "succeeded");
    }

    // Survivable: a single 5xx is retried, an answer cut off mid-body is
    // asked again, an expired session is refreshed once.
    for fault in [
        Fault::ServerErrorOnNth(5),
        Fault::DropConnectionMidBody { nth: 12 },
        Fault::TruncateJson { nth: 12 },
        Fault::ExpireSessions,
    ] {
        sim.sim.simulate_activity(20);
        sim.sim.set_fault(fault.clone());
        sync_org(&pool, keyring.clone(), org, "cli", &settings)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        sim.sim.clear_faults();
        assert_eq!(snapshot(&pool, org).await.0 as usize, sim.sim.token_count());
    }
}
