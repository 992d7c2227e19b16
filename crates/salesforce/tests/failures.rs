//! Every bad answer is a typed error: ad-hoc servers for what the simulator cannot produce.

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cockpit_salesforce::{
    AccessToken, Error, HttpSettings, OAuthClient, OAuthConfig, Result, SecretString,
    TokenProvider, User,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;
use url::Url;

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn limits_body() -> serde_json::Value {
    json!({"DailyApiRequests": {"Max": 100, "Remaining": 20}})
}

#[tokio::test]
async fn unreachable_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = common::fixed_client(&format!("http://127.0.0.1:{port}"), "t");
    let err = client.limits().await.unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { ref host } if host == &format!("127.0.0.1:{port}")),
        "{err:?}"
    );
}

#[tokio::test]
async fn html_login_page_instead_of_json() {
    let html =
        "<html><head><title>Login | Salesforce</title></head><body>Please log in</body></html>";
    let router = Router::new()
        .route(
            "/services/data/v66.0/limits",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html;charset=UTF-8")], html) }),
        )
        .route(
            "/services/oauth2/token",
            post(move || async move { ([(header::CONTENT_TYPE, "text/html")], html) }),
        );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    let err = client.limits().await.unwrap_err();
    match &err {
        Error::NotJson {
            status,
            content_type,
            snippet,
        } => {
            assert_eq!(*status, 200);
            assert!(content_type.starts_with("text/html"));
            assert!(snippet.contains("Login | Salesforce"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("expected JSON"));

    let oauth = OAuthClient::new(OAuthConfig::new(Url::parse(&base).unwrap(), "cid")).unwrap();
    let err = oauth.refresh(&SecretString::from("RT")).await.unwrap_err();
    assert!(matches!(err, Error::NotJson { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_failure() {
    // A plain-HTTP server answering a TLS ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let https = format!("https://{addr}");
    let client = common::fixed_client(&https, "t");
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn body_cut_off_mid_transfer() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    let base =
        common::serve_raw(format!("{head}{{\"DailyApiRequests\":{{\"Max\"").into_bytes()).await;
    let client = common::fixed_client(&base, "t");
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
}

#[tokio::test]
async fn truncated_json_with_complete_transfer() {
    let body = r#"{"DailyApiRequests":{"Max":100,"#;
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let base = common::serve_raw(resp.into_bytes()).await;
    let client = common::fixed_client(&base, "t");
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
}

#[tokio::test]
async fn overall_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // never answer
        }
    });
    let mut config = common::fast_config();
    config.http = HttpSettings {
        timeout: Duration::from_millis(300),
        ..HttpSettings::default()
    };
    let client = cockpit_salesforce::SalesforceClient::new(
        config,
        Url::parse(&format!("http://{addr}")).unwrap(),
        Arc::new(cockpit_salesforce::InMemoryTokenProvider::fixed(
            AccessToken::new("t"),
        )),
    )
    .unwrap();
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn foreign_next_records_url_is_refused() {
    let router = Router::new().route(
        "/services/data/v66.0/query",
        get(|| async {
            json_response(
                StatusCode::OK,
                json!({"totalSize": 2, "done": false,
                       "nextRecordsUrl": "https://evil.example/services/data/v66.0/query/01g-1",
                       "records": [{"Id": "0051", "Username": "a@x", "IsActive": true}]}),
            )
        }),
    );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    let mut s = client.query::<User>("SELECT Id, Username, IsActive FROM User");
    let err = s.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::ForeignNextRecordsUrl { ref url } if url.contains("evil.example")),
        "{err:?}"
    );
}

/// Issues "old" first; refresh hands out "new".
struct CountingProvider {
    current: Mutex<AccessToken>,
    refreshes: AtomicU32,
}

impl TokenProvider for CountingProvider {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move { Ok(self.current.lock().unwrap().clone()) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a AccessToken) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            let t = AccessToken::new(format!("new{n}"));
            *self.current.lock().unwrap() = t.clone();
            Ok(t)
        })
    }
}

