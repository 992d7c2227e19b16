//! The archive of the free logs (EventLogFile Login and ApiTotalUsage, and
//! OAuth logins from LoginHistory): activity per org, day, app, person,
//! address and client. The sync writes it ([`FileWriter`]); hunts match
//! indicators against it ([`crate::hunts`]); the org page shows its span
//! and the app page where an app calls from.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// API calls of one day, app and HTTP status in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCalls {
    pub day: NaiveDate,
    pub app_key: Option<String>,
    pub app_name: Option<String>,
    pub status: Option<i16>,
    pub requests: i64,
}

/// One row of activity, as the archive keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub day: NaiveDate,
    pub app_key: Option<String>,
    pub app_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub subtype: Option<String>,
    pub requests: i64,
    pub errors: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Longest text kept per field; longer values are cut (at a character).
pub const MAX_USER_AGENT: usize = 512;
pub const MAX_NAME: usize = 255;
pub const MAX_SUBTYPE: usize = 64;

/// `s` cut to at most `max` bytes at a character boundary.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A log file as Salesforce lists it.
#[derive(Debug, Clone, Copy)]
pub struct LogFile<'a> {
    /// Its EventLogFile id.
    pub sf_id: &'a str,
    pub event_type: &'a str,
    pub log_date: NaiveDate,
}

/// Files of the org already archived (by Salesforce id).
pub async fn archived(pool: &PgPool, org: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT sf_id FROM log_files WHERE org_id = $1 AND status = 'archived'",
        org
    )
    .fetch_all(pool)
    .await
}

/// One log file being archived: its rows and its 'archived' mark go in one
/// transaction ([`FileWriter::commit`]); dropped without it, nothing is.
pub struct FileWriter {
    tx: Transaction<'static, Postgres>,
    org: Uuid,
    file_id: i64,
    user_agents: HashMap<String, i64>,
}

