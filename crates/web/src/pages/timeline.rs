//! The history timeline shown on app and user pages: events recorded by the
//! syncs, newest first, in keyset pages.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

pub const PAGE: i64 = 50;

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub app_id: Option<i64>,
    pub app_name: Option<String>,
    pub uid: Option<i64>,
    pub user_name: Option<String>,
    pub detail: serde_json::Value,
}

impl EventRow {
    /// What happened, in words. The names of the app and user are placed
    /// by the template (as links), never in this text.
    pub fn what(&self) -> &'static str {
        match self.kind.as_str() {
            "token_granted" => "Authorized",
            "token_gone" => "Token revoked or expired",
            "app_first_seen" => "First seen",
            "app_gone" => "Removed from the org",
            "user_deactivated" => "User deactivated",
            "user_gone" => "User removed from the org",
            "policy_changed" => "Policy changed",
            "reauthorized_after_revoke" => "Authorized again after a revoke",
            _ => "Changed",
        }
    }

    /// For policy changes: (policy, before, after) of each changed field.
    pub fn changes(&self) -> Vec<(String, String, String)> {
        let (Some(before), Some(after)) = (
            self.detail.get("before").and_then(|v| v.as_object()),
            self.detail.get("after").and_then(|v| v.as_object()),
        ) else {
            return Vec::new();
        };
        let show = |v: Option<&serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => "–".to_owned(),
            Some(serde_json::Value::String(s)) => crate::pages::apps::policy_label(Some(s)),
            Some(v) => v.to_string(),
        };
        after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| (k.replace('_', " "), show(before.get(k)), show(Some(v))))
            .collect()
    }

    fn cursor(&self) -> String {
        format!("{}~{}", self.at.timestamp_micros(), self.id)
    }
}

/// The keyset position; the first page starts after every event (no `IS NULL
/// OR`, so prepared statements keep their index plans).
fn parse_before(s: Option<&str>) -> (DateTime<Utc>, i64) {
    s.and_then(|s| {
        let (t, id) = s.split_once('~')?;
        Some((
            DateTime::from_timestamp_micros(t.parse().ok()?)?,
            id.parse().ok()?,
        ))
    })
    .unwrap_or((crate::pages::app_detail::end_of_time(), i64::MAX))
}

fn page(mut rows: Vec<EventRow>) -> (Vec<EventRow>, Option<String>) {
    let older = (rows.len() as i64 > PAGE).then(|| {
        rows.truncate(PAGE as usize);
        rows.last().map(EventRow::cursor).unwrap_or_default()
    });
    (rows, older)
}

/// An app's history; the second value is the cursor of older events.
pub async fn for_app(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    before: Option<&str>,
) -> sqlx::Result<(Vec<EventRow>, Option<String>)> {
    let (at, id) = parse_before(before);
    let rows = sqlx::query_as!(
        EventRow,
        "SELECT e.id, e.at, e.kind, NULL::bigint AS app_id, NULL::text AS app_name,
                u.uid AS \"uid?\", u.name AS \"user_name?\", e.detail
         FROM events e LEFT JOIN sf_users u ON u.org_id = e.org_id AND u.id = e.user_id
         WHERE e.org_id = $1 AND e.app_key = $2 AND (e.at, e.id) < ($3, $4)
         ORDER BY e.at DESC, e.id DESC LIMIT $5",
        org,
        app_key,
        at,
        id,
        PAGE + 1
    )
    .fetch_all(pool)
    .await?;
    Ok(page(rows))
}

/// A user's history.
pub async fn for_user(
    pool: &PgPool,
    org: Uuid,
    user_id: &str,
    before: Option<&str>,
) -> sqlx::Result<(Vec<EventRow>, Option<String>)> {
    let (at, id) = parse_before(before);
    let rows = sqlx::query_as!(
        EventRow,
        "SELECT e.id, e.at, e.kind, a.id AS \"app_id?\", a.name AS \"app_name?\",
                NULL::bigint AS uid, NULL::text AS user_name, e.detail
         FROM events e LEFT JOIN sf_apps a ON a.org_id = e.org_id AND a.app_key = e.app_key
         WHERE e.org_id = $1 AND e.user_id = $2 AND (e.at, e.id) < ($3, $4)
         ORDER BY e.at DESC, e.id DESC LIMIT $5",
        org,
        user_id,
        at,
        id,
        PAGE + 1
    )
    .fetch_all(pool)
    .await?;
    Ok(page(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_changes_list_only_what_changed() {
        let e = EventRow {
            id: 1,
            at: Utc::now(),
            kind: "policy_changed".into(),
            app_id: None,
            app_name: None,
            uid: None,
            user_name: None,
            detail: serde_json::json!({
                "before": {"admin_approved_only": false, "refresh_policy": "valid_until_revoked"},
                "after": {"admin_approved_only": true, "refresh_policy": "valid_until_revoked"}
            }),
        };
        assert_eq!(e.what(), "Policy changed");
        assert_eq!(
            e.changes(),
            [(
                "admin approved only".to_owned(),
                "false".to_owned(),
                "true".to_owned()
            )]
        );
    }
}
