//! Who holds an administrator's rights in an org: Modify All Data, View All
//! Data or Customize Application, through their profile or a permission
//! set. The sync reads them ([`replace`]); "Where is this app?" counts the
//! holders of an app's authorizations, and a person's page lists theirs.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// The profile whose holders count as administrators even when the org's
/// grants could not be read.
pub const ADMIN_PROFILE: &str = "System Administrator";

/// One permission set (or profile) that gives a person administrator's
/// rights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    pub user_id: String,
    pub permission_set_id: String,
    /// The set's label; for a profile's own set, the profile's name.
    pub label: String,
    pub via_profile: bool,
    pub modify_all_data: bool,
    pub view_all_data: bool,
    pub customize_application: bool,
}

impl Grant {
    /// The rights it gives, in words.
    pub fn rights(&self) -> Vec<&'static str> {
        [
            (self.modify_all_data, "Modify All Data"),
            (self.view_all_data, "View All Data"),
            (self.customize_application, "Customize Application"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect()
    }
}

/// Replaces the org's grants with `grants`, all read by one sync, in one
/// transaction, and notes when.
pub async fn replace(pool: &PgPool, org: Uuid, grants: &[Grant]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query!("DELETE FROM sf_admin_grants WHERE org_id = $1", org)
        .execute(&mut *tx)
        .await?;
    let col = |f: fn(&Grant) -> &str| grants.iter().map(|g| f(g).to_owned()).collect::<Vec<_>>();
    let flag = |f: fn(&Grant) -> bool| grants.iter().map(f).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO sf_admin_grants (org_id, user_id, permission_set_id, label, via_profile,
                                      modify_all_data, view_all_data, customize_application)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
                                  $7::bool[], $8::bool[])
         ON CONFLICT DO NOTHING",
        org,
        &col(|g| &g.user_id),
        &col(|g| &g.permission_set_id),
        &col(|g| &g.label),
        &flag(|g| g.via_profile),
        &flag(|g| g.modify_all_data),
        &flag(|g| g.view_all_data),
        &flag(|g| g.customize_application),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE orgs SET admin_grants_read_at = now() WHERE id = $1",
        org
    )
    .execute(&mut *tx)
    .await?;
    count_holders(&mut tx, org).await?;
    tx.commit().await
}

/// Counts again, per app of the org, the people holding a live
/// authorization who have an administrator's rights: the stored grants, or
/// the System Administrator profile (which is all an org whose grants could
/// not be read has). A sync calls it whether or not it read the grants.
pub async fn recount(pool: &PgPool, org: Uuid) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    count_holders(&mut tx, org).await?;
    tx.commit().await
}

async fn count_holders(tx: &mut sqlx::PgConnection, org: Uuid) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM app_admin_holders WHERE org_id = $1", org)
        .execute(&mut *tx)
        .await?;
    // Driven from the holders of the rights (a few in a hundred people), by
    // the index of authorizations per person.
    sqlx::query!(
        "INSERT INTO app_admin_holders (org_id, app_key, admins)
         SELECT $1, t.app_key, count(DISTINCT t.user_id)
         FROM (SELECT user_id FROM sf_admin_grants WHERE org_id = $1
               UNION
               SELECT id FROM sf_users WHERE org_id = $1 AND profile = $2 AND gone_at IS NULL) h
         JOIN sf_tokens t ON t.org_id = $1 AND t.user_id = h.user_id AND t.gone_at IS NULL
         GROUP BY t.app_key",
        org,
        ADMIN_PROFILE
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A person's grants, profile first.
pub async fn of_user(db: impl PgExecutor<'_>, org: Uuid, user: &str) -> sqlx::Result<Vec<Grant>> {
    sqlx::query_as!(
        Grant,
        "SELECT user_id, permission_set_id, label, via_profile, modify_all_data, view_all_data,
                customize_application
         FROM sf_admin_grants WHERE org_id = $1 AND user_id = $2
         ORDER BY via_profile DESC, lower(label), permission_set_id",
        org,
        user
    )
    .fetch_all(db)
    .await
}

/// When the org's grants were last read, if ever.
pub async fn read_at(db: impl PgExecutor<'_>, org: Uuid) -> sqlx::Result<Option<DateTime<Utc>>> {
    Ok(
        sqlx::query_scalar!("SELECT admin_grants_read_at FROM orgs WHERE id = $1", org)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}
