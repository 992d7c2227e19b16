//! Archives the logs Salesforce keeps for a day: every sync downloads the
//! Login and ApiTotalUsage EventLogFiles it has not archived yet, and the
//! OAuth logins of LoginHistory since the last read, and keeps activity per
//! day, app, person, address, client and kind of call (counts, first and
//! last seen). Then the active indicator sets are matched against it.
//!
//! Everything in a log is attacker-controlled: fields are cut to a bound,
//! decoded lossily, and a line that cannot be read is counted, not stored.
//! A file is streamed (never whole in memory) and archived in one
//! transaction with its mark, so a file is archived once, completely, even
//! across crashes; a file that failed (cut off, an error) is noted with the
//! reason on the org page and tried again by the next sync. Best effort:
//! the sync's snapshot does not depend on it.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use cockpit_db::log_archive::{self as db, Activity, ApiCalls, FileWriter};
use cockpit_salesforce::{EventLogFile, SalesforceClient, records::LoginHistory};
use futures::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use uuid::Uuid;

use crate::WorkerError;

/// The log types archived, in order: ApiTotalUsage first, so the Login
/// log's rows can be given the app the same person called from the same
/// address.
pub const EVENT_TYPES: [&str; 2] = ["ApiTotalUsage", "Login"];

/// Days of EventLogFiles listed (the longest Salesforce keeps them).
const LIST_DAYS: u32 = 30;

/// Distinct rows held in memory before they are written (each is a few
/// hundred bytes): bounds memory whatever a file holds. Up to three such
/// batches are alive at once (summing, waiting, being written). Fewer sum
/// less: at 10,000 a 1M-line file made 0.34 rows per line instead of 0.20,
/// and was archived a third slower.
const FLUSH_AT: usize = 20_000;

/// What one archive pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    pub files: u64,
    pub failed: u64,
    pub lines: u64,
    pub bad_lines: u64,
    pub rows: u64,
    pub logins: u64,
    pub hits: u64,
    /// Networks and user agents new to an app ([`cockpit_db::sources`]).
    pub new_sources: u64,
}

/// Archives the log files the org has that are not archived yet. A file
/// that cannot be read is noted with the reason and tried again next time;
/// only an error listing them ends the pass.
pub async fn archive_files(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
) -> Result<ArchiveReport, WorkerError> {
    let mut report = ArchiveReport::default();
    let done: std::collections::HashSet<String> =
        db::archived(pool, org).await?.into_iter().collect();
    let apps = db::app_keys_by_name(pool, org).await?;
    for event_type in EVENT_TYPES {
        let files = client.event_log_files(event_type, LIST_DAYS).await?;
        for file in files {
            if done.contains(&file.id) || file.interval.as_deref().is_some_and(|i| i != "Daily") {
                continue;
            }
            match archive_file(pool, client, org, &file, &apps).await {
                Ok(read) => {
                    report.files += 1;
                    report.lines += read.lines;
                    report.bad_lines += read.bad_lines;
                    report.rows += read.rows;
                }
                Err((e, read)) => {
                    report.failed += 1;
                    tracing::warn!(org = %org, file = %file.id, error = %e, "log file not archived this time");
                    db::failed(
                        pool,
                        org,
                        db::LogFile {
                            sf_id: &file.id,
                            event_type,
                            log_date: file.log_date.date_naive(),
                        },
                        &e.to_string(),
                        (read.lines as i64, read.bad_lines as i64),
                    )
                    .await?;
                }
            }
        }
    }
    Ok(report)
}

/// After the snapshot: archives the OAuth logins since the last read,
/// drops what is older than `retention_days` (when given), and matches the
/// active indicator sets and looks for new networks and user agents when
/// anything arrived (`files` archived before).
pub async fn archive_logins_and_match(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
    integration_user: Option<&str>,
    retention_days: Option<i32>,
    mut report: ArchiveReport,
) -> Result<ArchiveReport, WorkerError> {
    let apps = db::app_keys_by_name(pool, org).await?;
    report.logins = archive_login_history(pool, client, org, integration_user, &apps).await?;
    if let Some(days) = retention_days {
        db::apply_retention(pool, org, days).await?;
    }
    if report.files > 0 || report.logins > 0 {
        report.hits = cockpit_db::hunts::match_active(pool, org).await?.len() as u64;
        // The last 30 days of the archive: what the app pages show.
        if let Some(last) = db::last_day(pool, org).await? {
            let since = last - chrono::Days::new(30);
            report.new_sources = cockpit_db::sources::detect(pool, org, since).await?.len() as u64;
        }
    }
    Ok(report)
}