impl FileWriter {
    pub async fn begin(pool: &PgPool, org: Uuid, file: LogFile<'_>) -> sqlx::Result<FileWriter> {
        let mut tx = pool.begin().await?;
        // Another process archiving the same file waits here, then finds
        // it archived (the caller checks `already`).
        let file_id = sqlx::query_scalar!(
            "INSERT INTO log_files (org_id, sf_id, event_type, log_date, status)
             VALUES ($1, $2, $3, $4, 'archived')
             ON CONFLICT (org_id, sf_id) DO UPDATE SET status = 'archived', error = NULL,
                 attempts = log_files.attempts + 1, at = now()
             RETURNING id",
            org,
            file.sf_id,
            file.event_type,
            file.log_date
        )
        .fetch_one(&mut *tx)
        .await?;
        // A file archived by someone else meanwhile has rows: none twice.
        sqlx::query!("DELETE FROM log_activity WHERE file_id = $1", file_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("DELETE FROM log_api_calls WHERE file_id = $1", file_id)
            .execute(&mut *tx)
            .await?;
        Ok(FileWriter {
            tx,
            org,
            file_id,
            user_agents: HashMap::new(),
        })
    }

    /// Writes a batch of rows of the file.
    pub async fn write(&mut self, source: &str, rows: &[Activity]) -> sqlx::Result<()> {
        write_rows(
            &mut self.tx,
            &mut self.user_agents,
            self.org,
            Some(self.file_id),
            source,
            rows,
        )
        .await
    }

    /// Writes the file's API calls per day, app and HTTP status.
    pub async fn write_calls(&mut self, calls: &[ApiCalls]) -> sqlx::Result<()> {
        let text = |f: fn(&ApiCalls) -> Option<&String>| -> Vec<Option<String>> {
            calls.iter().map(|c| f(c).cloned()).collect()
        };
        sqlx::query!(
            "INSERT INTO log_api_calls (org_id, file_id, day, app_key, app_name, status, requests)
             SELECT $1, $2, * FROM unnest($3::date[], $4::text[], $5::text[], $6::int2[], $7::int8[])",
            self.org,
            self.file_id,
            &calls.iter().map(|c| c.day).collect::<Vec<_>>(),
            &text(|c| c.app_key.as_ref()) as &[Option<String>],
            &text(|c| c.app_name.as_ref()) as &[Option<String>],
            &calls.iter().map(|c| c.status).collect::<Vec<_>>() as &[Option<i16>],
            &calls.iter().map(|c| c.requests).collect::<Vec<_>>(),
        )
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks the file archived with what was read, and commits.
    pub async fn commit(mut self, lines: i64, bad_lines: i64, bytes: i64) -> sqlx::Result<i64> {
        sqlx::query!(
            "UPDATE log_files SET lines = $2, bad_lines = $3, bytes = $4 WHERE id = $1",
            self.file_id,
            lines,
            bad_lines,
            bytes
        )
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(self.file_id)
    }
}

async fn write_rows(
    tx: &mut Transaction<'static, Postgres>,
    known: &mut HashMap<String, i64>,
    org: Uuid,
    file_id: Option<i64>,
    source: &str,
    rows: &[Activity],
) -> sqlx::Result<()> {
    let mut new: Vec<String> = rows
        .iter()
        .filter_map(|r| r.user_agent.clone())
        .filter(|u| !known.contains_key(u))
        .collect();
    new.sort();
    new.dedup();
    if !new.is_empty() {
        sqlx::query!(
            "INSERT INTO log_user_agents (user_agent) SELECT * FROM unnest($1::text[])
             ON CONFLICT (user_agent) DO NOTHING",
            &new
        )
        .execute(&mut **tx)
        .await?;
        for r in sqlx::query!(
            "SELECT id, user_agent FROM log_user_agents WHERE user_agent = ANY($1)",
            &new
        )
        .fetch_all(&mut **tx)
        .await?
        {
            known.insert(r.user_agent, r.id);
        }
    }
    let col = |f: fn(&Activity) -> Option<&String>| -> Vec<Option<String>> {
        rows.iter().map(|r| f(r).cloned()).collect()
    };
    let ips: Vec<Option<sqlx::types::ipnet::IpNet>> = rows
        .iter()
        .map(|r| r.ip.map(sqlx::types::ipnet::IpNet::from))
        .collect();
    let uas: Vec<Option<i64>> = rows
        .iter()
        .map(|r| r.user_agent.as_ref().and_then(|u| known.get(u).copied()))
        .collect();
    sqlx::query!(
        "INSERT INTO log_activity (org_id, file_id, source, day, app_key, app_name, user_id, user_name,
                                   ip, ua_id, subtype, requests, errors, first_seen, last_seen)
         SELECT $1, $2, $3, * FROM unnest($4::date[], $5::text[], $6::text[], $7::text[], $8::text[],
                                          $9::inet[], $10::int8[], $11::text[], $12::int8[], $13::int8[],
                                          $14::timestamptz[], $15::timestamptz[])",
        org,
        file_id,
        source,
        &rows.iter().map(|r| r.day).collect::<Vec<_>>(),
        &col(|r| r.app_key.as_ref()) as &[Option<String>],
        &col(|r| r.app_name.as_ref()) as &[Option<String>],
        &col(|r| r.user_id.as_ref()) as &[Option<String>],
        &col(|r| r.user_name.as_ref()) as &[Option<String>],
        &ips as &[Option<sqlx::types::ipnet::IpNet>],
        &uas as &[Option<i64>],
        &col(|r| r.subtype.as_ref()) as &[Option<String>],
        &rows.iter().map(|r| r.requests).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.errors).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.first_seen).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.last_seen).collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A file that could not be archived this time: noted with the reason
