//! EventLogFile generation: daily `ApiTotalUsage` and `Login` CSV logs
//! (columns per reference §4.9), and staged attacks replayed into them.
//!
//! A day is a set of sign-in sessions: each session is one `Login` row (a
//! token refresh, a username-password or JWT sign-in, or a UI login) followed,
//! when it succeeded, by the `ApiTotalUsage` rows of that user and app from
//! the same IP later the same day. Networks and user agents come from
//! [`crate::traffic`]. Figures are drawn from a generator seeded by the seed
//! and the day, so a day's files are the same whenever they are generated.
//!
//! Rows are kept compact (a few integers each) until the CSV is written, and
//! the CSV is written in chunks joined once at the end: a day of a million
//! rows takes about twice its CSV's size at the peak.

use std::net::IpAddr;

use axum::body::Bytes;
use chrono::{Datelike, TimeZone, Utc};

use crate::SimConfig;
use crate::ids;
use crate::model::*;
use crate::traffic::{self, BROWSER_UAS, DEVICE_UAS, Flow, Mix, h};

pub const DAY: Ts = 86_400_000;
const MIN: Ts = 60_000;
/// Days of daily logs generated (30-day retention with Event Monitoring).
pub const LOG_DAYS: i64 = 7;

pub const API_TOTAL_USAGE: &str = "ApiTotalUsage";
pub const LOGIN: &str = "Login";

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

/// The `Login` event type's columns, in the order a real org's file has
/// them [B: a published Login file (Elastic Beats' Salesforce input test
/// data); the field list matches the Object Reference's Login Event Type].
pub const LOGIN_COLUMNS: &[&str] = &[
    "EVENT_TYPE",
    "TIMESTAMP",
    "REQUEST_ID",
    "ORGANIZATION_ID",
    "USER_ID",
    "RUN_TIME",
    "CPU_TIME",
    "URI",
    "SESSION_KEY",
    "LOGIN_KEY",
    "USER_TYPE",
    "REQUEST_STATUS",
    "DB_TOTAL_TIME",
    "LOGIN_TYPE",
    "BROWSER_TYPE",
    "API_TYPE",
    "API_VERSION",
    "USER_NAME",
    "TLS_PROTOCOL",
    "CIPHER_SUITE",
    "AUTHENTICATION_METHOD_REFERENCE",
    "LOGIN_SUB_TYPE",
    "TIMESTAMP_DERIVED",
    "USER_ID_DERIVED",
    "CLIENT_IP",
    "URI_ID_DERIVED",
    "LOGIN_STATUS",
    "SOURCE_IP",
];

/// Types per the Object Reference (CLIENT_IP is a String there: it can read
/// `Salesforce.com IP`).
pub const LOGIN_COLUMN_TYPES: &[&str] = &[
    "String", "String", "String", "Id", "Id", "Number", "Number", "String", "String", "String",
    "String", "String", "Number", "String", "String", "String", "String", "String", "String",
    "String", "String", "String", "DateTime", "Id", "String", "Id", "String", "IP",
];

/// Column names and types of an event type's files.
pub fn columns(event_type: &str) -> (&'static [&'static str], &'static [&'static str]) {
    if event_type == LOGIN {
        (LOGIN_COLUMNS, LOGIN_COLUMN_TYPES)
    } else {
        (COLUMNS, COLUMN_TYPES)
    }
}

/// ApiTotalUsage rows a day holds unless [`SimConfig::log_rows_per_day`] says.
pub fn default_rows_per_day(tokens: usize) -> usize {
    (50 + tokens / 50).min(1500)
}

struct Res {
    fam: &'static str,
    res: &'static str,
    method: &'static str,
    entity: &'static str,
    version: &'static str,
}

const fn res(
    fam: &'static str,
    res: &'static str,
    method: &'static str,
    entity: &'static str,
    version: &'static str,
) -> Res {
    Res {
        fam,
        res,
        method,
        entity,
        version,
    }
}

/// Everyday calls (the first [`N_NORMAL`]) and the recon pattern of the
/// 2025 Drift campaign ([`ATTACK_FIRST`] on).
const RESOURCES: &[Res] = &[
    res("REST", "/v64.0/query", "GET", "Account", "64.0"),
    res("REST", "/v64.0/sobjects/Contact", "POST", "Contact", "64.0"),
    res(
        "REST",
        "/v64.0/sobjects/Opportunity/{id}",
        "PATCH",
        "Opportunity",
        "64.0",
    ),
    res("REST", "/v62.0/composite", "POST", "", "62.0"),
    res("SOAP", "query", "POST", "Lead", "64.0"),
    res("Bulk", "/v64.0/jobs/ingest", "POST", "Contact", "64.0"),
    res("REST", "/v64.0/limits", "GET", "", "64.0"),
    // The attack's recon sequence.
    res("REST", "/v58.0/sobjects/", "GET", "", "58.0"),
    res(
        "REST",
        "/v58.0/sobjects/Case/describe/",
        "GET",
        "Case",
        "58.0",
    ),
    res("REST", "/v58.0/query", "GET", "Account", "58.0"),
    res("REST", "/v58.0/query", "GET", "Contact", "58.0"),
    res("REST", "/v58.0/query", "GET", "User", "58.0"),
    res("REST", "/v58.0/query", "GET", "Case", "58.0"),
    res("REST", "/v58.0/query", "GET", "Opportunity", "58.0"),
    res("REST", "/v58.0/limits/", "GET", "", "58.0"),
    // [C] Bulk API 2.0 query jobs as API_FAMILY `Bulk`, the job id templated
    // as the other resources are.
    res("Bulk", "/v58.0/jobs/query", "POST", "Case", "58.0"),
    res("Bulk", "/v58.0/jobs/query/{id}", "DELETE", "Case", "58.0"),
];
const N_NORMAL: u64 = 7;
const ATTACK_FIRST: u8 = 7;
const ATTACK_STEPS: usize = 10;