/// What reading one file came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    pub lines: u64,
    pub bad_lines: u64,
    pub rows: u64,
}

async fn archive_file(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
    file: &EventLogFile,
    apps: &HashMap<String, String>,
) -> Result<Read, (WorkerError, Read)> {
    let mut read = Read::default();
    let fail = |read: Read| move |e: WorkerError| (e, read);
    let mut records = client
        .event_log_records(file)
        .await
        .map_err(|e| (e.into(), read))?;
    let writer = FileWriter::begin(
        pool,
        org,
        db::LogFile {
            sf_id: &file.id,
            event_type: &file.event_type,
            log_date: file.log_date.date_naive(),
        },
    )
    .await
    .map_err(|e| (e.into(), read))?;
    let kind = if file.event_type == "Login" {
        Kind::Login
    } else {
        Kind::Api
    };
    // The Login log names no app: its rows take the app the same person
    // called with from the same address that day (ApiTotalUsage is
    // archived first).
    let day = file.log_date.date_naive();
    let callers = if kind == Kind::Login {
        db::api_callers(
            pool,
            org,
            day.pred_opt().unwrap_or(day),
            day.succ_opt().unwrap_or(day),
        )
        .await
        .map_err(|e| (e.into(), read))?
    } else {
        Callers::new()
    };
    // The rows go to PostgreSQL from a task of their own, a batch behind
    // the reading: the download, the parsing and the database work at the
    // same time (two batches in flight bound the memory).
    let (batches, mut to_write) = tokio::sync::mpsc::channel::<Vec<Activity>>(2);
    let source = kind.source();
    let writing = tokio::spawn(async move {
        let mut writer = writer;
        while let Some(rows) = to_write.recv().await {
            writer.write(source, &rows).await?;
        }
        Ok::<_, sqlx::Error>(writer)
    });
    let mut agg: Option<Aggregator> = None;
    let read_result: Result<(), WorkerError> = async {
        while let Some(rec) = records.try_next().await? {
            let Some(a) = agg.as_mut() else {
                agg = Some(Aggregator::new(kind, &rec, apps, &callers));
                continue;
            };
            read.lines += 1;
            if !a.add(&rec) {
                read.bad_lines += 1;
            }
            if a.len() >= FLUSH_AT {
                let rows = a.take();
                read.rows += rows.len() as u64;
                if batches.send(rows).await.is_err() {
                    break; // the writer failed: its error is below
                }
            }
        }
        if let Some(a) = agg.as_mut() {
            let rows = a.take();
            read.rows += rows.len() as u64;
            let _ = batches.send(rows).await;
        }
        Ok(())
    }
    .await;
    drop(batches);
    let written = writing
        .await
        .map_err(|e| WorkerError::Invalid(format!("the log writer stopped: {e}")));
    // A read error first (the file is cut off: the transaction goes), then
    // the writer's.
    read_result.map_err(fail(read))?;
    let mut writer = written
        .map_err(fail(read))?
        .map_err(|e| fail(read)(e.into()))?;
    if let Some(a) = &agg {
        writer
            .write_calls(&a.calls)
            .await
            .map_err(|e| fail(read)(e.into()))?;
    }
    let bytes = file.log_file_length.unwrap_or(0.0).max(0.0) as i64;
    writer
        .commit(read.lines as i64, read.bad_lines as i64, bytes)
        .await
        .map_err(|e| fail(read)(e.into()))?;
    Ok(read)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Api,
    Login,
}

impl Kind {
    fn source(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Login => "login",
        }
    }
}

