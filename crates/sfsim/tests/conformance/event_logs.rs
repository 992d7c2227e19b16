//! Login and ApiTotalUsage event log files, app networks and staged attacks.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sfsim::{AttackSpec, DEFAULT_ATTACK_IPS, DEFAULT_ATTACK_USER_AGENTS, SimConfig};

use crate::{T, V, start};

const LOGIN_HEADER: &str = "\"EVENT_TYPE\",\"TIMESTAMP\",\"REQUEST_ID\",\"ORGANIZATION_ID\",\"USER_ID\",\"RUN_TIME\",\"CPU_TIME\",\"URI\",\"SESSION_KEY\",\"LOGIN_KEY\",\"USER_TYPE\",\"REQUEST_STATUS\",\"DB_TOTAL_TIME\",\"LOGIN_TYPE\",\"BROWSER_TYPE\",\"API_TYPE\",\"API_VERSION\",\"USER_NAME\",\"TLS_PROTOCOL\",\"CIPHER_SUITE\",\"AUTHENTICATION_METHOD_REFERENCE\",\"LOGIN_SUB_TYPE\",\"TIMESTAMP_DERIVED\",\"USER_ID_DERIVED\",\"CLIENT_IP\",\"URI_ID_DERIVED\",\"LOGIN_STATUS\",\"SOURCE_IP\"";

struct File {
    log_date: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl File {
    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|c| c == name).expect(name)
    }
}

/// Every file of an event type, downloaded; checks LogFileLength on the way.
async fn files(t: &T, event_type: &str) -> Vec<File> {
    let v = t
        .query_ok(&format!("SELECT Id, LogDate, LogFileLength, Interval, LogFileFieldNames FROM EventLogFile WHERE EventType = '{event_type}' ORDER BY LogDate"))
        .await;
    let mut out = Vec::new();
    for rec in v["records"].as_array().unwrap() {
        assert_eq!(rec["Interval"], "Daily");
        let id = rec["Id"].as_str().unwrap();
        let body = t
            .get(&format!("{V}/sobjects/EventLogFile/{id}/LogFile"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len(), rec["LogFileLength"].as_f64().unwrap() as usize);
        let mut r = csv::Reader::from_reader(&body[..]);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header.join(","), rec["LogFileFieldNames"].as_str().unwrap());
        let rows = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        out.push(File {
            log_date: rec["LogDate"].as_str().unwrap().to_string(),
            header,
            rows,
        });
    }
    out
}

#[tokio::test]
async fn login_files_are_listed_and_downloadable() {
    let t = start(SimConfig::default()).await;
    let v = t
        .query_ok("SELECT Id, EventType, LogDate, LogFileLength, LogFile, LogFileFieldTypes FROM EventLogFile WHERE EventType = 'Login' AND LogDate = LAST_N_DAYS:7")
        .await;
    assert_eq!(v["totalSize"], 7);
    assert!(
        v["records"][0]["LogFileFieldTypes"]
            .as_str()
            .unwrap()
            .ends_with(",IP")
    );
    let all = t.query_ok("SELECT COUNT() FROM EventLogFile").await;
    assert_eq!(
        all["totalSize"], 14,
        "a Login and an ApiTotalUsage file per day"
    );
    let path = v["records"][0]["LogFile"].as_str().unwrap();
    let csv = t.get(path).await.text().await.unwrap();
    assert_eq!(csv.lines().next().unwrap(), LOGIN_HEADER);
    let logins = files(&t, "Login").await;
    let f = &logins[0];
    let types: HashSet<&str> = f
        .rows
        .iter()
        .map(|r| r[f.col("LOGIN_TYPE")].as_str())
        .collect();
    assert!(types.contains("i") && types.contains("A"), "{types:?}");
    assert!(
        f.rows
            .iter()
            .any(|r| r[f.col("CLIENT_IP")] == "Salesforce.com IP")
    );
}