/// Index into [`LOGIN_SUBTYPES`].
const SUB_UI: u8 = 0;
const SUB_WEB_SERVER: u8 = 1;
const SUB_REFRESH: u8 = 2;
const SUB_PASSWORD: u8 = 3;
const SUB_JWT: u8 = 4;

/// `LOGIN_STATUS` values: success [A], a wrong password [B: seen in
/// published parsers], an inactive user [C: the name follows the documented
/// `LOGIN_ERROR_*` pattern].
const LOGIN_STATUS: &[&str] = &[
    "LOGIN_NO_ERROR",
    "LOGIN_ERROR_INVALID_PASSWORD",
    "LOGIN_ERROR_USER_INACTIVE",
];

/// An attack staged through [`crate::Sim::stage_attack`].
#[derive(Clone, Debug)]
pub struct StagedAttack {
    pub id: u64,
    pub app: u32,
    pub from: Ts,
    pub to: Ts,
    pub ips: Vec<IpAddr>,
    pub user_agents: Vec<String>,
    pub requests: usize,
    pub users: Vec<u32>,
}

/// One sign-in: a Login row, and the session the API rows belong to.
#[derive(Clone, Copy, Debug)]
struct Sess {
    t0: Ts,
    user: u32,
    /// NONE: a UI login.
    app: u32,
    ip: IpAddr,
    /// Index into the day's user agent table.
    ua: u32,
    sub: u8,
    status: u8,
    /// Figures of the row (timings, keys) come from this word.
    r: u64,
}

#[derive(Clone, Copy, Debug)]
struct ApiRow {
    at: Ts,
    sess: u32,
    res: u8,
    status: u16,
}

/// What a day's files are made from.
pub struct DayInput<'a> {
    pub seed: u64,
    pub org15: &'a str,
    pub day: Ts,
    pub users: &'a [User],
    pub apps: &'a [App],
    pub tokens: &'a [Token],
    pub integration: &'a [bool],
    pub attacks: &'a [StagedAttack],
    /// ApiTotalUsage rows of ordinary traffic.
    pub api_rows: usize,
}

/// The IP a session of `user` with `app` calls from: one of four hosts of
/// one of the app's networks for integration apps, one of two of the user's
/// home network otherwise. [C] A service calls out through a few NAT
/// gateways and a home has an address or two at a time; no public figure
/// says how many, these keep each caller's addresses few, as in real logs.
pub fn session_ip(seed: u64, integration: &[bool], app: u32, user: u32, r: u64) -> IpAddr {
    if integration.get(app as usize).copied().unwrap_or(false) {
        let nets = traffic::app_nets(seed, app);
        nets[((r >> 40) % nets.len() as u64) as usize].host(r % 4)
    } else {
        traffic::user_net(seed, user).host(r % 2)
    }
}

/// What a consumer can expect of an app's traffic ([`traffic::AppTraffic`]).
pub fn app_traffic(seed: u64, integration: &[bool], app: u32, name: &str) -> traffic::AppTraffic {
    let integ = integration.get(app as usize).copied().unwrap_or(false);
    let flow =
        traffic::flows(seed, integration.len().max(app as usize + 1), integration)[app as usize];
    traffic::AppTraffic {
        integration: integ,
        networks: if integ {
            traffic::app_nets(seed, app)
                .iter()
                .map(|n| n.to_string())
                .collect()
        } else {
            Vec::new()
        },
        user_agent: integ.then(|| traffic::app_ua(seed, app, name)),
        login_sub_type: flow.sub_type(),
    }
}

/// The initial days of logs (yesterday and the `LOG_DAYS - 1` days before).
pub fn generate_logs(
    cfg: &SimConfig,
    anchor: Ts,
    users: &[User],
    apps: &[App],
    tokens: &[Token],
    integration: &[bool],
) -> Vec<EventLog> {
    let org15 = ids::org_id(cfg.seed)[..15].to_string();
    let api_rows = cfg
        .log_rows_per_day
        .unwrap_or_else(|| default_rows_per_day(tokens.len()));
    let mut out = Vec::with_capacity(2 * LOG_DAYS as usize);
    for d in 1..=LOG_DAYS {
        out.extend(generate_day(&DayInput {
            seed: cfg.seed,
            org15: &org15,
            day: anchor - d * DAY,
            users,
            apps,
            tokens,
            integration,
            attacks: &[],
            api_rows,
        }));
    }
    out
}

/// The day's user agent table: browsers, devices, each app's own, then the
/// staged attacks' (their offsets returned).
fn ua_table(inp: &DayInput) -> (Vec<String>, Vec<u32>) {
    let mut uas: Vec<String> = BROWSER_UAS
        .iter()
        .chain(DEVICE_UAS)
        .map(|s| s.to_string())
        .collect();
    for (i, a) in inp.apps.iter().enumerate() {
        uas.push(if inp.integration.get(i).copied().unwrap_or(false) {
            traffic::app_ua(inp.seed, i as u32, &a.name)
        } else {
            String::new()
        });
    }
    let mut offsets = Vec::with_capacity(inp.attacks.len());
    for a in inp.attacks {
        offsets.push(uas.len() as u32);
        uas.extend(a.user_agents.iter().cloned());
    }
    (uas, offsets)
}

