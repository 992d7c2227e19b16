//! Watch: once an incident is contained, the syncs of its org report the
//! app coming back on the incident's timeline, each finding once: a stolen
//! refresh token replayed against the block, the block lifted outside the
//! cockpit, a person authorizing the app again.

use cockpit_salesforce::developer_name;
use cockpit_worker::{
    actions::{Next, execute},
    sync::{SyncSettings, sync_org},
};
use sfsim::SimConfig;
use sqlx::PgPool;

mod common;
use common::synced_sim_org;

async fn watch_events(pool: &PgPool, incident: i64) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT kind, detail FROM incident_events WHERE incident_id = $1 AND kind LIKE 'watch_%' ORDER BY id",
    )
    .bind(incident)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn kinds(events: &[(String, serde_json::Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_contained_app_coming_back_is_on_the_timeline_once(pool: PgPool) {
    let config = SimConfig {
        tokens: 2_000,
        users: 500,
        apps: 20,
        ..SimConfig::default()
    };
    let s = synced_sim_org(&pool, config, 9).await;
    let (app_key, app_name): (String, String) = sqlx::query_as(
        "SELECT a.app_key, a.name FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.org_id = $1 AND a.kind = 'connected_app' AND a.installed ORDER BY s.tokens DESC LIMIT 1",
    )
    .bind(s.org)
    .fetch_one(&pool)
    .await
    .unwrap();
    // A refresh token the attacker stole before anyone knew.
    let stolen_id: String = sqlx::query_scalar(
        "SELECT id FROM sf_tokens WHERE org_id = $1 AND app_key = $2 AND gone_at IS NULL LIMIT 1",
    )
    .bind(s.org)
    .bind(&app_key)
    .fetch_one(&pool)
    .await
    .unwrap();
    let stolen = s.sim.sim.refresh_token_of(&stolen_id).unwrap();

    let (id, actions) = common::declare_and_contain(&pool, s.org, &app_key, &app_name).await;
    for a in &actions {
        assert_eq!(
            execute(&pool, s.keyring.clone(), *a).await.unwrap(),
            Next::Done("succeeded".into())
        );
    }
    let settings = SyncSettings::default();
    let sync = || sync_org(&pool, s.keyring.clone(), s.org, "cli", &settings);
    sync().await.unwrap();
    let quiet = watch_events(&pool, id).await;
    assert!(
        !kinds(&quiet).contains(&"watch_live_token")
            && !kinds(&quiet).contains(&"watch_block_removed"),
        "contained and blocked: {quiet:?}"
    );

    // The attacker replays the stolen token: refused, and the org logs it.
    let res = s
        .sim
        .replay_refresh(&reqwest::Client::new(), &app_name, &stolen)
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("app_blocked"));
    sync().await.unwrap();
    let events = watch_events(&pool, id).await;
    let (_, failed) = events
        .iter()
        .rev()
        .find(|(k, _)| k == "watch_failed_logins")
        .expect("the replay is on the timeline");
    assert!(failed["new"].as_i64().unwrap() >= 1, "{failed}");

    // Someone lifts the block in Setup, and a person authorizes the app again.
    let org = cockpit_db::orgs::get(&pool, s.org).await.unwrap().unwrap();
    let client = cockpit_worker::provider::session(&pool, s.keyring.clone(), &org)
        .await
        .unwrap();
    client
        .unblock_connected_app(&developer_name(&app_name))
        .await
        .unwrap();
    let (username, _) = s.sim.sim.ordinary_user();
    let again = s.sim.sim.grant(&app_name, &username).unwrap();
    sync().await.unwrap();
    let events = watch_events(&pool, id).await;
    assert!(
        kinds(&events).contains(&"watch_block_removed"),
        "{events:?}"
    );
    let (_, live) = events
        .iter()
        .find(|(k, _)| k == "watch_live_token")
        .expect("the new authorization is on the timeline");
    assert_eq!(live["token"], again.as_str());
    assert_eq!(live["granted_after_containment"], true);

    // The next sync finds nothing new: each finding is reported once.
    sync().await.unwrap();
    assert_eq!(watch_events(&pool, id).await.len(), events.len());
    let signals = cockpit_db::watch::signals(&pool, &[s.org]).await.unwrap();
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].incident_id, id);
    assert!(signals[0].findings >= 3);
}
