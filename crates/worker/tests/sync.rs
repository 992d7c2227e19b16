//! Connect an org and sync it, end to end against sfsim (the same code path
//! as a real org; only the base URL differs).

use std::sync::Arc;

use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_worker::sync::{SyncSettings, sync_org};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::PgPool;
use uuid::Uuid;

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::from_bytes([42; 32]), vec![]))
}

async fn sim(tokens: usize) -> RunningSim {
    Sim::spawn(SimConfig {
        tokens,
        users: 900,
        apps: 25,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn connect_jwt(pool: &PgPool, keyring: &Keyring, sim: &RunningSim, name: &str) -> Uuid {
    cockpit_worker::testing::connect_sim(pool, keyring, name, sim).await
}

async fn count(pool: &PgPool, sql: &'static str, org: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn first_sync_is_complete_past_the_cap_and_resync_rewrites_nothing(pool: PgPool) {
    let sim = sim(6_000).await;
    let keyring = keyring();
    let org = connect_jwt(&pool, &keyring, &sim, "Acme production").await;

    let first = sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    assert_eq!(
        first.tokens as usize,
        sim.sim.token_count(),
        "every token, past the 2,500 cap"
    );
    let stored = count(
        &pool,
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org,
    )
    .await;
    assert_eq!(stored as usize, sim.sim.token_count());
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM sf_users WHERE org_id = $1",
            org
        )
        .await
            >= 900
    );
    assert!(count(&pool, "SELECT count(*) FROM sf_apps WHERE org_id = $1", org).await >= 25);
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM app_summary WHERE org_id = $1",
            org
        )
        .await
            >= 25
    );

    let again = sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    assert_eq!(
        again.merged.rows_written(),
        0,
        "nothing changed, nothing rewritten: {:?}",
        again.merged
    );
    let runs = count(
        &pool,
        "SELECT count(*) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded'",
        org,
    )
    .await;
    assert_eq!(runs, 2);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn activity_in_the_org_becomes_history(pool: PgPool) {
    let sim = sim(3_000).await;
    let keyring = keyring();
    let org = connect_jwt(&pool, &keyring, &sim, "Acme").await;
    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    sim.sim.simulate_activity(200);
    let second = sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    assert!(second.merged.rows_written() > 0);
    assert!(second.merged.events > 0, "{:?}", second.merged);
    let stored = count(
        &pool,
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org,
    )
    .await;
    assert_eq!(stored as usize, sim.sim.token_count());
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_failed_sync_keeps_the_previous_snapshot_and_a_later_one_succeeds(pool: PgPool) {
    let sim = sim(3_000).await;
    let keyring = keyring();
    let org = connect_jwt(&pool, &keyring, &sim, "Acme").await;
    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    let before = count(
        &pool,
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org,
    )
    .await;

    sim.sim.simulate_activity(100);
    sim.sim.set_fault(sfsim::Fault::ServerErrorRate(1.0));
    let err = sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap_err();
    sim.sim.clear_faults();
    let after = count(
        &pool,
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org,
    )
    .await;
    assert_eq!(before, after, "failed sync changed the snapshot");
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "SELECT status, error FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(error.as_deref(), Some(err.to_string().as_str()));

    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    let now = count(
        &pool,
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org,
    )
    .await;
    assert_eq!(now as usize, sim.sim.token_count());
}

/// Connected apps' consumer keys come from the Metadata API, a few apps per
/// sync within its call budget, tied to their app by id; a resync of an
/// unchanged org still rewrites nothing.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn consumer_keys_are_learnt_a_few_apps_per_sync(pool: PgPool) {
    let sim = sim(600).await;
    let keyring = keyring();
    let org = connect_jwt(&pool, &keyring, &sim, "Acme production").await;
    let truth = sim.sim.connected_app_keys();
    assert!(truth.len() > 10, "more apps than one sync reads here");
    let settings = SyncSettings {
        app_key_calls: 2,
        ..SyncSettings::default()
    };
    let keyed = || async {
        sqlx::query_as::<_, (String, String)>(
            "SELECT sf_app_id, consumer_key FROM sf_apps
             WHERE org_id = $1 AND consumer_key IS NOT NULL ORDER BY sf_app_id",
        )
        .bind(org)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    sync_org(&pool, keyring.clone(), org, "cli", &settings)
        .await
        .unwrap();
    let first = keyed().await;
    assert_eq!(first.len(), 10, "one listing and one read of 10 apps");
    for (id, key) in &first {
        assert_eq!(truth.get(id), Some(key), "{id} has its own key");
    }
    let mut last = None;
    for _ in 0..truth.len().div_ceil(10) {
        last = Some(
            sync_org(&pool, keyring.clone(), org, "cli", &settings)
                .await
                .unwrap(),
        );
    }
    let all: std::collections::BTreeMap<String, String> = keyed().await.into_iter().collect();
    assert_eq!(all, truth, "every connected app has its key");
    let last = last.unwrap();
    assert_eq!(last.merged.rows_written(), 0, "{:?}", last.merged);
    // With every key known, a sync spends nothing on them.
    let calls = sync_org(&pool, keyring.clone(), org, "cli", &settings)
        .await
        .unwrap()
        .api_calls;
    let without = sync_org(
        &pool,
        keyring.clone(),
        org,
        "cli",
        &SyncSettings {
            app_key_calls: 0,
            ..SyncSettings::default()
        },
    )
    .await
    .unwrap()
    .api_calls;
    assert_eq!(calls, without);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn administrators_rights_are_read_by_profile_and_by_permission_set(pool: PgPool) {
    let sim = sim(600).await;
    let keyring = keyring();
    let org = connect_jwt(&pool, &keyring, &sim, "Acme production").await;
    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    let by_profile = count(
        &pool,
        "SELECT count(*) FROM sf_admin_grants WHERE org_id = $1 AND via_profile",
        org,
    )
    .await;
    let by_set = count(
        &pool,
        "SELECT count(*) FROM sf_admin_grants WHERE org_id = $1 AND NOT via_profile",
        org,
    )
    .await;
    assert!(by_profile > 0 && by_set > 0, "{by_profile} {by_set}");
    // Every System Administrator holds the rights through the profile.
    let admins_without = count(
        &pool,
        "SELECT count(*) FROM sf_users u WHERE u.org_id = $1 AND u.profile = 'System Administrator'
           AND NOT EXISTS (SELECT 1 FROM sf_admin_grants g
                           WHERE g.org_id = u.org_id AND g.user_id = u.id AND g.via_profile)",
        org,
    )
    .await;
    assert_eq!(admins_without, 0);
    // The sets that grant none of the rights are not kept.
    let ordinary = count(
        &pool,
        "SELECT count(*) FROM sf_admin_grants WHERE org_id = $1 AND label = 'Sales Operations'",
        org,
    )
    .await;
    assert_eq!(ordinary, 0);
    // Each grant names a person of the org.
    let strangers = count(
        &pool,
        "SELECT count(*) FROM sf_admin_grants g WHERE g.org_id = $1
           AND NOT EXISTS (SELECT 1 FROM sf_users u WHERE u.org_id = g.org_id AND u.id = g.user_id)",
        org,
    )
    .await;
    assert_eq!(strangers, 0);
    // Per app, the holders of its live authorizations who have the rights.
    let mismatched = count(
        &pool,
        "SELECT count(*) FROM (
           SELECT t.app_key, count(DISTINCT t.user_id) AS n FROM sf_tokens t
           JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
           WHERE t.org_id = $1 AND t.gone_at IS NULL
             AND (u.profile = 'System Administrator' OR EXISTS (
                  SELECT 1 FROM sf_admin_grants g WHERE g.org_id = t.org_id AND g.user_id = t.user_id))
           GROUP BY t.app_key) live
         FULL JOIN (SELECT app_key, admins FROM app_admin_holders WHERE org_id = $1) h USING (app_key)
         WHERE live.n IS DISTINCT FROM h.admins",
        org,
    )
    .await;
    assert_eq!(mismatched, 0);
    let by_set_only = count(
        &pool,
        "SELECT count(*) FROM sf_tokens t JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
         WHERE t.org_id = $1 AND t.gone_at IS NULL AND u.profile <> 'System Administrator'
           AND EXISTS (SELECT 1 FROM sf_admin_grants g WHERE g.org_id = t.org_id AND g.user_id = t.user_id)",
        org,
    )
    .await;
    assert!(
        by_set_only > 0,
        "some authorizations are held by admins by permission set only"
    );
}