/// Where each field is in a file's lines, from its header.
#[derive(Clone, Copy)]
struct Columns {
    width: usize,
    timestamp_derived: Option<usize>,
    timestamp: Option<usize>,
    user_id: Option<usize>,
    user_name: Option<usize>,
    ip: Option<usize>,
    ip_fallback: Option<usize>,
    user_agent: Option<usize>,
    app_id: Option<usize>,
    app_name: Option<usize>,
    subtype: Option<usize>,
    subtype_fallback: Option<usize>,
    status: Option<usize>,
}

/// (day, person, address) to the app and its name they called with.
pub type Callers = HashMap<(NaiveDate, String, IpAddr), (String, Option<String>)>;

/// A file's lines summed per day, app, person, address, client and kind,
/// and its API calls per day, app and HTTP status.
pub struct Aggregator<'a> {
    kind: Kind,
    cols: Columns,
    apps: &'a HashMap<String, String>,
    callers: &'a Callers,
    index: HashMap<Vec<u8>, usize>,
    rows: Vec<Activity>,
    /// The API families (REST, Bulk, SOAP…) each API row's calls used: one
    /// row per caller whatever the family, the families listed in it.
    families: Vec<Vec<Box<[u8]>>>,
    key: Vec<u8>,
    calls_index: HashMap<Vec<u8>, usize>,
    /// The file's API calls per day, app and status (a few hundred rows).
    pub calls: Vec<ApiCalls>,
}

/// Text of a field: decoded lossily, without NUL (PostgreSQL text cannot
/// hold it), cut to `max` bytes; `None` when empty.
fn text(field: Option<&[u8]>, max: usize) -> Option<String> {
    let s = String::from_utf8_lossy(field?);
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let s = if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    };
    Some(db::bounded(&s, max))
}

/// A user id in its 15-character form: the logs write that, LoginHistory
/// the 18-character one, and the archive counts people across both.
fn user15(id: String) -> String {
    id.chars().take(15).collect()
}

