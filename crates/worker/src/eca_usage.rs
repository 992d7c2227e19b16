//! A sync step of its own: External Client Apps and their usage through the
//! Connect REST usage endpoints (the only source Salesforce offers for ECA
//! usage). Everything is pulled before anything is stored, and what is
//! stored belongs to the run: pages show it once the run has succeeded.

use cockpit_db::eca_usage::{EcaUsage, EcaUser};
use cockpit_salesforce::{EcaAppUsage, EcaUserUsage, SalesforceClient};
use futures::TryStreamExt;

use crate::WorkerError;

/// Connect's largest page.
const PAGE_SIZE: u32 = 100;

fn bounded(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Every ECA with usage and every user of each; any failed call fails the step.
pub async fn pull(client: &SalesforceClient) -> Result<Vec<EcaUsage>, WorkerError> {
    let apps: Vec<EcaAppUsage> = client.eca_apps(PAGE_SIZE).try_collect().await?;
    let mut out = Vec::with_capacity(apps.len());
    for app in apps {
        let users: Vec<EcaUserUsage> = client
            .eca_app_users(&app.identifier, PAGE_SIZE)
            .try_collect()
            .await?;
        out.push(EcaUsage {
            app_key: bounded(&app.identifier, 40),
            developer_name: app.developer_name.as_deref().map(|d| bounded(d, 120)),
            users: users
                .into_iter()
                .map(|u| EcaUser {
                    user_id: bounded(&u.user_identifier, 40),
                    username: u.username.as_deref().map(|n| bounded(n, 255)),
                    tokens: u.token_count,
                    first_used_at: u.initial_connection_at,
                    last_used_at: u.last_used_at,
                    use_count: u.use_count,
                })
                .collect(),
        });
    }
    Ok(out)
}
