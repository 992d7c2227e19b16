//! The audit log: append-only in the database (triggers refuse UPDATE,
//! DELETE and TRUNCATE) and hash-chained here, so that an edited, removed or
//! reordered entry is detected by [`verify`].
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and a
//! canonical JSON array of the entry's fields (object keys sorted, times in
//! RFC 3339 with microseconds, as Postgres stores them).

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// One key for every append: the chain is a single line.
const AUDIT_LOCK: i64 = 0x4155_4449_545f_4c4f; // "AUDIT_LO"

#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// `user:<email>`, `token:<name>`, `system:sync`, `system:executor`.
    pub actor: &'a str,
    /// e.g. `action.requested`, `action.completed`, `signin`, `sync.changes`.
    pub action: &'a str,
    pub org_id: Option<Uuid>,
    pub target: Value,
    pub reason: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub org_id: Option<Uuid>,
    pub target: Value,
    pub reason: Option<String>,
    pub outcome: Option<String>,
    pub detail: Value,
    #[serde(serialize_with = "as_hex")]
    pub prev_hash: Vec<u8>,
    #[serde(serialize_with = "as_hex")]
    pub hash: Vec<u8>,
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// JSON text with object keys sorted at every level.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &[u8],
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    org_id: Option<Uuid>,
    target: &Value,
    reason: Option<&str>,
    outcome: Option<&str>,
    detail: &Value,
) -> Vec<u8> {
    let fields = serde_json::json!([
        seq,
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actor,
        action,
        org_id.map(|o| o.to_string()),
        target,
        reason,
        outcome,
        detail
    ]);
    let mut text = String::new();
    canonical_json(&fields, &mut text);
    let mut h = Sha256::new();
    h.update(prev);
    h.update(text.as_bytes());
    h.finalize().to_vec()
}

/// Appends an entry inside the caller's transaction: it becomes visible, and
/// the chain moves, only if the caller commits. If this fails, the caller's
/// whole change must not happen.
pub async fn append(conn: &mut PgConnection, e: &NewEntry<'_>) -> sqlx::Result<(i64, Vec<u8>)> {
    sqlx::query_scalar!("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    let head = sqlx::query!("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, vec![0u8; 32]),
    };
    // Postgres keeps microseconds; hash what will be read back.
    let at = Utc::now().trunc_subsecs(6);
    let hash = entry_hash(
        &prev, seq, at, e.actor, e.action, e.org_id, &e.target, e.reason, e.outcome, &e.detail,
    );
    sqlx::query!(
        "INSERT INTO audit_log (seq, at, actor, action, org_id, target, reason, outcome, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        seq,
        at,
        e.actor,
        e.action,
        e.org_id,
        e.target,
        e.reason,
        e.outcome,
        e.detail,
        prev,
        hash
    )
    .execute(&mut *conn)
    .await?;
    Ok((seq, hash))
}

