//! Conformance tests: drive the real HTTP server with reqwest, as a client would.

mod binary;
mod connect_eca;
mod event_logs;
mod faults;
mod metadata_block;
mod oauth_flows;
mod rest_query;
mod second_client;

use reqwest::StatusCode;
use serde_json::Value;
use sfsim::{RunningSim, Sim, SimConfig};

pub struct T {
    pub rs: RunningSim,
    pub http: reqwest::Client,
    pub token: String,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn start(cfg: SimConfig) -> T {
    let rs = Sim::spawn(cfg).await.expect("spawn");
    let http = client();
    let c = rs.credentials.clone();
    let tok = password_login(
        &http,
        &rs.base_url,
        &c.username,
        &c.password,
        &c.client_id,
        &c.client_secret,
    )
    .await;
    let token = tok["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    T { rs, http, token }
}

pub async fn start_default() -> T {
    start(SimConfig::default()).await
}

pub async fn password_login(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    pw: &str,
    cid: &str,
    secret: &str,
) -> Value {
    let r = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("client_id", cid),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

pub const V: &str = "/services/data/v64.0";

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.rs.base_url, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("send")
    }

    /// An unauthenticated GET answered with JSON (control and discovery endpoints).
    pub async fn json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("JSON")
    }

    pub async fn query_as(&self, token: &str, soql: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(&format!("{V}/query")))
            .query(&[("q", soql)])
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let s = r.status();
        (s, r.json().await.expect("json body"))
    }

    pub async fn query(&self, soql: &str) -> (StatusCode, Value) {
        self.query_as(&self.token, soql).await
    }

    pub async fn query_ok(&self, soql: &str) -> Value {
        let (s, v) = self.query(soql).await;
        assert_eq!(s, StatusCode::OK, "{soql}: {v}");
        v
    }

    /// Follows nextRecordsUrl to the end; returns (first page, all records, page sizes).
    pub async fn query_all_pages(&self, soql: &str) -> (Value, Vec<Value>, Vec<usize>) {
        let first = self.query_ok(soql).await;
        let mut records: Vec<Value> = first["records"].as_array().cloned().unwrap_or_default();
        let mut sizes = vec![records.len()];
        let mut next = first["nextRecordsUrl"].as_str().map(str::to_string);
        while let Some(n) = next {
            let page: Value = self.get(&n).await.json().await.expect("page");
            let recs = page["records"].as_array().cloned().unwrap_or_default();
            sizes.push(recs.len());
            records.extend(recs);
            next = page["nextRecordsUrl"].as_str().map(str::to_string);
        }
        (first, records, sizes)
    }
}

/// Asserts a Salesforce REST error array with the given code.
pub fn assert_rest_error(status: StatusCode, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    let arr = body
        .as_array()
        .unwrap_or_else(|| panic!("error body must be an array: {body}"));
    assert_eq!(arr[0]["errorCode"], code, "{body}");
    assert!(arr[0]["message"].is_string(), "{body}");
}
