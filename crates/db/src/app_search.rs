//! "Where is this app?": one app looked up across orgs by name, consumer key
//! or Salesforce app id, with what an admin needs in the first minutes of an
//! incident for each org it is in.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// The app in one org.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Found {
    /// The app's row id (its page is `/apps/{id}`).
    pub id: i64,
    pub org_id: Uuid,
    pub org_name: String,
    pub app_key: String,
    pub name: String,
    pub kind: String,
    pub sf_app_id: Option<String>,
    pub consumer_key: Option<String>,
    pub installed: bool,
    /// The last block or unblock the cockpit made succeeded as a block.
    pub blocked: bool,
    /// Live authorizations, and the people holding them.
    pub tokens: i64,
    pub users: i64,
    /// People holding a live authorization who have an administrator's
    /// rights: the System Administrator profile, or Modify All Data, View
    /// All Data or Customize Application through their profile or a
    /// permission set (as the last sync read and counted them).
    pub admins: i64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub requests_24h: i64,
    pub requests_7d: i64,
    pub refresh_policy: Option<String>,
    pub ip_relaxation: Option<String>,
    pub permitted_users: Option<String>,
    pub admin_approved_only: Option<bool>,
    /// How the query matched: `consumer_key`, `app_id` or `name`.
    pub matched_by: String,
}

/// Apps of `orgs` whose consumer key or Salesforce app id is `q` (an app
/// id in its 15- or 18-character form: the first 15 characters are the id),
/// or whose name contains `q` in any case;
/// exact matches first, then by name and org. Gone apps are left out.
pub async fn find(pool: &PgPool, orgs: &[Uuid], q: &str, limit: i64) -> sqlx::Result<Vec<Found>> {
    let pattern = format!(
        "%{}%",
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as!(
        Found,
        r#"SELECT a.id, a.org_id, o.name AS org_name, a.app_key, a.name, a.kind, a.sf_app_id,
                  a.consumer_key, a.installed,
                  coalesce((SELECT x.kind = 'block_app' FROM actions x
                            WHERE x.org_id = a.org_id AND x.app_key = a.app_key
                              AND x.kind IN ('block_app', 'unblock_app') AND x.status = 'succeeded'
                            ORDER BY x.finished_at DESC LIMIT 1), false) AS "blocked!",
                  coalesce(s.tokens, 0) AS "tokens!", coalesce(s.users, 0) AS "users!",
                  coalesce((SELECT h.admins FROM app_admin_holders h
                            WHERE h.org_id = a.org_id AND h.app_key = a.app_key), 0) AS "admins!",
                  s.last_used_at, coalesce(s.requests_24h, 0) AS "requests_24h!",
                  coalesce(s.requests_7d, 0) AS "requests_7d!",
                  a.refresh_policy, a.ip_relaxation, a.permitted_users, a.admin_approved_only,
                  CASE WHEN a.consumer_key = $2 THEN 'consumer_key'
                       WHEN length($2) IN (15, 18) AND left(a.sf_app_id, 15) = left($2, 15) THEN 'app_id'
                       ELSE 'name' END AS "matched_by!"
           FROM sf_apps a
           JOIN orgs o ON o.id = a.org_id
           LEFT JOIN app_summary s ON s.org_id = a.org_id AND s.app_key = a.app_key
           WHERE a.org_id = ANY($1) AND a.gone_at IS NULL
             AND (a.consumer_key = $2
                  OR length($2) IN (15, 18) AND left(a.sf_app_id, 15) = left($2, 15)
                  OR a.name ILIKE $3)
           ORDER BY (a.consumer_key = $2
                     OR length($2) IN (15, 18) AND left(a.sf_app_id, 15) = left($2, 15)) DESC NULLS LAST,
                    lower(a.name), lower(o.name), a.id
           LIMIT $4"#,
        orgs,
        q,
        pattern,
        limit
    )
    .fetch_all(pool)
    .await
}