const APP_UA_BASE: u32 = (BROWSER_UAS.len() + DEVICE_UAS.len()) as u32;

/// The sessions and API rows of a staged attack, all of them: session `i`
/// starts at `from + i/n` of the window, runs the recon sequence a second or
/// two apart, and ends inside the window and inside its UTC day.
fn attack_plan(seed: u64, a: &StagedAttack, ua_base: u32) -> Vec<(Sess, Vec<ApiRow>)> {
    let n = a.requests.div_ceil(ATTACK_STEPS).max(1);
    let width = (a.to - a.from).max(1);
    let mut left = a.requests;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = h(seed, traffic::TAG_ATTACK, a.id, i as u64);
        let start = a.from + (width as i128 * i as i128 / n as i128) as Ts;
        let day_end = start - start.rem_euclid(DAY) + DAY;
        let limit = a.to.min(day_end);
        let steps = left.min(ATTACK_STEPS);
        left -= steps;
        let gap = ((limit - start - 1) / (steps as Ts + 1)).clamp(0, 2_000);
        let sess = Sess {
            t0: start,
            user: a.users[i % a.users.len()],
            app: a.app,
            ip: a.ips[i % a.ips.len()],
            ua: ua_base + (i % a.user_agents.len()) as u32,
            sub: SUB_REFRESH,
            status: 0,
            r,
        };
        let rows = (0..steps)
            .map(|k| ApiRow {
                at: start + gap * (k as Ts + 1),
                sess: 0,
                res: ATTACK_FIRST + k as u8,
                status: if k == ATTACK_STEPS - 1 { 204 } else { 200 },
            })
            .collect();
        out.push((sess, rows));
    }
    out
}

/// The sessions (Login rows) and API rows of a day, unsorted.
fn plan_day(inp: &DayInput, attack_ua: &[u32]) -> (Vec<Sess>, Vec<ApiRow>) {
    let day = inp.day;
    let mut rng = Mix(h(inp.seed, traffic::TAG_DAY, day as u64, 0));
    let flows = traffic::flows(inp.seed, inp.apps.len(), inp.integration);
    let integ = |a: u32| inp.integration.get(a as usize).copied().unwrap_or(false);
    let live: Vec<u32> = (0..inp.tokens.len() as u32)
        .filter(|&t| !inp.tokens[t as usize].revoked)
        .collect();
    let mut sess: Vec<Sess> = Vec::with_capacity(inp.api_rows / 8 + 16);
    let mut api: Vec<ApiRow> = Vec::with_capacity(inp.api_rows);

    // Every integration app with live grants signs in every day; then grants
    // at random until the day's API rows are there.
    let mut integ_tokens: Vec<Vec<u32>> = vec![Vec::new(); inp.apps.len()];
    for &t in &live {
        let a = inp.tokens[t as usize].app;
        if integ(a) {
            integ_tokens[a as usize].push(t);
        }
    }
    // An integration calls from each of its networks every day it runs
    // (its egress is spread over them) [C]: a session from each.
    let mut firsts: Vec<(u32, usize)> = Vec::new();
    for (a, v) in integ_tokens.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let t = v[rng.below(v.len() as u64) as usize];
        firsts.extend((0..traffic::app_nets(inp.seed, a as u32).len()).map(|n| (t, n)));
    }
    drop(integ_tokens);
    let mut attempts = 0usize;
    let mut k = 0usize;
    while !live.is_empty() && attempts < inp.api_rows * 3 + 100 {
        let (t, net) = if k < firsts.len() {
            k += 1;
            (firsts[k - 1].0, Some(firsts[k - 1].1))
        } else if api.len() < inp.api_rows {
            attempts += 1;
            (live[rng.below(live.len() as u64) as usize], None)
        } else {
            break;
        };
        let tok = &inp.tokens[t as usize];
        let (user, app) = (tok.user, tok.app);
        let Some(u) = inp.users.get(user as usize) else {
            continue;
        };
        let integration = integ(app);
        let sub = match flows
            .get(app as usize)
            .copied()
            .unwrap_or(Flow::RefreshToken)
        {
            Flow::UsernamePassword => SUB_PASSWORD,
            Flow::JwtBearer => SUB_JWT,
            Flow::RefreshToken if !integration && rng.chance(0.15) => SUB_WEB_SERVER,
            Flow::RefreshToken => SUB_REFRESH,
        };
        let status = if !u.active {
            // A deactivated user's grant: the app mostly gave up, sometimes
            // it still tries and fails.
            if rng.chance(0.7) {
                continue;
            }
            2
        } else if sub == SUB_PASSWORD && rng.chance(0.03) {
            1
        } else {
            0
        };
        let r = rng.next_u64();
        let t0 = day + rng.below((DAY - MIN) as u64) as Ts;
        let s = Sess {
            t0,
            user,
            app,
            ip: match net {
                Some(n) => traffic::app_nets(inp.seed, app)[n].host(r % 4),
                None => session_ip(inp.seed, inp.integration, app, user, r),
            },
            ua: if integration {
                APP_UA_BASE + app
            } else {
                traffic::user_device_ua(inp.seed, user) as u32
            },
            sub,
            status,
            r,
        };
        let idx = sess.len() as u32;
        sess.push(s);
        if status != 0 {
            continue;
        }
        // Integration sessions are busier, the more so the busier the day.
        let want = if integration {
            rng.range(3, 4 + (inp.api_rows as i64 / 100).min(37))
        } else {
            rng.range(1, 7)
        } as usize;
        let n = want.min(inp.api_rows.saturating_sub(api.len()));
        let span = if integration { 30 * MIN } else { 120 * MIN };
        let end = (t0 + span).min(day + DAY);
        for _ in 0..n {
            let at = t0 + 1 + rng.below((end - t0 - 1).max(1) as u64) as Ts;
            let p: f64 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let status = if p < 0.90 {
                200
            } else if p < 0.94 {
                401
            } else if p < 0.97 {
                400
            } else if p < 0.99 {
                403
            } else {
                500
            };
            api.push(ApiRow {
                at,
                sess: idx,
                res: rng.below(N_NORMAL) as u8,
                status,
            });
        }
    }

    // People also sign in to the UI (no API rows: UI traffic is LIGHTNING_UI,
    // not generated).
    let n_ui = if inp.users.is_empty() {
        0
    } else {
        (sess.len() / 4).max(3)
    };
    for _ in 0..n_ui {
        let user = rng.below(inp.users.len() as u64) as u32;
        let status = if !inp.users[user as usize].active {
            if rng.chance(0.8) {
                continue;
            }
            2
        } else if rng.chance(0.03) {
            1
        } else {
            0
        };
        let r = rng.next_u64();
        sess.push(Sess {
            t0: day + rng.below(DAY as u64) as Ts,
            user,
            app: NONE,
            ip: traffic::user_net(inp.seed, user).host(r),
            ua: traffic::user_browser_ua(inp.seed, user) as u32,
            sub: SUB_UI,
            status,
            r,
        });
    }

    // Staged attacks: their sessions that start this day.
    for (a, &ua_base) in inp.attacks.iter().zip(attack_ua) {
        if a.to <= day || a.from >= day + DAY {
            continue;
        }
        for (s, rows) in attack_plan(inp.seed, a, ua_base) {
            if s.t0 < day || s.t0 >= day + DAY {
                continue;
            }
            let idx = sess.len() as u32;
            sess.push(s);
            api.extend(rows.into_iter().map(|r| ApiRow { sess: idx, ..r }));
        }
    }
    (sess, api)
}