/// An integration app calls from at most 3 networks with one user agent;
/// a people's app from many networks.
#[tokio::test]
async fn integration_and_people_apps_call_from_their_networks() {
    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let api = files(&t, "ApiTotalUsage").await;
    let logins = files(&t, "Login").await;
    let names: Vec<String> = t
        .json("/_sim/apps")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    let (mut integ_seen, mut people_seen) = (0, 0);
    for name in names {
        let tr = t.rs.sim.app_traffic(&name).unwrap();
        let mut nets = HashSet::new();
        let mut ips = HashSet::new();
        for f in &api {
            for r in f
                .rows
                .iter()
                .filter(|r| r[f.col("CONNECTED_APP_NAME")] == name)
            {
                let ip: std::net::IpAddr = r[f.col("CLIENT_IP")].parse().unwrap();
                ips.insert(ip.to_string());
                nets.insert(match ip {
                    std::net::IpAddr::V4(v) => format!("{:?}", &v.octets()[..3]),
                    std::net::IpAddr::V6(v) => format!("{:?}", &v.segments()[..3]),
                });
            }
        }
        if ips.is_empty() {
            continue;
        }
        if tr.integration {
            integ_seen += 1;
            assert!(nets.len() <= 3, "{name}: {nets:?}");
            let ua = tr.user_agent.clone().unwrap();
            let mut uas = HashSet::new();
            for f in &logins {
                for r in f
                    .rows
                    .iter()
                    .filter(|r| ips.contains(&r[f.col("SOURCE_IP")]))
                {
                    uas.insert(r[f.col("BROWSER_TYPE")].clone());
                }
            }
            assert_eq!(uas, HashSet::from([ua]), "{name}");
        } else if ips.len() > 30 {
            people_seen += 1;
            assert!(nets.len() > 10, "{name}: {nets:?}");
        }
    }
    assert!(
        integ_seen > 0 && people_seen > 0,
        "{integ_seen} {people_seen}"
    );
}

fn attacker_rows<'a>(f: &'a File, ip_col: &str, ips: &HashSet<String>) -> Vec<&'a Vec<String>> {
    let c = f.col(ip_col);
    f.rows.iter().filter(|r| ips.contains(&r[c])).collect()
}

fn in_window(ts: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let t = DateTime::parse_from_rfc3339(ts)
        .unwrap()
        .with_timezone(&Utc);
    from <= t && t < to
}