fn counting() -> Arc<CountingProvider> {
    Arc::new(CountingProvider {
        current: Mutex::new(AccessToken::new("old")),
        refreshes: AtomicU32::new(0),
    })
}

fn invalid_session() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
    )
}

#[tokio::test]
async fn refresh_once_on_expired_session() {
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(|headers: HeaderMap| async move {
            if headers[header::AUTHORIZATION] == "Bearer new1" {
                json_response(StatusCode::OK, limits_body())
            } else {
                invalid_session()
            }
        }),
    );
    let base = common::serve(router).await;
    let provider = counting();
    let client = common::client_with(&base, provider.clone());
    let limits = client.limits().await.unwrap();
    assert_eq!(limits["DailyApiRequests"].max, 100);
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(client.request_count(), 2);
}

#[tokio::test]
async fn refresh_only_once_then_fail() {
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(|| async { invalid_session() }),
    );
    let base = common::serve(router).await;
    let provider = counting();
    let client = common::client_with(&base, provider.clone());
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::InvalidSession), "{err:?}");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(client.request_count(), 2);
}

fn limit_exceeded() -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
    )
}

#[tokio::test]
async fn request_limit_exceeded_backs_off_then_succeeds() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    limit_exceeded()
                } else {
                    json_response(StatusCode::OK, limits_body())
                }
            }
        }),
    );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    client.limits().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn request_limit_exceeded_gives_up_after_retries() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { limit_exceeded() }
        }),
    );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    let err = client.limits().await.unwrap_err();
    assert!(
        matches!(err, Error::RequestLimitExceeded { attempts: 3 }),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn server_error_on_get_is_retried() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!([{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}]),
                    )
                } else {
                    json_response(StatusCode::OK, limits_body())
                }
            }
        }),
    );
    let base = common::serve(router).await;
    common::fixed_client(&base, "t").limits().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn budget_pauses_calls_and_reports_usage() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(move || {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                let usage = if n == 0 {
                    "api-usage=70/100"
                } else {
                    "api-usage=80/100"
                };
                let mut r = json_response(StatusCode::OK, limits_body());
                r.headers_mut()
                    .insert("Sforce-Limit-Info", usage.parse().unwrap());
                r
            }
        }),
    );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    let mut usage = client.subscribe_usage();
    client.limits().await.unwrap();
    assert_eq!(usage.borrow_and_update().as_ref().unwrap().used, 70);
    client.limits().await.unwrap();
    assert!(usage.has_changed().unwrap());
    assert_eq!(client.api_usage().unwrap().used, 80);
    let err = client.limits().await.unwrap_err();
    assert!(
        matches!(err, Error::BudgetPaused { used: 80, max: 100 }),
        "{err:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a paused call sends nothing"
    );
}