/// (the next sync tries it again), unless it was archived meanwhile.
pub async fn failed(
    pool: &PgPool,
    org: Uuid,
    file: LogFile<'_>,
    error: &str,
    (lines, bad_lines): (i64, i64),
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO log_files (org_id, sf_id, event_type, log_date, status, error, lines, bad_lines)
         VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7)
         ON CONFLICT (org_id, sf_id) DO UPDATE SET error = EXCLUDED.error, lines = EXCLUDED.lines,
             bad_lines = EXCLUDED.bad_lines, attempts = log_files.attempts + 1, at = now()
         WHERE log_files.status = 'failed'",
        org,
        file.sf_id,
        file.event_type,
        file.log_date,
        bounded(error, 1000),
        lines,
        bad_lines
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Where OAuth logins are archived up to.
pub async fn login_history_to(pool: &PgPool, org: Uuid) -> sqlx::Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar!(
        "SELECT login_history_archived_to FROM orgs WHERE id = $1",
        org
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// OAuth logins up to `to`, with the mark, in one transaction: read again
/// after a crash, never twice.
pub async fn write_login_history(
    pool: &PgPool,
    org: Uuid,
    rows: &[Activity],
    to: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let moved = sqlx::query!(
        "UPDATE orgs SET login_history_archived_to = $2
         WHERE id = $1 AND (login_history_archived_to IS NULL OR login_history_archived_to < $2)",
        org,
        to
    )
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 1 && !rows.is_empty() {
        write_rows(
            &mut tx,
            &mut HashMap::new(),
            org,
            None,
            "login_history",
            rows,
        )
        .await?;
    }
    tx.commit().await
}

/// Drops activity older than `days` days, and the files it came from.
pub async fn apply_retention(pool: &PgPool, org: Uuid, days: i32) -> sqlx::Result<u64> {
    let cutoff = Utc::now().date_naive() - chrono::Days::new(days.max(1) as u64);
    // Rows, calls and files of the old days together (no foreign key
    // cascades here: migration 0035).
    let mut tx = pool.begin().await?;
    let gone = sqlx::query!(
        "DELETE FROM log_activity WHERE org_id = $1 AND day < $2",
        org,
        cutoff
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM log_api_calls WHERE org_id = $1 AND day < $2",
        org,
        cutoff
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM log_files WHERE org_id = $1 AND log_date < $2",
        org,
        cutoff
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(gone.rows_affected())
}

/// The archive of one org, for its page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub files: i64,
    pub rows: i64,
    /// Log lines archived, and the bytes downloaded for them.
    pub lines: i64,
    pub bytes: i64,
    pub bad_lines: i64,
    pub failed: Vec<FailedFile>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedFile {
    pub event_type: String,
    pub log_date: NaiveDate,
    pub attempts: i32,
    pub error: String,
    pub at: DateTime<Utc>,
}

pub async fn summary(pool: &PgPool, org: Uuid) -> sqlx::Result<Summary> {
    let f = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'archived') AS "files!",
                  coalesce(sum(lines) FILTER (WHERE status = 'archived'), 0)::int8 AS "lines!",
                  coalesce(sum(bytes) FILTER (WHERE status = 'archived'), 0)::int8 AS "bytes!",
                  coalesce(sum(bad_lines) FILTER (WHERE status = 'archived'), 0)::int8 AS "bad!"
           FROM log_files WHERE org_id = $1"#,
        org
    )
    .fetch_one(pool)
    .await?;
    let a = sqlx::query!(
        r#"SELECT min(day) AS first, max(day) AS last, count(*) AS "rows!"
           FROM log_activity WHERE org_id = $1"#,
        org
    )
    .fetch_one(pool)
    .await?;
    let failed = sqlx::query_as!(
        FailedFile,
        r#"SELECT event_type, log_date, attempts, error AS "error!", at FROM log_files
           WHERE org_id = $1 AND status = 'failed' ORDER BY log_date DESC, event_type LIMIT 20"#,
        org
    )
    .fetch_all(pool)
    .await?;
    Ok(Summary {
        first_day: a.first,
        last_day: a.last,
        files: f.files,
        rows: a.rows,
        lines: f.lines,
        bytes: f.bytes,
        bad_lines: f.bad,
        failed,
    })
}

/// A network or a client an app called from, with its volume.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Source {
    /// An IPv4 /24 or IPv6 /48, or a user agent.
    pub value: String,
    /// A network's autonomous system, when the operator loaded the table
    /// (`oauth-cockpit asn load`).
    pub asn: Option<String>,
    pub requests: i64,
    pub logins: i64,
    pub users: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The networks an app called from since `since`, busiest first.
pub async fn networks(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    since: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<Source>> {
    sqlx::query_as!(
        Source,
        r#"WITH n AS (
               SELECT network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 48 END)) AS net,
                      coalesce(sum(requests) FILTER (WHERE source = 'api'), 0)::int8 AS requests,
                      coalesce(sum(requests) FILTER (WHERE source <> 'api'), 0)::int8 AS logins,
                      count(DISTINCT user_id) AS users, min(first_seen) AS fs, max(last_seen) AS ls
               FROM log_activity
               WHERE org_id = $1 AND app_key = $2 AND day >= $3 AND ip IS NOT NULL
               GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT $4
           )
           SELECT n.net::text AS "value!",
                  (SELECT CASE WHEN a.range_end >= f.first AND a.asn > 0
                               THEN 'AS' || a.asn || coalesce(' ' || a.name, '') END
                   FROM (SELECT range_end, asn, name FROM ip_asn
                         WHERE range_start <= f.first AND family(range_start) = family(f.first)
                         ORDER BY range_start DESC LIMIT 1) a) AS asn,
                  n.requests AS "requests!", n.logins AS "logins!", n.users AS "users!",
                  n.fs AS "first_seen!", n.ls AS "last_seen!"
           FROM n, LATERAL (SELECT set_masklen(n.net::inet, CASE WHEN family(n.net) = 4 THEN 32 ELSE 128 END)
                            AS first) f
           ORDER BY n.requests DESC, n.logins DESC, n.net"#,
        org,
        app_key,
        since,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The user agents an app's logins carried since `since`, busiest first.
