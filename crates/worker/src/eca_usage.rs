//! A sync step of its own: External Client Apps and their usage through the
//! Connect REST usage endpoints (the only source Salesforce offers for ECA
//! usage). Everything is pulled before anything is stored, and what is
//! stored belongs to the run: pages show it once the run has succeeded.
//!
//! The list of ECAs costs a call per 100 apps; each ECA's users a call per
//! 100 users plus one (Salesforce answers a `nextPageUrl` even on the last
//! page). Pulling every list on every sync would cost far more than the
//! tokens themselves, so a sync spends at most a budget of calls on user
//! lists, stalest first; the others keep the lists of an earlier run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cockpit_db::eca_usage::{EcaUsage, EcaUser};
use cockpit_salesforce::{EcaAppUsage, EcaUserUsage, SalesforceClient};
use futures::TryStreamExt;

use crate::WorkerError;

/// Connect's largest page.
const PAGE_SIZE: u32 = 100;

fn bounded(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Every ECA with usage, and the users of those whose turn it is within
/// `budget` calls (`users: None` for the others). `last_pulled` is when each
/// ECA's users were last pulled. Any failed call fails the step.
pub async fn pull(
    client: &SalesforceClient,
    last_pulled: &HashMap<String, DateTime<Utc>>,
    budget: u64,
) -> Result<Vec<EcaUsage>, WorkerError> {
    let apps: Vec<EcaAppUsage> = client.eca_apps(PAGE_SIZE).try_collect().await?;
    // Never pulled first, then the oldest.
    let mut turn: Vec<usize> = (0..apps.len()).collect();
    turn.sort_by_key(|&i| last_pulled.get(&apps[i].identifier).copied());
    let mut users: Vec<Option<Vec<EcaUser>>> = vec![None; apps.len()];
    let start = client.request_count();
    for i in turn {
        if client.request_count().saturating_sub(start) >= budget {
            break;
        }
        let list: Vec<EcaUserUsage> = client
            .eca_app_users(&apps[i].identifier, PAGE_SIZE)
            .try_collect()
            .await?;
        users[i] = Some(
            list.into_iter()
                .map(|u| EcaUser {
                    user_id: bounded(&u.user_identifier, 40),
                    username: u.username.as_deref().map(|n| bounded(n, 255)),
                    tokens: u.token_count,
                    first_used_at: u.initial_connection_at,
                    last_used_at: u.last_used_at,
                    use_count: u.use_count,
                })
                .collect(),
        );
    }
    Ok(apps
        .into_iter()
        .zip(users)
        .map(|(app, users)| EcaUsage {
            app_key: bounded(&app.identifier, 40),
            developer_name: app.developer_name.as_deref().map(|d| bounded(d, 120)),
            users,
        })
        .collect())
}