/// The day's two files: `ApiTotalUsage` then `Login`.
pub fn generate_day(inp: &DayInput) -> [EventLog; 2] {
    let (uas, attack_ua) = ua_table(inp);
    let (sess, mut api) = plan_day(inp, &attack_ua);
    api.sort_unstable_by_key(|r| (r.at, r.sess, r.res));
    let mut order: Vec<u32> = (0..sess.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (sess[i as usize].t0, i));
    let mut w = Render::new(inp, &uas, 0);
    let api_csv = w.api_file(&sess, &api, true);
    drop(api);
    let login_csv = w.login_file(&sess, &order, true);
    let created = inp.day + DAY + 3 * 3_600_000;
    [
        EventLog {
            event_type: API_TOTAL_USAGE,
            log_date: inp.day,
            created,
            csv: api_csv,
        },
        EventLog {
            event_type: LOGIN,
            log_date: inp.day,
            created,
            csv: login_csv,
        },
    ]
}

/// A staged attack's rows falling on one day, rendered without headers to
/// merge into files generated before it was staged.
pub struct AttackRows {
    pub day: Ts,
    pub login_csv: Bytes,
    pub api_csv: Bytes,
    /// The sessions: (user, time, ip).
    pub logins: Vec<(u32, Ts, IpAddr)>,
    pub api_rows: usize,
}

/// Renders a staged attack's rows falling on `inp.day` (without headers).
pub fn attack_day_rows(inp: &DayInput, a: &StagedAttack) -> Option<AttackRows> {
    let (mut uas, _) = ua_table(&DayInput {
        attacks: &[],
        ..*inp
    });
    let base = uas.len() as u32;
    uas.extend(a.user_agents.iter().cloned());
    let mut sess = Vec::new();
    let mut api = Vec::new();
    for (s, rows) in attack_plan(inp.seed, a, base) {
        if s.t0 < inp.day || s.t0 >= inp.day + DAY {
            continue;
        }
        let idx = sess.len() as u32;
        sess.push(s);
        api.extend(rows.into_iter().map(|r| ApiRow { sess: idx, ..r }));
    }
    if sess.is_empty() {
        return None;
    }
    api.sort_unstable_by_key(|r| (r.at, r.sess, r.res));
    let order: Vec<u32> = (0..sess.len() as u32).collect();
    let mut w = Render::new(inp, &uas, a.id + 1);
    Some(AttackRows {
        day: inp.day,
        login_csv: w.login_file(&sess, &order, false),
        api_csv: w.api_file(&sess, &api, false),
        logins: sess.iter().map(|s| (s.user, s.t0, s.ip)).collect(),
        api_rows: api.len(),
    })
}

/// Every session of a staged attack: (user, time, ip), and its API row count.
pub fn attack_sessions(seed: u64, a: &StagedAttack) -> (Vec<(u32, Ts, IpAddr)>, usize) {
    let plan = attack_plan(seed, a, 0);
    let n = plan.iter().map(|(_, r)| r.len()).sum();
    (plan.iter().map(|(s, _)| (s.user, s.t0, s.ip)).collect(), n)
}

