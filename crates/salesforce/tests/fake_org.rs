//! The complete OauthToken fetch against a small fake org that reproduces Salesforce's silent
//! 2,500-row cap and lets the test put thousands of tokens into one second (which the simulator
//! does not generate).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use cockpit_salesforce::{Error, OauthToken};
use futures::StreamExt;
use serde_json::{Value, json};

#[derive(Clone)]
struct Row {
    id: String,
    created: DateTime<Utc>,
    user: String,
}

#[derive(Default)]
struct Org {
    rows: Vec<Row>,
    cursors: HashMap<String, Vec<Row>>,
    next_cursor: u64,
    /// Pretend the count is off by this much (an org that hides rows).
    count_skew: u64,
    queries: u64,
    /// The most query cursors open at once (more than one: parts read concurrently).
    max_open_cursors: usize,
}

type Shared = Arc<Mutex<Org>>;

fn literal(v: &str) -> Value {
    if let Some(s) = v.strip_prefix('\'') {
        json!(s.trim_end_matches('\'').replace("\\'", "'"))
    } else {
        json!(v)
    }
}

fn matches(row: &Row, cond: &str) -> bool {
    let parts: Vec<&str> = cond.split_whitespace().collect();
    let [field, op, value] = parts.as_slice() else {
        panic!("fake org cannot parse condition {cond:?}");
    };
    let ord = match *field {
        "CreatedDate" => {
            let v = DateTime::parse_from_rfc3339(value)
                .unwrap()
                .with_timezone(&Utc);
            row.created.cmp(&v)
        }
        "UserId" => row.user.as_str().cmp(literal(value).as_str().unwrap()),
        "Id" => row.id.as_str().cmp(literal(value).as_str().unwrap()),
        other => panic!("fake org cannot filter on {other}"),
    };
    match *op {
        ">=" => ord.is_ge(),
        ">" => ord.is_gt(),
        "<" => ord.is_lt(),
        "=" => ord.is_eq(),
        other => panic!("fake org cannot compare with {other}"),
    }
}

fn record(r: &Row) -> Value {
    json!({
        "attributes": {"type": "OauthToken", "url": format!("/services/data/v66.0/sobjects/OauthToken/{}", r.id)},
        "Id": r.id, "AppName": "Acme Sync", "AppMenuItemId": null, "DeleteToken": format!("DT-{}", r.id),
        "UseCount": 1, "LastUsedDate": null,
        "CreatedDate": r.created.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        "UserId": r.user,
        "User": {"attributes": {"type": "User"}, "Name": "N", "Username": "u@x", "Email": null, "IsActive": true},
        "AppMenuItem": null
    })
}

fn page(org: &mut Org, cursor: String, rows: Vec<Row>, offset: usize, total: usize) -> Value {
    // Salesforce: 500 rows a page, never more than 2,500 in all, then done without error.
    let end = (offset + 500).min(rows.len()).min(2_500);
    let records: Vec<Value> = rows[offset..end].iter().map(record).collect();
    let done = end >= rows.len() || end >= 2_500;
    let mut body = json!({"totalSize": total, "done": done, "records": records});
    if !done {
        body["nextRecordsUrl"] = json!(format!("/services/data/v66.0/query/{cursor}-{end}"));
        org.cursors.insert(cursor, rows);
        org.max_open_cursors = org.max_open_cursors.max(org.cursors.len());
    }
    body
}

