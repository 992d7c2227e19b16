//! Connected apps' consumer keys, learnt a few at a time from the Metadata
//! API by the sync (`cockpit_worker::app_keys`): the REST object the sync
//! reads does not carry them, and the inventory matches by key when known.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A live connected app of the org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub app_key: String,
    /// The `ConnectedApplication` id (`0H4…`).
    pub sf_app_id: Option<String>,
    pub consumer_key: Option<String>,
}

/// Every live connected app of the org whose consumer key is not known,
/// oldest first.
pub async fn keyless(db: impl PgExecutor<'_>, org: Uuid) -> sqlx::Result<Vec<ConnectedApp>> {
    sqlx::query_as!(
        ConnectedApp,
        "SELECT app_key, sf_app_id, consumer_key FROM sf_apps
         WHERE org_id = $1 AND kind = 'connected_app' AND gone_at IS NULL AND consumer_key IS NULL
         ORDER BY first_seen_at, app_key",
        org
    )
    .fetch_all(db)
    .await
}

/// Records keys (app key, consumer key) of apps whose key is not known yet;
/// a key already known is left as it is. How many apps got one.
pub async fn record(
    db: impl PgExecutor<'_>,
    org: Uuid,
    keys: &[(String, String)],
) -> sqlx::Result<u64> {
    let (apps, consumer_keys): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    Ok(sqlx::query!(
        "UPDATE sf_apps a SET consumer_key = k.consumer_key
         FROM unnest($2::text[], $3::text[]) AS k(app_key, consumer_key)
         WHERE a.org_id = $1 AND a.app_key = k.app_key AND a.consumer_key IS NULL",
        org,
        &apps,
        &consumer_keys
    )
    .execute(db)
    .await?
    .rows_affected())
}