/// Inserts rows (sorted, without header) into a file (header first, rows
/// sorted by TIMESTAMP), keeping the file's own rows byte for byte.
pub fn merge_rows(file: &[u8], rows: &[u8]) -> Bytes {
    let a = split_rows(file);
    let b = split_rows(rows);
    let mut out = Vec::with_capacity(file.len() + rows.len());
    let mut ai = a.into_iter().peekable();
    if let Some(header) = ai.next() {
        out.extend_from_slice(header);
    }
    let mut bi = b.into_iter().peekable();
    loop {
        match (ai.peek(), bi.peek()) {
            (Some(x), Some(y)) => {
                if row_ts(y) < row_ts(x) {
                    out.extend_from_slice(y);
                    bi.next();
                } else {
                    out.extend_from_slice(x);
                    ai.next();
                }
            }
            (Some(x), None) => {
                out.extend_from_slice(x);
                ai.next();
            }
            (None, Some(y)) => {
                out.extend_from_slice(y);
                bi.next();
            }
            (None, None) => break,
        }
    }
    Bytes::from(out)
}

/// CSV records (each with its line end), newlines inside quotes kept.
fn split_rows(csv: &[u8]) -> Vec<&[u8]> {
    let mut rows = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, &c) in csv.iter().enumerate() {
        if c == b'"' {
            quoted = !quoted;
        } else if c == b'\n' && !quoted {
            rows.push(&csv[start..=i]);
            start = i + 1;
        }
    }
    if start < csv.len() {
        rows.push(&csv[start..]);
    }
    rows
}

/// The TIMESTAMP (second) field of a record, as written (`yyyyMMddHHmmss.SSS`
/// sorts as text).
fn row_ts(row: &[u8]) -> &[u8] {
    let Some(p) = row.windows(3).position(|w| w == b"\",\"") else {
        return row;
    };
    let rest = &row[p + 3..];
    let end = rest.iter().position(|&c| c == b'"').unwrap_or(rest.len());
    &rest[..end]
}

/// Chunks of CSV joined once at the end (no doubling reallocations of a
/// huge buffer).
struct Chunks {
    done: Vec<Vec<u8>>,
    cur: Vec<u8>,
}

const CHUNK: usize = 8 << 20;

impl Chunks {
    fn new() -> Chunks {
        Chunks {
            done: Vec::new(),
            cur: Vec::with_capacity(64 << 10),
        }
    }
    fn row_done(&mut self) {
        if self.cur.len() >= CHUNK {
            let full = std::mem::replace(&mut self.cur, Vec::with_capacity(CHUNK + (64 << 10)));
            self.done.push(full);
        }
    }
    fn finish(self) -> Bytes {
        if self.done.is_empty() {
            return Bytes::from(self.cur);
        }
        let total = self.done.iter().map(Vec::len).sum::<usize>() + self.cur.len();
        let mut out = Vec::with_capacity(total);
        for c in self.done {
            out.extend_from_slice(&c);
        }
        out.extend_from_slice(&self.cur);
        Bytes::from(out)
    }
}

/// A field, quoted, with quotes doubled.
fn q(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    if s.contains('"') {
        for c in s.bytes() {
            if c == b'"' {
                buf.push(b'"');
            }
            buf.push(c);
        }
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
    buf.push(b'"');
}

fn num(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn two(buf: &mut Vec<u8>, n: u32) {
    buf.push(b'0' + (n / 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct UserStr {
    id15: String,
    id18: String,
    name: String,
    user_type: &'static str,
}

struct Clock {
    day: Ts,
    /// `yyyyMMdd` and `yyyy-MM-dd` of the day.
    date: String,
    date_iso: String,
}

impl Clock {
    fn new(day: Ts) -> Clock {
        let d = Utc.timestamp_millis_opt(day).single().unwrap_or_default();
        Clock {
            day,
            date: format!("{:04}{:02}{:02}", d.year(), d.month(), d.day()),
            date_iso: format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        }
    }

    /// `"20260915123456.789",` (or the ISO form) of a time.
    fn ts(&self, buf: &mut Vec<u8>, at: Ts, iso: bool) {
        let off = at - self.day;
        if !(0..DAY).contains(&off) {
            let dt = Utc.timestamp_millis_opt(at).single().unwrap_or_default();
            let f = if iso {
                "%Y-%m-%dT%H:%M:%S%.3fZ"
            } else {
                "%Y%m%d%H%M%S%.3f"
            };
            q(buf, &dt.format(f).to_string());
            buf.push(b',');
            return;
        }
        let off = off as u32;
        let (hh, mm, ss, ms) = (
            off / 3_600_000,
            off / 60_000 % 60,
            off / 1000 % 60,
            off % 1000,
        );
        buf.push(b'"');
        if iso {
            buf.extend_from_slice(self.date_iso.as_bytes());
            buf.push(b'T');
            two(buf, hh);
            buf.push(b':');
            two(buf, mm);
            buf.push(b':');
            two(buf, ss);
        } else {
            buf.extend_from_slice(self.date.as_bytes());
            two(buf, hh);
            two(buf, mm);
            two(buf, ss);
        }
        buf.push(b'.');
        buf.push(b'0' + (ms / 100) as u8);
        two(buf, ms % 100);
        if iso {
            buf.push(b'Z');
        }
        buf.extend_from_slice(b"\",");
    }
}

/// `"<len random chars>",`
fn random_id(buf: &mut Vec<u8>, ids: &mut Mix, len: usize, chars: &[u8]) {
    buf.push(b'"');
    let mut r = ids.next_u64();
    for k in 0..len {
        if k % 10 == 9 {
            r = ids.next_u64();
        }
        buf.push(chars[(r & 63) as usize]);
        r >>= 6;
    }
    buf.extend_from_slice(b"\",");
}

fn user_str<'u>(cache: &'u mut Vec<Option<UserStr>>, users: &[User], u: u32) -> &'u UserStr {
    let i = u as usize;
    if cache.len() <= i {
        cache.resize_with(i + 1, || None);
    }
    cache[i].get_or_insert_with(|| {
        let id18 = ids::make_id(ids::USER, u64::from(u));
        let (name, profile) = users
            .get(i)
            .map(|x| (x.username.clone(), x.profile))
            .unwrap_or_default();
        UserStr {
            id15: id18[..15].to_string(),
            id18,
            name,
            // [C] Chatter Free users as `CsnOnly`, everyone else `Standard`.
            user_type: if PROFILES
                .get(profile as usize)
                .is_some_and(|p| p.1 == "Chatter Free")
            {
                "CsnOnly"
            } else {
                "Standard"
            },
        }
    })
}

fn app_str<'u>(
    cache: &'u mut Vec<Option<(String, String)>>,
    apps: &[App],
    a: u32,
) -> &'u (String, String) {
    let i = a as usize;
    if cache.len() <= i {
        cache.resize_with(i + 1, || None);
    }
    cache[i].get_or_insert_with(|| {
        apps.get(i)
            .map(|x| (x.sobject_id(a), x.name.clone()))
            .unwrap_or_default()
    })
}

struct Render<'a> {
    org15: &'a str,
    users_in: &'a [User],
    apps_in: &'a [App],
    uas: &'a [String],
    clock: Clock,
    users: Vec<Option<UserStr>>,
    apps: Vec<Option<(String, String)>>,
    ids: Mix,
}