async fn query(State(org): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let soql = q["q"].clone();
    let mut org = org.lock().unwrap();
    org.queries += 1;
    if soql == "SELECT COUNT() FROM OauthToken" {
        let n = org.rows.len() as u64 + org.count_skew;
        return Json(json!({"totalSize": n, "done": true, "records": []}));
    }
    let (head, limit) = soql.split_once(" LIMIT ").expect("LIMIT");
    let limit: usize = limit.parse().unwrap();
    let (head, order) = head.split_once(" ORDER BY ").expect("ORDER BY");
    let conds: Vec<String> = match head.split_once(" WHERE ") {
        Some((_, w)) => w.split(" AND ").map(str::to_owned).collect(),
        None => Vec::new(),
    };
    let mut rows: Vec<Row> = org
        .rows
        .iter()
        .filter(|r| conds.iter().all(|c| matches(r, c)))
        .cloned()
        .collect();
    match order {
        "CreatedDate" | "CreatedDate ASC" => rows.sort_by_key(|r| r.created),
        "CreatedDate DESC" => rows.sort_by_key(|r| std::cmp::Reverse(r.created)),
        "UserId" => rows.sort_by(|a, b| a.user.cmp(&b.user)),
        "Id" => rows.sort_by(|a, b| a.id.cmp(&b.id)),
        other => panic!("fake org cannot order by {other}"),
    }
    rows.truncate(limit);
    let total = rows.len();
    org.next_cursor += 1;
    let cursor = format!("01g{:06}", org.next_cursor);
    Json(page(&mut org, cursor, rows, 0, total))
}

async fn query_more(State(org): State<Shared>, Path(locator): Path<String>) -> Json<Value> {
    let mut org = org.lock().unwrap();
    org.queries += 1;
    let (cursor, offset) = locator.rsplit_once('-').unwrap();
    let rows = org.cursors.remove(cursor).expect("cursor");
    let total = rows.len();
    Json(page(
        &mut org,
        cursor.to_owned(),
        rows,
        offset.parse().unwrap(),
        total,
    ))
}

async fn fake_org(rows: Vec<Row>, count_skew: u64) -> (String, Shared) {
    let org: Shared = Arc::new(Mutex::new(Org {
        rows,
        count_skew,
        ..Org::default()
    }));
    let router = Router::new()
        .route("/services/data/v66.0/query", get(query))
        .route("/services/data/v66.0/query/{locator}", get(query_more))
        .with_state(org.clone());
    (common::serve(router).await, org)
}

fn rows(spread: usize, crowded_second: usize, crowded_user: usize) -> Vec<Row> {
    let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut out = Vec::new();
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("0CQ{n:015}")
    };
    for i in 0..spread {
        // Several tokens per second, milliseconds apart, so parts end mid-second.
        let t = t0 + TimeDelta::milliseconds((i as i64) * 250);
        out.push(Row {
            id: next_id(),
            created: t,
            user: format!("005{:015}", i % 37),
        });
    }
    let busy = t0 + TimeDelta::days(1);
    for i in 0..crowded_second {
        out.push(Row {
            id: next_id(),
            created: busy + TimeDelta::milliseconds((i % 1000) as i64),
            user: format!("005{:015}", i % 3),
        });
    }
    let busier = t0 + TimeDelta::days(2);
    for _ in 0..crowded_user {
        out.push(Row {
            id: next_id(),
            created: busier,
            user: "005000000000000999".into(),
        });
    }
    // Shuffle-ish: the server sorts, the order of insertion must not matter.
    out.reverse();
    out
}

/// Fetches the fake org of `all` completely and checks every row came once and every call was
/// counted; returns the fetch's figures, the org and how many rows it holds.
async fn fetch_every_row_once(all: Vec<Row>) -> (cockpit_salesforce::FetchStats, Shared, usize) {
    let expected: HashSet<String> = all.iter().map(|r| r.id.clone()).collect();
    let (base, org) = fake_org(all, 0).await;
    let client = common::fixed_client(&base, "tok");
    let (tokens, stats) = client.oauth_tokens_all().await.unwrap();
    let got: HashSet<String> = tokens.iter().map(|t| t.id.clone()).collect();
    assert_eq!(tokens.len(), expected.len(), "no duplicates");
    assert_eq!(got, expected);
    assert!(stats.complete);
    assert_eq!(stats.expected, Some(expected.len() as u64));
    assert_eq!(stats.received, expected.len() as u64);
    assert_eq!(stats.api_calls, org.lock().unwrap().queries);
    (stats, org, expected.len())
}