/// The newest entry's sequence number and hash: write it down elsewhere to
/// prove later that nothing before it changed.
pub async fn head(db: &PgPool) -> sqlx::Result<Option<(i64, String)>> {
    let row = sqlx::query!("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| (r.seq, hex::encode(r.hash))))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries: u64,
    pub head: Option<(i64, String)>,
    /// Each broken link: the sequence number and what is wrong there.
    pub problems: Vec<(i64, String)>,
}

/// Walks the whole chain in order and reports every entry that does not
/// follow from the one before it. A chain alone cannot show that its newest
/// entries were cut off: give the head recorded elsewhere earlier
/// (`expected_head`, sequence number and hex hash) to check that too.
pub async fn verify(db: &PgPool, expected_head: Option<(i64, &str)>) -> sqlx::Result<Verification> {
    use futures::TryStreamExt as _;
    let mut rows = sqlx::query!(
        "SELECT seq, at, actor, action, org_id, target, reason, outcome, detail, prev_hash, hash
         FROM audit_log ORDER BY seq"
    )
    .fetch(db);
    let mut expected_prev = vec![0u8; 32];
    let mut expected_seq = 1i64;
    let mut problems = Vec::new();
    let mut entries = 0;
    let mut head = None;
    while let Some(r) = rows.try_next().await? {
        entries += 1;
        if r.seq != expected_seq {
            problems.push((
                r.seq,
                format!(
                    "entry {expected_seq} is missing (sequence jumps to {})",
                    r.seq
                ),
            ));
        }
        if r.prev_hash != expected_prev {
            problems.push((
                r.seq,
                "does not follow the entry before it (removed or reordered entries)".into(),
            ));
        }
        let computed = entry_hash(
            &r.prev_hash,
            r.seq,
            r.at,
            &r.actor,
            &r.action,
            r.org_id,
            &r.target,
            r.reason.as_deref(),
            r.outcome.as_deref(),
            &r.detail,
        );
        if computed != r.hash {
            problems.push((r.seq, "content does not match its hash (edited)".into()));
        }
        if let Some((seq, hash)) = expected_head
            && seq == r.seq
            && !hex::encode(&r.hash).eq_ignore_ascii_case(hash)
        {
            problems.push((seq, "differs from the head recorded earlier".into()));
        }
        expected_prev = r.hash.clone();
        expected_seq = r.seq + 1;
        head = Some((r.seq, hex::encode(&r.hash)));
    }
    if let Some((seq, _)) = expected_head
        && seq >= expected_seq
    {
        problems.push((
            seq,
            format!(
                "the recorded head {seq} is gone: the log ends at {}",
                expected_seq - 1
            ),
        ));
    }
    Ok(Verification {
        entries,
        head,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn seed(pool: &PgPool, n: usize) {
        for i in 0..n {
            let mut tx = pool.begin().await.unwrap();
            append(
                &mut tx,
                &NewEntry {
                    actor: "user:alice@example.com",
                    action: "action.requested",
                    org_id: None,
                    target: serde_json::json!({"app": format!("<App {i}>"), "tokens": i, "z": {"b": 1, "a": [1, "x"]}}),
                    reason: Some("incident 42: \"Drift\" tokens replayed"),
                    outcome: None,
                    detail: serde_json::json!({}),
                },
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    }

    /// Tampering needs the triggers off: only the owner can, and it shows.
    async fn tamper(pool: &PgPool, sql: String) {
        let mut tx = pool.begin().await.unwrap();
        sqlx::raw_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::raw_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_intact_chain_verifies(pool: PgPool) {
        seed(&pool, 5).await;
        let v = verify(&pool, None).await.unwrap();
        assert_eq!(v.entries, 5);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.head, head(&pool).await.unwrap());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_database_refuses_changes(pool: PgPool) {
        seed(&pool, 1).await;
        for sql in [
            "UPDATE audit_log SET actor = 'mallory'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ] {
            let err = sqlx::raw_sql(sql).execute(&pool).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn every_single_row_edit_deletion_and_swap_is_detected(pool: PgPool) {
        const EDITS: [&str; 6] = [
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = {}",
            "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = {}",
            "UPDATE audit_log SET at = at + interval '1 second' WHERE seq = {}",
            "UPDATE audit_log SET target = target || '{\"tokens\": 999}' WHERE seq = {}",
            "UPDATE audit_log SET outcome = 'succeeded' WHERE seq = {}",
            "DELETE FROM audit_log WHERE seq = {}",
        ];
        for row in 1..=4i64 {
            let mut cases: Vec<String> = EDITS
                .iter()
                .map(|e| e.replace("{}", &row.to_string()))
                .collect();
            if row < 4 {
                // Reorder: swap this entry with the next one.
                cases.push(format!(
                    "UPDATE audit_log SET seq = -1 WHERE seq = {row}; \
                     UPDATE audit_log SET seq = {row} WHERE seq = {next}; \
                     UPDATE audit_log SET seq = {next} WHERE seq = -1",
                    next = row + 1
                ));
            }
            for sql in cases {
                tamper(&pool, "TRUNCATE audit_log".into()).await;
                seed(&pool, 4).await;
                let (seq, hash) = head(&pool).await.unwrap().unwrap();
                assert!(
                    verify(&pool, Some((seq, &hash)))
                        .await
                        .unwrap()
                        .problems
                        .is_empty()
                );
                tamper(&pool, sql.clone()).await;
                let v = verify(&pool, Some((seq, &hash))).await.unwrap();
                assert!(!v.problems.is_empty(), "undetected: {sql}");
            }
        }
    }
}