impl<'a> Render<'a> {
    fn new(inp: &DayInput<'a>, uas: &'a [String], salt: u64) -> Render<'a> {
        Render {
            org15: inp.org15,
            users_in: inp.users,
            apps_in: inp.apps,
            uas,
            clock: Clock::new(inp.day),
            users: Vec::new(),
            apps: Vec::new(),
            ids: Mix(h(inp.seed, traffic::TAG_DAY, inp.day as u64, 1 + salt)),
        }
    }

    fn api_file(&mut self, sess: &[Sess], rows: &[ApiRow], header: bool) -> Bytes {
        let mut c = Chunks::new();
        if header {
            write_header(&mut c.cur, COLUMNS);
        }
        for r in rows {
            let s = &sess[r.sess as usize];
            let res = &RESOURCES[r.res as usize];
            let buf = &mut c.cur;
            buf.extend_from_slice(b"\"ApiTotalUsage\",");
            self.clock.ts(buf, r.at, false);
            self.clock.ts(buf, r.at, true);
            random_id(buf, &mut self.ids, 22, ID_CHARS);
            q(buf, self.org15);
            buf.push(b',');
            let u = user_str(&mut self.users, self.users_in, s.user);
            q(buf, &u.id15);
            buf.push(b',');
            q(buf, &u.name);
            buf.extend_from_slice(b",\"");
            ip(buf, &s.ip);
            buf.extend_from_slice(b"\",\"\",");
            let (id, name) = app_str(&mut self.apps, self.apps_in, s.app);
            q(buf, id);
            buf.push(b',');
            q(buf, name);
            buf.push(b',');
            for f in [res.fam, res.res, res.version, res.method] {
                q(buf, f);
                buf.push(b',');
            }
            buf.push(b'"');
            num(buf, u64::from(r.status));
            buf.extend_from_slice(b"\",");
            q(buf, res.entity);
            buf.extend_from_slice(b",\"true\",\"EXTERNAL_APPLICATION\",\"\",\"\",\"\"\n");
            c.row_done();
        }
        c.finish()
    }

    fn login_file(&mut self, sess: &[Sess], order: &[u32], header: bool) -> Bytes {
        let mut c = Chunks::new();
        if header {
            write_header(&mut c.cur, LOGIN_COLUMNS);
        }
        for &i in order {
            let s = &sess[i as usize];
            let ui = s.app == NONE;
            let r = s.r;
            let buf = &mut c.cur;
            buf.extend_from_slice(b"\"Login\",");
            self.clock.ts(buf, s.t0, false);
            random_id(buf, &mut self.ids, 22, ID_CHARS);
            q(buf, self.org15);
            buf.push(b',');
            let u = user_str(&mut self.users, self.users_in, s.user);
            q(buf, &u.id15);
            let run = 40 + (r >> 8) % 1400;
            buf.extend_from_slice(b",\"");
            num(buf, run);
            buf.extend_from_slice(b"\",\"");
            num(buf, 20 + (r >> 20) % 140);
            buf.extend_from_slice(b"\",");
            // [B] OAuth logins are logged at the token endpoint (published
            // sample); [C] the UI login page's URI.
            q(
                buf,
                if ui {
                    "/index.jsp"
                } else {
                    "/services/oauth2/token"
                },
            );
            // SESSION_KEY: usually empty for Login events [A].
            buf.extend_from_slice(b",\"\",");
            random_id(buf, &mut self.ids, 16, KEY_CHARS);
            q(buf, u.user_type);
            buf.extend_from_slice(b",\"\",\"");
            num(buf, run * 300_000 + (r >> 32) % 300_000);
            // LOGIN_TYPE [A codes]: `A` Application (UI), `i` Remote Access 2.0.
            buf.extend_from_slice(if ui { b"\",\"A\"," } else { b"\",\"i\"," });
            q(buf, &self.uas[s.ua as usize]);
            // API_TYPE empty; API_VERSION `9998.0` on OAuth logins [B: published
            // sample; meaning unknown], empty on UI logins [C].
            buf.extend_from_slice(if ui {
                b",\"\",\"\","
            } else {
                b",\"\",\"9998.0\","
            });
            q(buf, &u.name);
            // [C] browsers negotiate TLS 1.3, server-side clients mostly 1.2.
            let tls13 = ui || (r >> 40).is_multiple_of(4);
            buf.extend_from_slice(if tls13 {
                b",\"TLSv1.3\",\"TLS_AES_256_GCM_SHA384\",\"\","
            } else {
                b",\"TLSv1.2\",\"ECDHE-RSA-AES256-GCM-SHA384\",\"\","
            });
            q(buf, LOGIN_SUBTYPES[s.sub as usize]);
            buf.push(b',');
            self.clock.ts(buf, s.t0, true);
            q(buf, &u.id18);
            buf.extend_from_slice(b",\"");
            // CLIENT_IP: the caller's IP, or `Salesforce.com IP` [A wording];
            // a published file shows both for the same OAuth client minutes
            // apart, so [C] a third of OAuth logins read `Salesforce.com IP`.
            if !ui && (r >> 50).is_multiple_of(3) {
                buf.extend_from_slice(b"Salesforce.com IP");
            } else {
                ip(buf, &s.ip);
            }
            buf.extend_from_slice(b"\",\"\",");
            q(buf, LOGIN_STATUS[s.status as usize]);
            buf.extend_from_slice(b",\"");
            ip(buf, &s.ip);
            buf.extend_from_slice(b"\"\n");
            c.row_done();
        }
        c.finish()
    }
}

