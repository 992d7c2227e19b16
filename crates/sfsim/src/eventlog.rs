//! EventLogFile generation: daily `ApiTotalUsage` CSV logs (columns per reference §4.9).

use chrono::{TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::SimConfig;
use crate::ids;
use crate::model::*;

const DAY: Ts = 86_400_000;
/// Days of daily logs generated (30-day retention with Event Monitoring).
pub const LOG_DAYS: i64 = 7;

pub const COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "TIMESTAMP_DERIVED",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "USER_NAME",
    "CLIENT_IP",
    "CLIENT_NAME",
    "CONNECTED_APP_ID",
    "CONNECTED_APP_NAME",
    "API_FAMILY",
    "API_RESOURCE",
    "API_VERSION",
    "HTTP_METHOD",
    "STATUS_CODE",
    "ENTITY_NAME",
    "COUNTS_AGAINST_API_LIMIT",
    "API_CLIENT_CATEGORY",
    "BOT_IDENTIFIER",
    "BOT_SESSION_IDENTIFIER",
    "PLANNER_IDENTIFIER",
];

pub const COLUMN_TYPES: &[&str] = &[
    "String", "String", "DateTime", "String", "Id", "Id", "String", "IP", "String", "Id", "String",
    "String", "String", "String", "String", "Number", "String", "Boolean", "String", "String",
    "String", "String",
];

const RESOURCES: &[(&str, &str, &str, &str)] = &[
    ("REST", "/v64.0/query", "GET", "Account"),
    ("REST", "/v64.0/sobjects/Contact", "POST", "Contact"),
    (
        "REST",
        "/v64.0/sobjects/Opportunity/{id}",
        "PATCH",
        "Opportunity",
    ),
    ("REST", "/v62.0/composite", "POST", ""),
    ("SOAP", "query", "POST", "Lead"),
    ("Bulk", "/v64.0/jobs/ingest", "POST", "Contact"),
    ("REST", "/v64.0/limits", "GET", ""),
];

pub fn ts_compact(ms: Ts) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y%m%d%H%M%S%.3f").to_string()
}

pub fn ts_derived(ms: Ts) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn generate_logs(
    cfg: &SimConfig,
    anchor: Ts,
    users: &[User],
    apps: &[App],
    tokens: &[Token],
    rng: &mut ChaCha20Rng,
) -> Vec<EventLog> {
    let org15 = ids::org_id(cfg.seed)[..15].to_string();
    (1..=LOG_DAYS)
        .map(|d| generate_day(&org15, anchor - d * DAY, users, apps, tokens, rng))
        .collect()
}

/// One daily `ApiTotalUsage` file for the UTC day starting at `day`, sampled from the
/// org's grants (errors included).
pub fn generate_day(
    org15: &str,
    day: Ts,
    users: &[User],
    apps: &[App],
    tokens: &[Token],
    rng: &mut ChaCha20Rng,
) -> EventLog {
    let rows_per_day = (50 + tokens.len() / 50).min(1500);
    {
        let mut w = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .from_writer(Vec::new());
        let _ = w.write_record(COLUMNS);
        let mut rows: Vec<(Ts, Vec<String>)> = Vec::with_capacity(rows_per_day);
        for _ in 0..rows_per_day {
            if tokens.is_empty() {
                break;
            }
            let t = &tokens[rng.random_range(0..tokens.len())];
            if t.revoked {
                continue;
            }
            let user = &users[t.user as usize];
            let app = &apps[t.app as usize];
            let at = day + rng.random_range(0..DAY);
            let (fam, res, method, entity) = RESOURCES[rng.random_range(0..RESOURCES.len())];
            let r: f64 = rng.random();
            let status = if r < 0.90 {
                "200"
            } else if r < 0.94 {
                "401"
            } else if r < 0.97 {
                "400"
            } else if r < 0.99 {
                "403"
            } else {
                "500"
            };
            let app_id = app.sobject_id(t.app);
            rows.push((
                at,
                vec![
                    "ApiTotalUsage".into(),
                    ts_compact(at),
                    ts_derived(at),
                    random_string(rng, 9),
                    org15.to_string(),
                    ids::make_id(ids::USER, t.user as u64)[..15].to_string(),
                    user.username.clone(),
                    format!("203.0.113.{}", rng.random_range(1..255)),
                    String::new(),
                    app_id,
                    app.name.clone(),
                    fam.into(),
                    res.into(),
                    res.split('/')
                        .nth(1)
                        .unwrap_or("v64.0")
                        .trim_start_matches('v')
                        .into(),
                    method.into(),
                    status.into(),
                    entity.into(),
                    "true".into(),
                    "EXTERNAL_APPLICATION".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            ));
        }
        rows.sort_by_key(|r| r.0);
        for (_, r) in rows {
            let _ = w.write_record(&r);
        }
        let csv = w.into_inner().unwrap_or_default();
        EventLog {
            event_type: "ApiTotalUsage",
            log_date: day,
            created: day + DAY + 3 * 3_600_000,
            csv,
        }
    }
}
