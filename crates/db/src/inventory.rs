//! The app inventory: entries, edits (each in the audit log), CSV import,
//! and matching to the apps seen in the orgs.

use chrono::{DateTime, Utc};
use cockpit_domain::inventory::InventoryEntry;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::audit::{self, NewEntry};

#[derive(Debug, Clone)]
pub struct InventoryRow {
    pub id: i64,
    pub name: String,
    pub consumer_key: Option<String>,
    pub owner_team: Option<String>,
    pub business_purpose: Option<String>,
    pub expected_users: Option<i32>,
    pub criticality: Option<String>,
    pub status: String,
    pub vendor_url: Option<String>,
    pub notes: Option<String>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

impl InventoryRow {
    pub fn entry(&self) -> InventoryEntry {
        InventoryEntry {
            name: self.name.clone(),
            consumer_key: self.consumer_key.clone(),
            owner_team: self.owner_team.clone(),
            business_purpose: self.business_purpose.clone(),
            expected_users: self.expected_users,
            criticality: self.criticality.clone(),
            status: self.status.clone(),
            vendor_url: self.vendor_url.clone(),
            notes: self.notes.clone(),
        }
    }
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<InventoryRow>> {
    sqlx::query_as!(
        InventoryRow,
        "SELECT id, name, consumer_key, owner_team, business_purpose, expected_users, criticality, status,
                vendor_url, notes, updated_by, updated_at
         FROM inventory ORDER BY lower(name)"
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<InventoryRow>> {
    sqlx::query_as!(
        InventoryRow,
        "SELECT id, name, consumer_key, owner_team, business_purpose, expected_users, criticality, status,
                vendor_url, notes, updated_by, updated_at
         FROM inventory WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Inserts or updates (matched by name, case-insensitively) inside the
/// caller's transaction, with its audit entry.
async fn upsert_in(
    conn: &mut PgConnection,
    e: &InventoryEntry,
    actor: &str,
    via: &str,
) -> sqlx::Result<(i64, bool)> {
    let row = sqlx::query!(
        "INSERT INTO inventory (name, consumer_key, owner_team, business_purpose, expected_users, criticality, status,
                                vendor_url, notes, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (lower(name)) DO UPDATE SET
            name = EXCLUDED.name, consumer_key = EXCLUDED.consumer_key, owner_team = EXCLUDED.owner_team,
            business_purpose = EXCLUDED.business_purpose, expected_users = EXCLUDED.expected_users,
            criticality = EXCLUDED.criticality, status = EXCLUDED.status, vendor_url = EXCLUDED.vendor_url,
            notes = EXCLUDED.notes, updated_by = EXCLUDED.updated_by, updated_at = now()
         RETURNING id, (xmax = 0) AS \"inserted!\"",
        e.name,
        e.consumer_key,
        e.owner_team,
        e.business_purpose,
        e.expected_users,
        e.criticality,
        e.status,
        e.vendor_url,
        e.notes,
        actor
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::append(
        conn,
        &NewEntry {
            actor,
            action: if row.inserted {
                "inventory.created"
            } else {
                "inventory.edited"
            },
            org_id: None,
            target: serde_json::json!({ "inventory": row.id, "app": e.name }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({ "entry": e, "via": via }),
        },
    )
    .await?;
    Ok((row.id, row.inserted))
}

pub async fn save(pool: &PgPool, e: &InventoryEntry, actor: &str) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let (id, _) = upsert_in(&mut tx, e, actor, "form").await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub created: u64,
    pub updated: u64,
}

/// Imports parsed entries in one transaction: all or nothing.
pub async fn import(
    pool: &PgPool,
    entries: &[InventoryEntry],
    actor: &str,
) -> sqlx::Result<Imported> {
    let mut tx = pool.begin().await?;
    let mut out = Imported::default();
    for e in entries {
        let (_, inserted) = upsert_in(&mut tx, e, actor, "csv import").await?;
        if inserted {
            out.created += 1;
        } else {
            out.updated += 1;
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Apps seen in any org with the inventory entry they match, by the one
/// rule every page uses (SQL function `inventory_match`, migration 0012), for
/// flags and reviews.
#[derive(Debug, Clone)]
pub struct AppMatch {
    pub org_id: uuid::Uuid,
    pub app_key: String,
    pub app_name: String,
    pub inventory_id: Option<i64>,
    pub status: Option<String>,
    pub expected_users: Option<i32>,
}

pub async fn matches(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<AppMatch>> {
    sqlx::query_as!(
        AppMatch,
        "SELECT a.org_id, a.app_key, a.name AS app_name, i.id AS \"inventory_id?\", i.status AS \"status?\",
                i.expected_users AS \"expected_users?\"
         FROM sf_apps a
         LEFT JOIN LATERAL inventory_match(a.consumer_key, a.name) i ON true
         WHERE a.gone_at IS NULL
         ORDER BY a.org_id, lower(a.name)"
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_domain::inventory::parse_csv;

    async fn new_org(pool: &PgPool) -> uuid::Uuid {
        let org = uuid::Uuid::new_v4();
        sqlx::query!("INSERT INTO orgs (id, name, login_url) VALUES ($1, 'o', 'https://login.salesforce.com')", org)
            .execute(pool)
            .await
            .unwrap();
        org
    }

    /// Consumer key when the entry has one and the app's key is known;
    /// otherwise the name, whatever its case.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_matching_rule(pool: PgPool) {
        let org = new_org(&pool).await;
        sqlx::query!(
            "INSERT INTO sf_apps (org_id, app_key, kind, name, consumer_key, installed, first_seen_at)
             VALUES ($1, 'a', 'connected_app', 'Alpha', 'KA', true, now()),
                    ($1, 'b', 'connected_app', 'BETA', NULL, true, now()),
                    ($1, 'c', 'connected_app', 'Gamma', 'K-other', true, now()),
                    ($1, 'd', 'connected_app', 'Delta renamed', 'KD', true, now()),
                    ($1, 'e', 'connected_app', 'Epsilon', 'KE', true, now())",
            org
        )
        .execute(&pool)
        .await
        .unwrap();
        let csv = "name,consumer_key,status
                   alpha,,approved
                   Beta,KB,under_review
                   Gamma,KG,approved
                   Delta,KD,not_approved
                   Epsilon,,approved
                   Epsilon by key,KE,not_approved
";
        import(&pool, &parse_csv(csv.as_bytes()).unwrap(), "user:t")
            .await
            .unwrap();
        // In the order of `matches`: by name.
        let got: Vec<(String, Option<String>)> = matches(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.app_key, m.status))
            .collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            got,
            [
                // No key in the entry: by name.
                ("a".to_owned(), s("approved")),
                // The app's key is not known yet: by name.
                ("b".to_owned(), s("under_review")),
                // The key wins over the name.
                ("d".to_owned(), s("not_approved")),
                // Key first, even when another entry has the name.
                ("e".to_owned(), s("not_approved")),
                // A look-alike: an approved app's name, another key.
                ("c".to_owned(), None),
            ]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn import_then_edit_is_audited_and_matches_apps(pool: PgPool) {
        let csv = "name,status,expected_users\nDrift,not_approved,10\nAcme Sync,approved,500\n";
        let entries = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(
            import(&pool, &entries, "user:amy@example.com")
                .await
                .unwrap(),
            Imported {
                created: 2,
                updated: 0
            }
        );
        assert_eq!(
            import(&pool, &entries, "user:amy@example.com")
                .await
                .unwrap(),
            Imported {
                created: 0,
                updated: 2
            }
        );
        let rows = list(&pool).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["Acme Sync", "Drift"]
        );
        let audited: i64 = sqlx::query_scalar!(
            "SELECT count(*) AS \"n!\" FROM audit_log WHERE action LIKE 'inventory.%'"
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(audited, 4);

        let org = new_org(&pool).await;
        sqlx::query!(
            "INSERT INTO sf_apps (org_id, app_key, kind, name, installed, first_seen_at)
             VALUES ($1, '0H4A', 'connected_app', 'drift', true, now()), ($1, '0H4B', 'connected_app', 'Unknown App', true, now())",
            org
        )
        .execute(&pool)
        .await
        .unwrap();
        let m = matches(&pool).await.unwrap();
        let drift = m.iter().find(|m| m.app_key == "0H4A").unwrap();
        assert_eq!(drift.status.as_deref(), Some("not_approved"));
        assert!(
            m.iter()
                .find(|m| m.app_key == "0H4B")
                .unwrap()
                .inventory_id
                .is_none(),
            "unknown app"
        );
    }
}
