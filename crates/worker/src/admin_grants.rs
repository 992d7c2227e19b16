//! Who holds an administrator's rights in the org, read after each
//! snapshot: one query of PermissionSetAssignment (a profile's permissions
//! are a permission set of its own, so it covers profiles and sets alike).
//! Best effort: an integration user without View Setup, or an error, keeps
//! the grants the last sync read, and the sync goes on.

use cockpit_db::admin_grants::Grant;
use cockpit_salesforce::{SalesforceClient, records::AdminGrant};
use futures::TryStreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use crate::WorkerError;

/// The longest label kept: Salesforce allows 80 characters; anything longer
/// did not come from Salesforce as documented.
const MAX_LABEL: usize = 255;

/// Reads the org's grants and replaces the stored ones; returns how many.
pub async fn read(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
) -> Result<usize, WorkerError> {
    let read: Vec<AdminGrant> = client
        .query::<AdminGrant>(AdminGrant::SOQL)
        .try_collect()
        .await?;
    let grants: Vec<Grant> = read.into_iter().filter_map(grant).collect();
    cockpit_db::admin_grants::replace(pool, org, &grants).await?;
    Ok(grants.len())
}

/// The stored form of an assignment; `None` when it names no set or grants
/// none of the rights (the query asks only for those, but the answer is
/// checked, not trusted).
fn grant(a: AdminGrant) -> Option<Grant> {
    let set = a.permission_set?;
    let g = Grant {
        user_id: a.assignee_id,
        permission_set_id: a.permission_set_id,
        label: set
            .label
            .unwrap_or_default()
            .chars()
            .take(MAX_LABEL)
            .collect(),
        via_profile: set.is_owned_by_profile.unwrap_or(false),
        modify_all_data: set.modify_all_data.unwrap_or(false),
        view_all_data: set.view_all_data.unwrap_or(false),
        customize_application: set.customize_application.unwrap_or(false),
    };
    (g.modify_all_data || g.view_all_data || g.customize_application).then_some(g)
}
