//! External Client App usage in the sync: pulled through the Connect usage
//! endpoints, stored per ECA and user, reconciled with OauthToken; a failing
//! Connect call fails the run and changes nothing.

use cockpit_worker::sync::{SyncSettings, sync_org};
use sfsim::{Fault, SimConfig};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{SimOrg, synced_sim_org};

async fn live_tokens(pool: &PgPool, org: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL")
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Per ECA: (app key, users and tokens Salesforce reported, live OauthToken
/// tokens and users) from the latest succeeded sync.
async fn stored(pool: &PgPool, org: Uuid) -> Vec<(String, Option<i32>, Option<i64>, i64, i64)> {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT app_key FROM sf_apps WHERE org_id = $1 AND kind = 'external_client_app' AND gone_at IS NULL ORDER BY app_key",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for key in keys {
        if let Some((app, _)) = cockpit_db::eca_usage::for_app(pool, org, &key, 1_000)
            .await
            .unwrap()
        {
            out.push((
                key,
                app.users,
                app.tokens,
                app.oauth_tokens,
                app.oauth_users,
            ));
        }
    }
    out
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn eca_usage_is_synced_and_a_failing_connect_call_changes_nothing(pool: PgPool) {
    let config = SimConfig {
        tokens: 3_000,
        users: 300,
        apps: 16,
        ..SimConfig::default()
    };
    let SimOrg { sim, keyring, org } = synced_sim_org(&pool, config, 9).await;
    let settings = SyncSettings::default();

    let first = stored(&pool, org).await;
    assert!(!first.is_empty(), "the sim's ECAs have usage");
    for (key, users, tokens, oauth_tokens, oauth_users) in &first {
        // Both sources describe the same live tokens.
        assert_eq!(*tokens, Some(*oauth_tokens), "{key}");
        assert_eq!(users.map(i64::from), Some(*oauth_users), "{key}");
    }
    let (_, users) = cockpit_db::eca_usage::for_app(&pool, org, &first[0].0, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(users.len() as i32), first[0].1);
    assert!(users.iter().all(|u| !u.mismatch()));
    assert!(
        users.iter().all(|u| u.uid.is_some()),
        "users matched to the org's users"
    );

    // A failing Connect call: the run fails, nothing changes.
    sim.sim.simulate_activity(300);
    let tokens_before = live_tokens(&pool, org).await;
    sim.sim
        .set_fault(Fault::ServerErrorOnPath("/apps/oauth/usage/".into()));
    let err = sync_org(&pool, keyring.clone(), org, "cli", &settings)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    let (status, error): (String, Option<String>) = sqlx::query_as(
        "SELECT status, error FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("503"));
    assert_eq!(stored(&pool, org).await, first, "ECA usage unchanged");
    assert_eq!(
        live_tokens(&pool, org).await,
        tokens_before,
        "tokens unchanged"
    );

    // The next run succeeds and both sources agree again.
    sim.sim.clear_faults();
    sync_org(&pool, keyring.clone(), org, "cli", &settings)
        .await
        .unwrap();
    let again = stored(&pool, org).await;
    for (key, users, tokens, oauth_tokens, oauth_users) in &again {
        assert_eq!(*tokens, Some(*oauth_tokens), "{key}");
        assert_eq!(users.map(i64::from), Some(*oauth_users), "{key}");
    }
    // What the failed run stored is gone.
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM eca_usage_apps e JOIN sync_runs r ON r.id = e.sync_run_id
         WHERE e.org_id = $1 AND r.status = 'failed'",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 0);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn user_lists_are_pulled_within_a_budget_stalest_first_and_carried_forward(pool: PgPool) {
    let config = SimConfig {
        tokens: 3_000,
        users: 300,
        apps: 40,
        ..SimConfig::default()
    };
    let SimOrg { sim, keyring, org } = synced_sim_org(&pool, config, 9).await;
    let ecas = stored(&pool, org).await.len();
    assert!(
        ecas >= 3,
        "enough ECAs with usage to need several syncs: {ecas}"
    );

    // One call per sync for user lists: each sync pulls one ECA's users
    // (an ECA with fewer than 100 users costs two calls, so the budget is
    // reached after the first).
    let settings = SyncSettings {
        eca_user_calls: 1,
        ..SyncSettings::default()
    };
    let pulled_at = |pool: PgPool| async move {
        let rows: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
            "SELECT app_key, users_pulled_at FROM eca_usage_apps
             WHERE org_id = $1 AND sync_run_id = (SELECT max(id) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded')
             ORDER BY app_key",
        )
        .bind(org)
        .fetch_all(&pool)
        .await
        .unwrap();
        rows
    };
    let before = pulled_at(pool.clone()).await;
    let calls_before: i64 = sqlx::query_scalar(
        "SELECT api_calls FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    sync_org(&pool, keyring.clone(), org, "cli", &settings)
        .await
        .unwrap();
    let after = pulled_at(pool.clone()).await;
    assert_eq!(after.len(), before.len(), "every ECA still shown");
    let refreshed: Vec<_> = after
        .iter()
        .zip(&before)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.clone())
        .collect();
    assert_eq!(refreshed.len(), 1, "one ECA's users pulled: {refreshed:?}");
    // The one refreshed was among the stalest (never pulled sorts first).
    let stalest = before.iter().map(|b| b.1).min().unwrap();
    let was = before.iter().find(|b| b.0 == refreshed[0]).unwrap().1;
    assert_eq!(was, stalest);
    // The others kept their figures and user rows.
    let now = stored(&pool, org).await;
    for ((key, users, tokens, oauth_tokens, _), (_, at)) in now.iter().zip(&before) {
        if at.is_some() {
            assert!(users.is_some() && *tokens == Some(*oauth_tokens), "{key}");
        }
    }
    let calls_after: i64 = sqlx::query_scalar(
        "SELECT api_calls FROM sync_runs WHERE org_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        calls_after < calls_before,
        "fewer calls than pulling every list: {calls_after} vs {calls_before}"
    );
    drop(sim);
}