fn ip(buf: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v) => {
            for (k, o) in v.octets().iter().enumerate() {
                if k > 0 {
                    buf.push(b'.');
                }
                num(buf, u64::from(*o));
            }
        }
        IpAddr::V6(v) => buf.extend_from_slice(v.to_string().as_bytes()),
    }
}

fn write_header(buf: &mut Vec<u8>, cols: &[&str]) {
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        q(buf, c);
    }
    buf.push(b'\n');
}

pub fn ts_compact(ms: Ts) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y%m%d%H%M%S%.3f").to_string()
}

pub fn ts_derived(ms: Ts) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::generate;
    use crate::traffic::Net;

    const ANCHOR: Ts = 1_790_000_000_000 - 1_790_000_000_000 % DAY;

    fn records(csv: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::Reader::from_reader(csv);
        let header = r.headers().unwrap().iter().map(String::from).collect();
        let rows = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    }

    fn col(h: &[String], name: &str) -> usize {
        h.iter().position(|c| c == name).unwrap()
    }

    #[test]
    fn every_day_has_both_files_with_the_real_columns() {
        let st = generate::generate(&SimConfig::default(), ANCHOR);
        assert_eq!(st.event_logs.len(), 2 * LOG_DAYS as usize);
        for d in 1..=LOG_DAYS {
            let day = ANCHOR - d * DAY;
            let of = |t: &str| {
                st.event_logs
                    .iter()
                    .filter(|e| e.log_date == day && e.event_type == t)
                    .count()
            };
            assert_eq!((of(API_TOTAL_USAGE), of(LOGIN)), (1, 1), "day {d}");
        }
        let login = st
            .event_logs
            .iter()
            .find(|e| e.event_type == LOGIN)
            .unwrap();
        let (h, rows) = records(&login.csv);
        assert_eq!(h, LOGIN_COLUMNS);
        assert_eq!(LOGIN_COLUMNS.len(), LOGIN_COLUMN_TYPES.len());
        assert!(!rows.is_empty());
        let sub: HashSet<&str> = rows
            .iter()
            .map(|r| r[col(&h, "LOGIN_SUB_TYPE")].as_str())
            .collect();
        assert!(
            sub.contains("OauthRefreshToken") && sub.contains(""),
            "{sub:?}"
        );
        let types: HashSet<&str> = rows
            .iter()
            .map(|r| r[col(&h, "LOGIN_TYPE")].as_str())
            .collect();
        assert_eq!(types, HashSet::from(["A", "i"]));
        // Sorted by time.
        let ts: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        // Across the week: the other sign-in flows and failures.
        let mut all_sub = HashSet::new();
        let mut statuses = HashSet::new();
        for e in st.event_logs.iter().filter(|e| e.event_type == LOGIN) {
            let (h, rows) = records(&e.csv);
            for r in rows {
                all_sub.insert(r[col(&h, "LOGIN_SUB_TYPE")].clone());
                statuses.insert(r[col(&h, "LOGIN_STATUS")].clone());
            }
        }
        for s in ["OauthUsernamePassword", "OauthWebServer"] {
            assert!(all_sub.contains(s), "{s} in {all_sub:?}");
        }
        assert!(
            statuses.contains("LOGIN_NO_ERROR") && statuses.len() > 1,
            "{statuses:?}"
        );
    }

    /// Every API row of an integration app follows a successful Login row
    /// of the same user from the same IP that day; the app's IPs fall in at
    /// most 3 networks and its Login rows carry one user agent. A people's
    /// app calls from many networks.
    #[test]
    fn api_rows_are_attributable_to_logins_and_networks_are_stable() {
        let st = generate::generate(&SimConfig::default(), ANCHOR);
        let seed = SimConfig::default().seed;
        let mut nets: HashMap<String, HashSet<Net>> = HashMap::new();
        let mut api_per_app: HashMap<String, usize> = HashMap::new();
        let mut uas: HashMap<String, HashSet<String>> = HashMap::new();
        for d in 1..=LOG_DAYS {
            let day = ANCHOR - d * DAY;
            let file = |t: &str| {
                let e = st
                    .event_logs
                    .iter()
                    .find(|e| e.log_date == day && e.event_type == t)
                    .unwrap();
                records(&e.csv)
            };
            let (lh, logins) = file(LOGIN);
            let (ah, api) = file(API_TOTAL_USAGE);
            // (user, ip) -> first successful OAuth login time
            let mut first: HashMap<(String, String), String> = HashMap::new();
            for r in &logins {
                if r[col(&lh, "LOGIN_STATUS")] == "LOGIN_NO_ERROR"
                    && r[col(&lh, "LOGIN_TYPE")] == "i"
                {
                    first
                        .entry((
                            r[col(&lh, "USER_ID")].clone(),
                            r[col(&lh, "SOURCE_IP")].clone(),
                        ))
                        .or_insert_with(|| r[col(&lh, "TIMESTAMP")].clone());
                }
            }
            for r in &api {
                let app = r[col(&ah, "CONNECTED_APP_NAME")].clone();
                let ip: IpAddr = r[col(&ah, "CLIENT_IP")].parse().unwrap();
                let key = (r[col(&ah, "USER_ID")].clone(), ip.to_string());
                let at = first
                    .get(&key)
                    .unwrap_or_else(|| panic!("no login for {key:?}"));
                assert!(*at < r[col(&ah, "TIMESTAMP")], "login before the call");
                nets.entry(app.clone()).or_default().insert(Net::of(&ip));
                *api_per_app.entry(app).or_default() += 1;
            }
            // Login rows of integration apps' users from their networks.
            for (i, a) in st.apps.iter().enumerate() {
                if !st.integration[i] {
                    continue;
                }
                let app_nets = traffic::app_nets(seed, i as u32);
                for r in &logins {
                    let ip: IpAddr = r[col(&lh, "SOURCE_IP")].parse().unwrap();
                    if app_nets.iter().any(|n| n.contains(&ip)) {
                        uas.entry(a.name.clone())
                            .or_default()
                            .insert(r[col(&lh, "BROWSER_TYPE")].clone());
                    }
                }
            }
        }
        let integ: Vec<&App> = st
            .apps
            .iter()
            .enumerate()
            .filter(|(i, a)| st.integration[*i] && api_per_app.contains_key(&a.name))
            .map(|(_, a)| a)
            .collect();
        assert!(!integ.is_empty(), "an integration app with traffic");
        for a in &integ {
            let n = &nets[&a.name];
            assert!(n.len() <= 3, "{}: {n:?}", a.name);
            assert_eq!(uas[&a.name].len(), 1, "{}: {:?}", a.name, uas[&a.name]);
        }
        let (people, most) = st
            .apps
            .iter()
            .enumerate()
            .filter(|(i, _)| !st.integration[*i])
            .filter_map(|(_, a)| api_per_app.get(&a.name).map(|n| (a, *n)))
            .max_by_key(|x| x.1)
            .unwrap();
        assert!(most > 20);
        assert!(
            nets[&people.name].len() > 10,
            "{}: {:?}",
            people.name,
            nets[&people.name]
        );
    }

    fn big_input(st: &OrgState, api_rows: usize) -> DayInput<'_> {
        DayInput {
            seed: 42,
            org15: "00D000000000042",
            day: ANCHOR,
            users: &st.users,
            apps: &st.apps,
            tokens: &st.tokens,
            integration: &st.integration,
            attacks: &[],
            api_rows,
        }
    }

    #[test]
    fn rows_per_day_is_honoured() {
        let st = generate::generate(&SimConfig::default(), ANCHOR);
        let [api, login] = generate_day(&big_input(&st, 20_000));
        let (_, rows) = records(&api.csv);
        assert_eq!(rows.len(), 20_000);
        let (_, lrows) = records(&login.csv);
        assert!(
            lrows.len() > 1_000 && lrows.len() < 10_000,
            "{}",
            lrows.len()
        );
        // Deterministic.
        let [again, _] = generate_day(&big_input(&st, 20_000));
        assert_eq!(again.csv, api.csv);
    }

    #[test]
    fn merged_rows_keep_time_order_and_quotes() {
        let file = b"\"A\",\"B\",\"C\"\n\"x\",\"20260101000000.000\",\"\"\n\"x\",\"20260101120000.000\",\"\"\n";
        let rows = b"\"y\",\"20260101060000.000\",\"a \"\"quoted\"\"\nline\"\n";
        let out = merge_rows(file, rows);
        let (_, recs) = records(&out);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1][0], "y");
        assert_eq!(recs[1][2], "a \"quoted\"\nline");
    }
}