#[tokio::test]
async fn complete_fetch_returns_every_row_across_cap_and_crowded_seconds() {
    let (stats, _org, n) = fetch_every_row_once(rows(6_001, 7_400, 2_600)).await;
    // Splitting a crowded value re-reads the part that revealed it (5 pages).
    let pages_floor = (n as u64).div_ceil(500);
    assert!(
        stats.api_calls <= pages_floor + 5 * stats.parts,
        "{stats:?} (floor {pages_floor})"
    );
}

#[tokio::test]
async fn complete_fetch_of_ordinary_org_costs_about_one_call_per_500_rows() {
    let all = rows(12_345, 0, 0);
    let (base, org) = fake_org(all, 0).await;
    let client = common::fixed_client(&base, "tok");
    let (tokens, stats) = client.oauth_tokens_all().await.unwrap();
    assert_eq!(tokens.len(), 12_345);
    assert_eq!(stats.api_calls, org.lock().unwrap().queries);
    assert_eq!(org.lock().unwrap().max_open_cursors, 1, "one walk");
    let pages_floor = 12_345u64.div_ceil(500);
    assert!(
        stats.api_calls <= pages_floor + stats.parts + 3,
        "{stats:?} (floor {pages_floor})"
    );
    assert!(stats.parts <= 12_345u64.div_ceil(2_400) + 1, "{stats:?}");
}

/// A larger org is read as time slices walked at once: still every row once, crowded seconds
/// split as before, and about a partial part per slice beyond the single walk.
#[tokio::test]
async fn complete_fetch_of_a_large_org_walks_time_slices_at_once() {
    let (stats, org, n) = fetch_every_row_once(rows(60_000, 7_400, 2_600)).await;
    let single_walk_parts = (n as u64).div_ceil(2_500);
    // 70,000 tokens: 7 slices, each ending in a partial part (and the crowded seconds' splits).
    assert!(stats.parts > single_walk_parts, "{stats:?}");
    assert!(
        org.lock().unwrap().max_open_cursors > 1,
        "walks ran at once"
    );
    let pages_floor = (n as u64).div_ceil(500);
    assert!(
        stats.api_calls as f64 <= 1.1 * pages_floor as f64 + stats.parts as f64 + 10.0,
        "{stats:?} (floor {pages_floor})"
    );
}

#[tokio::test]
async fn complete_fetch_streams_and_reports_a_short_answer() {
    let all = rows(3_000, 0, 0);
    let (base, _org) = fake_org(all, 5).await;
    let client = common::fixed_client(&base, "tok");
    let mut stream = client.oauth_tokens_complete();
    let mut ok = 0u64;
    let mut last_err = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => ok += 1,
            Err(e) => last_err = Some(e),
        }
    }
    assert_eq!(ok, 3_000);
    assert!(
        matches!(
            last_err,
            Some(Error::Incomplete {
                expected: 3_005,
                got: 3_000
            })
        ),
        "{last_err:?}"
    );
    assert!(!stream.stats().complete);
    let err = client.oauth_tokens_all().await.unwrap_err();
    assert!(matches!(err, Error::Incomplete { .. }), "{err}");
}

#[tokio::test]
async fn plain_query_detects_the_silent_cap() {
    let (base, _org) = fake_org(rows(3_000, 0, 0), 0).await;
    let client = common::fixed_client(&base, "tok");
    let mut stream =
        client.query::<OauthToken>("SELECT Id FROM OauthToken ORDER BY CreatedDate LIMIT 3000");
    let mut ok = 0;
    let mut err = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => ok += 1,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(ok, 2_500);
    assert!(
        matches!(
            err,
            Some(Error::Incomplete {
                expected: 3_000,
                got: 2_500
            })
        ),
        "{err:?}"
    );
}
