//! Shared by the worker's integration tests: a simulated org, connected with
//! JWT and synced once, exactly as the worker does it.

#![allow(dead_code)]

use std::sync::Arc;

use cockpit_domain::secret::{Keyring, MasterKey};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::PgPool;
use uuid::Uuid;

pub struct SimOrg {
    pub sim: RunningSim,
    pub keyring: Arc<Keyring>,
    pub org: Uuid,
}

pub async fn synced_sim_org(pool: &PgPool, config: SimConfig, key: u8) -> SimOrg {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::spawn(config).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([key; 32]), vec![]));
    let org = cockpit_worker::testing::connect_and_sync(pool, &keyring, "Acme", &sim).await;
    SimOrg { sim, keyring, org }
}

/// An incident naming the app in the org, declared by ada, then contained
/// (the two-person rule is the web's, not the database's); returns the
/// incident and its actions (block, then revoke all).
pub async fn declare_and_contain(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    app_name: &str,
) -> (i64, Vec<i64>) {
    let apps = [(org, app_key.to_owned(), "name".to_owned())];
    let id = cockpit_db::incidents::declare(
        pool,
        &cockpit_db::incidents::NewIncident {
            title: "Stolen tokens",
            ticket: None,
            severity: "critical",
            owner: None,
            query: app_name,
            apps: &apps,
            actor: "user:ada@example.com",
        },
    )
    .await
    .unwrap();
    let actions = cockpit_db::incidents::contain(pool, id, "user:ada@example.com", "contain")
        .await
        .unwrap()
        .unwrap();
    (id, actions)
}

/// The busiest installed connected app (key, name), one of its people with a
/// live authorization, and that person's username.
pub async fn busy_app(pool: &PgPool, org: Uuid) -> (String, String, String, String) {
    sqlx::query_as(
        "SELECT a.app_key, a.name, t.user_id, u.username
         FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         JOIN LATERAL (SELECT user_id FROM sf_tokens t WHERE t.org_id = a.org_id AND t.app_key = a.app_key
                       AND t.gone_at IS NULL LIMIT 1) t ON true
         JOIN sf_users u ON u.org_id = a.org_id AND u.id = t.user_id
         WHERE a.org_id = $1 AND a.kind = 'connected_app' AND a.installed ORDER BY s.tokens DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap()
}