#[tokio::test]
async fn token_endpoint_redirect_is_not_followed() {
    let followed = Arc::new(AtomicU64::new(0));
    let f = followed.clone();
    let router = Router::new()
        .route(
            "/services/oauth2/token",
            post(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "/elsewhere?secret=1")],
                )
            }),
        )
        .route(
            "/elsewhere",
            post(move || {
                f.fetch_add(1, Ordering::SeqCst);
                async { "" }
            })
            .get(|| async { "" }),
        );
    let base = common::serve(router).await;
    let mut cfg = OAuthConfig::new(Url::parse(&base).unwrap(), "cid");
    cfg.client_secret = Some(SecretString::from("CLIENT-SECRET"));
    let oauth = OAuthClient::new(cfg).unwrap();
    let err = oauth.client_credentials().await.unwrap_err();
    match &err {
        Error::UnexpectedRedirect { status, location } => {
            assert_eq!(*status, 302);
            assert_eq!(location, "/elsewhere");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(followed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn token_endpoint_errors_are_typed() {
    let router = Router::new().route(
        "/services/oauth2/token",
        post(|body: String| async move {
            let (code, desc) = if body.contains("refresh_token=gone") {
                ("invalid_grant", "expired access/refresh token")
            } else if body.contains("grant_type=client_credentials") {
                ("app_blocked", "this app is blocked by admin")
            } else {
                ("invalid_client_id", "client identifier invalid")
            };
            json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": code, "error_description": desc}),
            )
        }),
    );
    let base = common::serve(router).await;
    let mut cfg = OAuthConfig::new(Url::parse(&base).unwrap(), "cid");
    cfg.client_secret = Some(SecretString::from("CLIENT-SECRET"));
    let oauth = OAuthClient::new(cfg).unwrap();
    let e = oauth
        .refresh(&SecretString::from("gone"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NeedsReauthorization { .. }), "{e:?}");
    assert!(e.needs_reauthorization());
    let e = oauth.client_credentials().await.unwrap_err();
    assert!(matches!(e, Error::AppBlocked { .. }), "{e:?}");
    let e = oauth
        .refresh(&SecretString::from("other"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidClient { .. }), "{e:?}");
    assert!(!format!("{e:?} {e}").contains("CLIENT-SECRET"));
}

#[tokio::test]
async fn open_cursors_are_limited() {
    // A two-page query: the first page leaves the cursor open.
    let router = Router::new()
        .route(
            "/services/data/v66.0/query",
            get(|| async {
                json_response(
                    StatusCode::OK,
                    json!({"totalSize": 2, "done": false,
                           "nextRecordsUrl": "/services/data/v66.0/query/01g-1",
                           "records": [{"Id": "0051", "Username": "a@x", "IsActive": true}]}),
                )
            }),
        )
        .route(
            "/services/data/v66.0/query/{locator}",
            get(|| async {
                json_response(
                    StatusCode::OK,
                    json!({"totalSize": 2, "done": true,
                           "records": [{"Id": "0052", "Username": "b@x", "IsActive": true}]}),
                )
            }),
        );
    let base = common::serve(router).await;
    let mut config = common::fast_config();
    config.max_cursors = 1;
    let client = cockpit_salesforce::SalesforceClient::new(
        config,
        Url::parse(&base).unwrap(),
        Arc::new(cockpit_salesforce::InMemoryTokenProvider::fixed(
            AccessToken::new("t"),
        )),
    )
    .unwrap();
    let soql = "SELECT Id, Username, IsActive FROM User";
    let mut first = client.query_pages::<User>(soql);
    assert_eq!(first.next().await.unwrap().unwrap().records.len(), 1);
    // The only cursor is held by `first`: a second query cannot start.
    let mut second = client.query_pages::<User>(soql);
    assert!(futures::FutureExt::now_or_never(second.next()).is_none());
    // (Semaphores are fair: a queued query gets the next free cursor, so drop it.)
    drop(second);
    // Finishing the first query frees it.
    let last = first.next().await.unwrap().unwrap();
    assert!(last.done);
    assert!(first.next().await.is_none());
    let mut third = client.query_pages::<User>(soql);
    assert_eq!(third.next().await.unwrap().unwrap().records.len(), 1);
    drop(third);
    let all: Vec<User> = client.query_vec(soql).await.unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn requests_identify_the_cockpit() {
    let router = Router::new().route(
        "/services/data/v66.0/limits",
        get(|headers: HeaderMap| async move {
            let ok = headers[header::USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("oauth-cockpit/")
                && headers["sforce-call-options"] == "client=oauth-cockpit"
                && headers[header::AUTHORIZATION] == "Bearer tok"
                && headers[header::ACCEPT] == "application/json"
                && headers[header::ACCEPT_ENCODING]
                    .to_str()
                    .unwrap()
                    .contains("gzip");
            if ok {
                json_response(StatusCode::OK, limits_body())
            } else {
                json_response(
                    StatusCode::BAD_REQUEST,
                    json!([{"errorCode": "BAD_HEADERS", "message": format!("{headers:?}")}]),
                )
            }
        }),
    );
    let base = common::serve(router).await;
    common::fixed_client(&base, "tok").limits().await.unwrap();
}

#[tokio::test]
async fn gzip_event_log_is_streamed_into_rows() {
    use std::io::Write;
    let mut csv = String::from(
        "\"EVENT_TYPE\",\"TIMESTAMP_DERIVED\",\"USER_ID\",\"CONNECTED_APP_ID\",\"CONNECTED_APP_NAME\",\"API_FAMILY\",\"STATUS_CODE\"\n",
    );
    for i in 0..5_000 {
        csv.push_str(&format!(
            "\"ApiTotalUsage\",\"2026-09-15T12:34:56.789Z\",\"0055g00000AbCdE\",\"0H45g000000Abc{}\",\"App {}\",\"REST\",\"{}\"\n",
            i % 7,
            i % 7,
            if i % 10 == 0 { 401 } else { 200 }
        ));
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(csv.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let router = Router::new()
        .route(
            "/services/data/v66.0/query",
            get(|| async {
                json_response(
                    StatusCode::OK,
                    json!({"totalSize": 1, "done": true, "records": [{
                        "attributes": {"type": "EventLogFile"},
                        "Id": "0AT1", "EventType": "ApiTotalUsage",
                        "LogDate": "2026-09-15T00:00:00.000+0000", "Interval": "Daily",
                        "LogFileLength": 2692.0,
                        "LogFile": "/services/data/v66.0/sobjects/EventLogFile/0AT1/LogFile"}]}),
                )
            }),
        )
        .route(
            "/services/data/v66.0/sobjects/EventLogFile/0AT1/LogFile",
            get(move |headers: HeaderMap| {
                let gz = gz.clone();
                async move {
                    assert!(
                        headers[header::ACCEPT_ENCODING]
                            .to_str()
                            .unwrap()
                            .contains("gzip")
                    );
                    (
                        [
                            (header::CONTENT_TYPE, "text/csv"),
                            (header::CONTENT_ENCODING, "gzip"),
                        ],
                        gz,
                    )
                }
            }),
        );
    let base = common::serve(router).await;
    let client = common::fixed_client(&base, "t");
    let files = client.event_log_files("ApiTotalUsage", 7).await.unwrap();
    assert_eq!(files.len(), 1);
    let records: Vec<csv::ByteRecord> = client
        .event_log_records(&files[0])
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    let rows = &records[1..];
    assert_eq!(rows.len(), 5_000);
    assert_eq!(rows.iter().filter(|r| &r[6] == b"401").count(), 500);
    assert_eq!(&rows[3][4], b"App 3");
    assert!(client.event_log_files("Api'Total", 7).await.is_err());
}

#[tokio::test]
async fn concurrent_401s_share_one_refresh() {
    let refreshes = Arc::new(AtomicU64::new(0));
    let r = refreshes.clone();
    let router = Router::new()
        .route(
            "/services/oauth2/token",
            post(move |headers: HeaderMap| {
                let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let host = headers[header::HOST].to_str().unwrap().to_owned();
                    json_response(
                        StatusCode::OK,
                        json!({"access_token": format!("new{n}"), "instance_url": format!("http://{host}"),
                               "token_type": "Bearer", "issued_at": "1790000000000"}),
                    )
                }
            }),
        )
        .route(
            "/services/data/v66.0/limits",
            get(|headers: HeaderMap| async move {
                if headers[header::AUTHORIZATION] == "Bearer new1" {
                    json_response(StatusCode::OK, limits_body())
                } else {
                    invalid_session()
                }
            }),
        );
    let base = common::serve(router).await;
    let oauth = OAuthClient::new(OAuthConfig::new(Url::parse(&base).unwrap(), "cid")).unwrap();
    let provider = Arc::new(cockpit_salesforce::InMemoryTokenProvider::new(
        oauth,
        Some(AccessToken::new("old")),
        cockpit_salesforce::Renewal::RefreshToken(SecretString::from("RT")),
    ));
    let client = common::client_with(&base, provider.clone());
    let calls = (0..8).map(|_| {
        let c = client.clone();
        async move { c.limits().await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(provider.refresh_count().await, 1);
}
