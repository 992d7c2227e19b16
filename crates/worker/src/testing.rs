//! For tests and benchmarks (the `testing` feature): a simulated org
//! connected the way an admin connects a real one, then synced.

use std::sync::Arc;

use cockpit_db::PgPool;
use cockpit_domain::secret::Keyring;
use sfsim::RunningSim;
use uuid::Uuid;

use crate::connect::{ConnectRequest, connect};
use crate::sync::{SyncSettings, sync_org};

/// Connects `sim` as the org `name` by the JWT bearer flow with the
/// simulator's own key, syncs it once, and returns the org's id.
pub async fn connect_and_sync(
    pool: &PgPool,
    keyring: &Arc<Keyring>,
    name: &str,
    sim: &RunningSim,
) -> Uuid {
    let org = connect_sim(pool, keyring, name, sim).await;
    sync_org(pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .expect("the simulated org syncs");
    org
}

/// Connects `sim` as the org `name` by the JWT bearer flow with the
/// simulator's own key, without syncing it; returns the org's id.
pub async fn connect_sim(pool: &PgPool, keyring: &Keyring, name: &str, sim: &RunningSim) -> Uuid {
    let c = &sim.credentials;
    connect(
        pool,
        keyring,
        ConnectRequest::jwt(
            name,
            &c.login_url,
            &c.client_id,
            Some(&c.client_secret),
            &c.jwt_private_key_pem,
            &c.username,
            false,
        )
        .expect("the simulator's credentials make a valid request"),
    )
    .await
    .expect("the simulated org connects")
    .id
}
