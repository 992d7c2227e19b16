//! Watch: after a sync, the apps of contained incidents in the org are
//! checked (see [`cockpit_db::watch`]); the block is read back from
//! Salesforce here, which the snapshot does not hold.

use std::collections::HashSet;

use cockpit_db::PgPool;
use cockpit_salesforce::{SalesforceClient, developer_name};
use uuid::Uuid;

use crate::WorkerError;

/// Checks the org's watched apps; returns the findings new to the timeline.
/// A block that cannot be read this time is not reported as removed.
pub async fn check(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
) -> Result<u64, WorkerError> {
    let watched = cockpit_db::watch::watched(pool, org).await?;
    if watched.is_empty() {
        return Ok(0);
    }
    let mut blocked = Vec::new();
    if watched.iter().any(|w| w.app_kind != "external_client_app") {
        // One call for every connected app: the org's BlacklistedConsumers,
        // named as the cockpit names them when it blocks.
        let listed: HashSet<String> = client
            .list_metadata("BlacklistedConsumer")
            .await?
            .into_iter()
            .map(|m| m.full_name.to_ascii_lowercase())
            .collect();
        for w in watched
            .iter()
            .filter(|w| w.app_kind != "external_client_app")
        {
            let name = developer_name(&w.app_name).to_ascii_lowercase();
            blocked.push((w.app_key.clone(), listed.contains(&name)));
        }
    }
    for w in watched
        .iter()
        .filter(|w| w.app_kind == "external_client_app")
    {
        let Some(id) = w.sf_app_id.as_deref() else {
            continue;
        };
        let dev = crate::actions::eca_developer_name(client, id).await?;
        let read = client.read_eca_policies(&[&dev]).await?;
        if let Some(enabled) = read.first().and_then(|p| p.is_enabled) {
            blocked.push((w.app_key.clone(), !enabled));
        }
    }
    Ok(cockpit_db::watch::check(pool, org, &watched, &blocked).await?)
}