#[tokio::test]
async fn staged_attack_lands_in_the_window_of_generated_days() {
    let t = start(SimConfig::default()).await;
    let app = "Drift";
    assert!(t.rs.sim.tokens_for_app(app) > 0);
    let today =
        t.rs.sim
            .now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
    let from = today - Duration::days(3) + Duration::hours(10);
    let to = from + Duration::hours(4);
    let before = files(&t, "ApiTotalUsage").await;
    let summary =
        t.rs.sim
            .stage_attack(AttackSpec {
                app: app.into(),
                from,
                to,
                ips: vec![],
                user_agents: vec![],
                requests: Some(95),
            })
            .unwrap();
    assert_eq!(summary.api_total_usage_rows, 95);
    assert_eq!(summary.login_rows, 10);
    assert_eq!(summary.files_updated, 2);
    assert!(!summary.users.is_empty() && summary.users.len() <= 3);
    let ips: HashSet<String> = DEFAULT_ATTACK_IPS.iter().map(|s| s.to_string()).collect();
    let uas: HashSet<String> = DEFAULT_ATTACK_USER_AGENTS
        .iter()
        .map(|s| s.to_string())
        .collect();

    let api = files(&t, "ApiTotalUsage").await;
    let mut n = 0;
    let mut resources = HashSet::new();
    for (f, old) in api.iter().zip(&before) {
        let rows = attacker_rows(f, "CLIENT_IP", &ips);
        for r in &rows {
            assert!(in_window(&r[f.col("TIMESTAMP_DERIVED")], from, to), "{r:?}");
            assert_eq!(r[f.col("CONNECTED_APP_NAME")], app);
            resources.insert(format!(
                "{} {}",
                r[f.col("HTTP_METHOD")],
                r[f.col("API_RESOURCE")]
            ));
        }
        n += rows.len();
        // The file's own rows are still there, in time order.
        assert_eq!(f.rows.len(), old.rows.len() + rows.len(), "{}", f.log_date);
        let ts: Vec<&String> = f.rows.iter().map(|r| &r[1]).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    }
    assert_eq!(n, 95);
    for r in [
        "GET /v58.0/sobjects/",
        "GET /v58.0/sobjects/Case/describe/",
        "GET /v58.0/query",
        "GET /v58.0/limits/",
        "POST /v58.0/jobs/query",
        "DELETE /v58.0/jobs/query/{id}",
    ] {
        assert!(resources.contains(r), "{r} in {resources:?}");
    }
    let logins = files(&t, "Login").await;
    let mut n = 0;
    for f in &logins {
        for r in attacker_rows(f, "SOURCE_IP", &ips) {
            assert!(in_window(&r[f.col("TIMESTAMP_DERIVED")], from, to));
            assert_eq!(r[f.col("LOGIN_SUB_TYPE")], "OauthRefreshToken");
            assert_eq!(r[f.col("LOGIN_TYPE")], "i");
            assert!(uas.contains(&r[f.col("BROWSER_TYPE")]));
            assert!(summary.users.contains(&r[f.col("USER_NAME")]));
            n += 1;
        }
    }
    assert_eq!(n, 10);
    let lh = t
        .query_ok(&format!(
            "SELECT SourceIp, Application, LoginType, LoginSubType, Status FROM LoginHistory WHERE LoginTime >= {} AND LoginTime < {}",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    let hits: Vec<&Value> = lh["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| ips.contains(r["SourceIp"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(hits.len(), 10);
    for r in hits {
        assert_eq!(r["Application"], app);
        assert_eq!(r["LoginType"], "Remote Access 2.0");
        assert_eq!(r["LoginSubType"], "OauthRefreshToken");
        assert_eq!(r["Status"], "Success");
    }
    let err = t.rs.sim.stage_attack(AttackSpec {
        app: "No Such App".into(),
        from,
        to,
        ips: vec![],
        user_agents: vec![],
        requests: None,
    });
    assert!(err.unwrap_err().starts_with("unknown app"));
}

#[tokio::test]
async fn attack_over_http_reaches_days_generated_later() {
    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let now = t.rs.sim.now();
    let from = now - Duration::hours(1);
    let to = now + Duration::hours(30);
    let r = t
        .http
        .post(t.url("/_sim/attack"))
        .json(&json!({"app": "Drift", "from": from.to_rfc3339(), "to": to.to_rfc3339(),
            "ips": ["203.0.113.66", "2001:db8::66"], "user_agents": ["curl/8.5.0"], "requests": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["api_total_usage_rows"], 30);
    assert_eq!(s["files_updated"], 0, "today's files do not exist yet");
    let r = t
        .http
        .post(t.url("/_sim/attack"))
        .json(&json!({"app": "No Such App", "from": from.to_rfc3339(), "to": to.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let ips: HashSet<String> = ["203.0.113.66", "2001:db8::66"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let count = |fs: &[File], col: &str| -> usize {
        fs.iter().map(|f| attacker_rows(f, col, &ips).len()).sum()
    };
    assert_eq!(count(&files(&t, "ApiTotalUsage").await, "CLIENT_IP"), 0);
    t.rs.sim.advance_clock(Duration::days(3));
    let api = files(&t, "ApiTotalUsage").await;
    assert_eq!(count(&api, "CLIENT_IP"), 30);
    for f in &api {
        for r in attacker_rows(f, "CLIENT_IP", &ips) {
            assert!(in_window(&r[f.col("TIMESTAMP_DERIVED")], from, to));
        }
    }
    let logins = files(&t, "Login").await;
    assert_eq!(count(&logins, "SOURCE_IP"), 3);
    for f in &logins {
        for r in attacker_rows(f, "SOURCE_IP", &ips) {
            assert_eq!(r[f.col("BROWSER_TYPE")], "curl/8.5.0");
        }
    }
}
