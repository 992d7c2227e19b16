//! Prints sfsim's figures (no pass/fail): generation time and peak RSS at full
//! scale, and latency of serving a 500-row OauthToken page over loopback HTTP.
//! Run with `cargo bench -p sfsim`.

use std::time::{Duration, Instant};

use sfsim::{Sim, SimConfig};

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unavailable".into())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: n={} median={:.2?} p99={:.2?} min={:.2?} max={:.2?}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99),
        v[0],
        v[v.len() - 1]
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SimConfig {
        tokens: 1_000_000,
        users: 100_000,
        apps: 2_000,
        ..SimConfig::default()
    };
    println!(
        "sfsim bench: {} tokens / {} users / {} apps",
        config.tokens, config.users, config.apps
    );
    let t0 = Instant::now();
    let sim = Sim::new(config);
    let generation = t0.elapsed();
    println!("generation time: {generation:.2?} (target <= 10 s)");
    println!(
        "peak RSS after generation (VmHWM): {} (target <= 1 GiB)",
        vm_hwm()
    );
    println!("tokens generated: {}", sim.token_count());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let rs = sim.serve_on(listener).expect("serve");
        let http = reqwest::Client::new();
        let c = rs.credentials.clone();
        let tok: serde_json::Value = http
            .post(format!("{}/services/oauth2/token", rs.base_url))
            .form(&[("grant_type", "password"), ("username", c.username.as_str()), ("password", c.password.as_str()), ("client_id", c.client_id.as_str()), ("client_secret", c.client_secret.as_str())])
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let at = tok["access_token"].as_str().expect("token").to_string();
        let url = format!("{}/services/data/v64.0/query", rs.base_url);
        let fields = "Id, AppName, UseCount, LastUsedDate, CreatedDate, DeleteToken, UserId, User.Name, User.Profile.Name, AppMenuItem.ApplicationId";

        // Windows of CreatedDate across the org's history, as the cockpit's sync does.
        let now = rs.sim.now();
        let mut first_page = Vec::new();
        let mut rows = 0usize;
        for i in 0..300i64 {
            let lo = now - chrono::Duration::days(1000 - i * 3);
            let hi = lo + chrono::Duration::days(30);
            let soql = format!(
                "SELECT {fields} FROM OauthToken WHERE CreatedDate >= {} AND CreatedDate < {} ORDER BY CreatedDate LIMIT 500",
                lo.format("%Y-%m-%dT%H:%M:%SZ"),
                hi.format("%Y-%m-%dT%H:%M:%SZ")
            );
            let t = Instant::now();
            let body = http.get(&url).query(&[("q", soql.as_str())]).bearer_auth(&at).send().await.expect("send").bytes().await.expect("body");
            first_page.push(t.elapsed());
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            rows += v["records"].as_array().map(|a| a.len()).unwrap_or(0);
        }
        println!("average rows per page: {}", rows / 300);
        report("500-row OauthToken page (CreatedDate window query) latency", first_page);

        // nextRecordsUrl pages of an unfiltered query (the 500-row quirk pages).
        let mut more = Vec::new();
        for _ in 0..60 {
            let v: serde_json::Value = http
                .get(&url)
                .query(&[("q", format!("SELECT {fields} FROM OauthToken").as_str())])
                .bearer_auth(&at)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            let mut next = v["nextRecordsUrl"].as_str().map(str::to_string);
            while let Some(n) = next {
                let t = Instant::now();
                let body = http.get(format!("{}{n}", rs.base_url)).bearer_auth(&at).send().await.expect("send").bytes().await.expect("body");
                more.push(t.elapsed());
                let page: serde_json::Value = serde_json::from_slice(&body).expect("json");
                next = page["nextRecordsUrl"].as_str().map(str::to_string);
            }
        }
        report("500-row OauthToken nextRecordsUrl page latency", more);

        let mut by_user = Vec::new();
        let users: serde_json::Value = http
            .get(&url)
            .query(&[("q", "SELECT Id FROM User LIMIT 2000")])
            .bearer_auth(&at)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let ids: Vec<String> = users["records"].as_array().expect("records").iter().map(|u| format!("'{}'", u["Id"].as_str().unwrap_or(""))).collect();
        for chunk in ids.chunks(100) {
            let soql = format!("SELECT {fields} FROM OauthToken WHERE UserId IN ({})", chunk.join(","));
            let t = Instant::now();
            let _ = http.get(&url).query(&[("q", soql.as_str())]).bearer_auth(&at).send().await.expect("send").bytes().await;
            by_user.push(t.elapsed());
        }
        report("OauthToken WHERE UserId IN (100 users) first page latency", by_user);
        println!("peak RSS at end (VmHWM): {}", vm_hwm());
    });
}