pub async fn user_agents(
    pool: &PgPool,
    org: Uuid,
    app_key: &str,
    since: NaiveDate,
    limit: i64,
) -> sqlx::Result<Vec<Source>> {
    sqlx::query_as!(
        Source,
        r#"SELECT u.user_agent AS "value!", NULL::text AS asn, 0::int8 AS "requests!",
                  sum(a.requests)::int8 AS "logins!", count(DISTINCT a.user_id) AS "users!",
                  min(a.first_seen) AS "first_seen!", max(a.last_seen) AS "last_seen!"
           FROM log_activity a JOIN log_user_agents u ON u.id = a.ua_id
           WHERE a.org_id = $1 AND a.app_key = $2 AND a.day >= $3
           GROUP BY 1 ORDER BY sum(a.requests) DESC, 1 LIMIT $4"#,
        org,
        app_key,
        since,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Apps of the org by name, for logs that name an app without its id;
/// a name two apps share names neither.
pub async fn app_keys_by_name(pool: &PgPool, org: Uuid) -> sqlx::Result<HashMap<String, String>> {
    Ok(sqlx::query!(
        r#"SELECT name, min(app_key) AS "app_key!" FROM sf_apps WHERE org_id = $1
           GROUP BY name HAVING count(*) = 1"#,
        org
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.name, r.app_key))
    .collect())
}

/// API calls per app, day and status since `since`, from the archive: the
/// daily usage a sync records for each app.
#[derive(Debug, Clone)]
pub struct DayUsage {
    pub app_key: Option<String>,
    pub app_name: Option<String>,
    pub day: NaiveDate,
    pub status: Option<i16>,
    pub requests: i64,
    pub errors: i64,
}

pub async fn usage_since(
    pool: &PgPool,
    org: Uuid,
    since: NaiveDate,
) -> sqlx::Result<Vec<DayUsage>> {
    sqlx::query_as!(
        DayUsage,
        r#"SELECT app_key, app_name, day, status, sum(requests)::int8 AS "requests!",
                  coalesce(sum(requests) FILTER (WHERE status >= 400), 0)::int8 AS "errors!"
           FROM log_api_calls WHERE org_id = $1 AND day >= $2
           GROUP BY app_key, app_name, day, status"#,
        org,
        since
    )
    .fetch_all(pool)
    .await
}

/// The latest day in the org's archive.
pub async fn last_day(pool: &PgPool, org: Uuid) -> sqlx::Result<Option<NaiveDate>> {
    sqlx::query_scalar!("SELECT max(day) FROM log_activity WHERE org_id = $1", org)
        .fetch_one(pool)
        .await
}

/// Who called with which app from where on the days `from` to `to` (the
/// archived ApiTotalUsage): (day, person, address) to the one app they
/// called with; a person who called with two apps from one address that day
/// is left out. The Login log names no app: its rows take it from here.
pub async fn api_callers(
    pool: &PgPool,
    org: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<HashMap<(NaiveDate, String, IpAddr), (String, Option<String>)>> {
    let rows = sqlx::query!(
        r#"SELECT day, user_id AS "user_id!", ip AS "ip!: sqlx::types::ipnet::IpNet",
                  min(app_key) AS "app_key!", min(app_name) AS app_name
           FROM log_activity
           WHERE org_id = $1 AND source = 'api' AND day BETWEEN $2 AND $3
             AND app_key IS NOT NULL AND user_id IS NOT NULL AND ip IS NOT NULL
           GROUP BY day, user_id, ip HAVING count(DISTINCT app_key) = 1"#,
        org,
        from,
        to
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.day, r.user_id, r.ip.addr()), (r.app_key, r.app_name)))
        .collect())
}

/// Usernames of the org's people by the 15-character form of their ids
/// (LoginHistory names nobody; the archive shows the person).
pub async fn usernames(
    pool: &PgPool,
    org: Uuid,
    ids15: &[String],
) -> sqlx::Result<HashMap<String, String>> {
    Ok(sqlx::query!(
        r#"SELECT left(id, 15) AS "id!", username AS "username!" FROM sf_users
           WHERE org_id = $1 AND left(id, 15) = ANY($2) AND username IS NOT NULL"#,
        org,
        ids15
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, r.username))
    .collect())
}