fn parse_time(derived: Option<&[u8]>, compact: Option<&[u8]>) -> Option<DateTime<Utc>> {
    if let Some(d) = derived.and_then(|d| std::str::from_utf8(d).ok())
        && let Ok(t) = DateTime::parse_from_rfc3339(d.trim())
    {
        return Some(t.with_timezone(&Utc));
    }
    let c = std::str::from_utf8(compact?).ok()?;
    NaiveDateTime::parse_from_str(c.trim(), "%Y%m%d%H%M%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

impl<'a> Aggregator<'a> {
    pub fn new(
        kind: Kind,
        header: &csv::ByteRecord,
        apps: &'a HashMap<String, String>,
        callers: &'a Callers,
    ) -> Aggregator<'a> {
        let names: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (String::from_utf8_lossy(h).trim().to_ascii_uppercase(), i))
            .collect();
        let col = |n: &str| names.get(n).copied();
        let cols = match kind {
            Kind::Api => Columns {
                width: header.len(),
                timestamp_derived: col("TIMESTAMP_DERIVED"),
                timestamp: col("TIMESTAMP"),
                user_id: col("USER_ID"),
                user_name: col("USER_NAME"),
                ip: col("CLIENT_IP"),
                ip_fallback: None,
                user_agent: None,
                app_id: col("CONNECTED_APP_ID"),
                app_name: col("CONNECTED_APP_NAME"),
                subtype: col("API_FAMILY"),
                subtype_fallback: None,
                status: col("STATUS_CODE"),
            },
            Kind::Login => Columns {
                width: header.len(),
                timestamp_derived: col("TIMESTAMP_DERIVED"),
                timestamp: col("TIMESTAMP"),
                user_id: col("USER_ID"),
                user_name: col("USER_NAME"),
                ip: col("SOURCE_IP"),
                ip_fallback: col("CLIENT_IP"),
                user_agent: col("BROWSER_TYPE"),
                app_id: None,
                app_name: None,
                subtype: col("LOGIN_SUB_TYPE"),
                subtype_fallback: col("LOGIN_TYPE"),
                status: col("LOGIN_STATUS"),
            },
        };
        Aggregator {
            kind,
            cols,
            apps,
            callers,
            index: HashMap::new(),
            rows: Vec::new(),
            families: Vec::new(),
            key: Vec::with_capacity(256),
            calls_index: HashMap::new(),
            calls: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows summed so far, and a fresh start.
    pub fn take(&mut self) -> Vec<Activity> {
        self.index.clear();
        let mut rows = std::mem::take(&mut self.rows);
        for (row, families) in rows.iter_mut().zip(self.families.drain(..)) {
            if !families.is_empty() {
                let names: Vec<String> = families
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                row.subtype = text(Some(names.join(", ").as_bytes()), db::MAX_SUBTYPE);
            }
        }
        rows
    }

    /// The app a line names: its id (18 characters), else its name when
    /// one app of the org has it.
    fn app_of(&self, id: Option<&[u8]>, name: Option<&[u8]>) -> (Option<String>, Option<String>) {
        let app_name = text(name, db::MAX_NAME);
        let app_key = id
            .and_then(|id| std::str::from_utf8(id).ok())
            .and_then(|id| cockpit_domain::ids::to_18(id.trim()))
            .or_else(|| app_name.as_ref().and_then(|n| self.apps.get(n).cloned()));
        (app_key, app_name)
    }

    fn count_call(
        &mut self,
        day: NaiveDate,
        id: Option<&[u8]>,
        name: Option<&[u8]>,
        status: Option<i16>,
    ) {
        // The key buffer is the line key's, free again by now.
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(&chrono::Datelike::num_days_from_ce(&day).to_be_bytes());
        for v in [id, name] {
            key.push(0xff);
            key.extend_from_slice(v.unwrap_or_default());
        }
        key.extend_from_slice(&status.unwrap_or(0).to_be_bytes());
        if let Some(&i) = self.calls_index.get(&key) {
            self.calls[i].requests += 1;
            self.key = key;
            return;
        }
        self.calls_index.insert(key.clone(), self.calls.len());
        self.key = key;
        let (app_key, app_name) = self.app_of(id, name);
        self.calls.push(ApiCalls {
            day,
            app_key,
            app_name,
            status,
            requests: 1,
        });
    }

    /// Adds one line; `false` when it could not be read (counted by the
    /// caller, not stored).
    pub fn add(&mut self, rec: &csv::ByteRecord) -> bool {
        let c = self.cols;
        if rec.len() != c.width {
            return false;
        }
        let f = |i: Option<usize>| i.and_then(|i| rec.get(i)).filter(|v| !v.is_empty());
        let Some(at) = parse_time(f(c.timestamp_derived), f(c.timestamp)) else {
            return false;
        };
        let day = at.date_naive();
        let ip_field = f(c.ip).or(f(c.ip_fallback));
        let subtype = f(c.subtype).or(f(c.subtype_fallback));
        let status: Option<i16> = match self.kind {
            Kind::Api => f(c.status)
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.trim().parse::<u16>().ok())
                .filter(|s| (100..600).contains(s))
                .map(|s| s as i16),
            Kind::Login => None,
        };
        let error = match self.kind {
            Kind::Api => status.is_some_and(|s| s >= 400),
            Kind::Login => f(c.status).is_some_and(|s| s != b"LOGIN_NO_ERROR"),
        };
        if self.kind == Kind::Api {
            self.count_call(day, f(c.app_id), f(c.app_name), status);
        }
        // An API call's family is listed in its row, not part of its key.
        let (family, subtype) = match self.kind {
            Kind::Api => (subtype, None),
            Kind::Login => (None, subtype),
        };
        // The key: the fields as logged, each after a byte no UTF-8 text has.
        self.key.clear();
        self.key
            .extend_from_slice(&chrono::Datelike::num_days_from_ce(&day).to_be_bytes());
        for v in [
            f(c.app_id),
            f(c.app_name),
            f(c.user_id),
            f(c.user_name),
            ip_field,
            f(c.user_agent),
            subtype,
        ] {
            self.key.push(0xff);
            self.key.extend_from_slice(v.unwrap_or_default());
        }
        if let Some(&i) = self.index.get(&self.key) {
            let fams = &mut self.families[i];
            if let Some(fam) = family
                && fams.len() < 8
                && !fams.iter().any(|x| **x == *fam)
            {
                fams.push(fam.into());
            }
            let r = &mut self.rows[i];
            r.requests += 1;
            r.errors += i64::from(error);
            r.first_seen = r.first_seen.min(at);
            r.last_seen = r.last_seen.max(at);
            return true;
        }
        let (mut app_key, mut app_name) = self.app_of(f(c.app_id), f(c.app_name));
        let user_id = text(f(c.user_id), 18).map(user15);
        let ip = ip_field
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if app_key.is_none()
            && let (Some(u), Some(ip)) = (&user_id, ip)
            && let Some((k, n)) = self.callers.get(&(day, u.clone(), ip))
        {
            app_key = Some(k.clone());
            app_name = n.clone();
        }
        let row = Activity {
            day,
            app_key,
            app_name,
            user_id,
            user_name: text(f(c.user_name), db::MAX_NAME),
            ip,
            user_agent: text(f(c.user_agent), db::MAX_USER_AGENT),
            subtype: text(subtype, db::MAX_SUBTYPE),
            requests: 1,
            errors: i64::from(error),
            first_seen: at,
            last_seen: at,
        };
        self.index.insert(self.key.clone(), self.rows.len());
        self.rows.push(row);
        self.families
            .push(family.map(|f| vec![f.into()]).unwrap_or_default());
        true
    }
}

/// OAuth logins (LoginHistory) since the last read, up to a minute ago:
/// they name the app and reach back further than the logs, without the
/// client. The first read goes back `LIST_DAYS` days.
async fn archive_login_history(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
    integration_user: Option<&str>,
    apps: &HashMap<String, String>,
) -> Result<u64, WorkerError> {
    let to = Utc::now() - chrono::Duration::minutes(1);
    let from = db::login_history_to(pool, org)
        .await?
        .unwrap_or_else(|| to - chrono::Duration::days(i64::from(LIST_DAYS)));
    if from >= to {
        return Ok(0);
    }
    let soql = format!(
        "SELECT {} FROM LoginHistory WHERE LoginType = 'Remote Access 2.0' AND LoginTime > {} AND LoginTime <= {}",
        LoginHistory::FIELDS,
        cockpit_salesforce::records::soql_datetime(from),
        cockpit_salesforce::records::soql_datetime(to)
    );
    type Key = (
        NaiveDate,
        Option<String>,
        Option<String>,
        Option<IpAddr>,
        Option<String>,
    );
    let mut sums: HashMap<Key, Activity> = HashMap::new();
    let mut read = 0u64;
    let mut stream = client.query::<LoginHistory>(&soql).boxed();
    while let Some(l) = stream.try_next().await? {
        if l.user_id.is_some() && l.user_id.as_deref() == integration_user {
            continue; // the cockpit's own sessions
        }
        read += 1;
        let app_name = l
            .application
            .as_deref()
            .map(|a| db::bounded(a, db::MAX_NAME));
        let user_id = l.user_id.as_deref().map(|u| user15(u.to_owned()));
        let ip = l.source_ip.as_deref().and_then(|i| i.trim().parse().ok());
        let subtype = l
            .login_sub_type
            .as_deref()
            .map(|s| db::bounded(s, db::MAX_SUBTYPE));
        let failed = l.status.as_deref() != Some("Success");
        let at = l.login_time;
        let key = (
            at.date_naive(),
            app_name.clone(),
            user_id.clone(),
            ip,
            subtype.clone(),
        );
        let e = sums.entry(key).or_insert_with(|| Activity {
            day: at.date_naive(),
            app_key: app_name.as_ref().and_then(|n| apps.get(n).cloned()),
            app_name,
            user_id,
            user_name: None,
            ip,
            user_agent: None,
            subtype,
            requests: 0,
            errors: 0,
            first_seen: at,
            last_seen: at,
        });
        e.requests += 1;
        e.errors += i64::from(failed);
        e.first_seen = e.first_seen.min(at);
        e.last_seen = e.last_seen.max(at);
    }
    let mut rows: Vec<Activity> = sums.into_values().collect();
    let mut ids: Vec<String> = rows.iter().filter_map(|r| r.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let names = db::usernames(pool, org, &ids).await?;
    for r in &mut rows {
        r.user_name = r.user_id.as_ref().and_then(|u| names.get(u).cloned());
    }
    db::write_login_history(pool, org, &rows, to).await?;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> csv::ByteRecord {
        csv::ByteRecord::from(fields.to_vec())
    }

    #[test]
    fn sums_lines_and_counts_bad_ones() {
        let apps = HashMap::from([("Acme".to_owned(), "0H4000000000001AAA".to_owned())]);
        let header = rec(&[
            "EVENT_TYPE",
            "TIMESTAMP_DERIVED",
            "USER_ID",
            "CLIENT_IP",
            "CONNECTED_APP_NAME",
            "API_FAMILY",
            "STATUS_CODE",
        ]);
        let callers = Callers::new();
        let mut a = Aggregator::new(Kind::Api, &header, &apps, &callers);
        let line = |t: &str, ip: &str, status: &str| {
            rec(&[
                "ApiTotalUsage",
                t,
                "005000000000001",
                ip,
                "Acme",
                "REST",
                status,
            ])
        };
        assert!(a.add(&line("2026-09-15T12:00:00.000Z", "198.51.100.7", "200")));
        assert!(a.add(&line("2026-09-15T13:00:00.000Z", "198.51.100.7", "500")));
        assert!(a.add(&line("2026-09-15T11:00:00.000Z", "not an ip", "200")));
        assert!(!a.add(&line("yesterday", "198.51.100.7", "200")), "no time");
        assert!(
            !a.add(&rec(&["ApiTotalUsage", "2026-09-15T12:00:00Z"])),
            "short line"
        );
        assert!(a.add(&line("2026-09-15T14:00:00.000Z", "198.51.100.7", "200")));
        let rows = a.take();
        assert_eq!(rows.len(), 2, "by address");
        let ok = rows.iter().find(|r| r.ip.is_some()).unwrap();
        assert_eq!((ok.requests, ok.errors), (3, 1));
        assert_eq!(ok.subtype.as_deref(), Some("REST"), "the families it used");
        assert_eq!(ok.app_key.as_deref(), Some("0H4000000000001AAA"));
        assert_eq!(ok.ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(ok.first_seen.to_rfc3339(), "2026-09-15T12:00:00+00:00");
        assert_eq!(ok.last_seen.to_rfc3339(), "2026-09-15T14:00:00+00:00");
        let mut calls: Vec<(Option<i16>, i64)> =
            a.calls.iter().map(|c| (c.status, c.requests)).collect();
        calls.sort();
        assert_eq!(
            calls,
            vec![(Some(200), 3), (Some(500), 1)],
            "calls by status"
        );
        assert!(
            rows.iter().any(|r| r.ip.is_none()),
            "an unreadable address is kept as none"
        );
        assert!(a.is_empty());
    }

    #[test]
    fn hostile_fields_are_bounded_and_cleaned() {
        let apps = HashMap::new();
        let header = rec(&[
            "TIMESTAMP",
            "USER_ID",
            "SOURCE_IP",
            "BROWSER_TYPE",
            "LOGIN_STATUS",
        ]);
        let callers = Callers::new();
        let mut a = Aggregator::new(Kind::Login, &header, &apps, &callers);
        let long = format!("<script>{}\0", "é".repeat(2_000));
        let mut line = csv::ByteRecord::new();
        for f in [
            b"20260915120000.000".as_slice(),
            b"005000000000001\xff\xfe-too-long-for-an-id",
            b"2001:db8::1",
            long.as_bytes(),
            b"LOGIN_ERROR_INVALID_PASSWORD",
        ] {
            line.push_field(f);
        }
        assert!(a.add(&line));
        let rows = a.take();
        let ua = rows[0].user_agent.as_deref().unwrap();
        assert!(ua.len() <= db::MAX_USER_AGENT && ua.starts_with("<script>"));
        assert!(!ua.contains('\0'));
        assert_eq!(rows[0].user_id.as_deref(), Some("005000000000001"));
        assert_eq!(rows[0].errors, 1);
        assert_eq!(rows[0].ip, Some("2001:db8::1".parse().unwrap()));
    }
}
