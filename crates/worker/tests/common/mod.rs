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
