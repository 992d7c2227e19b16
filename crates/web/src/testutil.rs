//! Test support: seed an org (precise rows through the real sync merge, or a
//! simulated org through the real connect and sync), drive the real router,
//! and read the HTML with CSS selectors.

use std::sync::Arc;

use axum::{body::Body, http::Request};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cockpit_db::sync::{
    StagedApp, StagedLogins, StagedToken, StagedUsage, StagedUser, SyncConn, start_run,
};
use cockpit_domain::secret::{Keyring, MasterKey};
use http::{HeaderMap, StatusCode};
use scraper::{Html, Selector};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crate::{AppState, router};

pub const HOSTILE: &str = "<script>alert(1)</script>";
pub const RTL: &str = "\u{202E}nhoJ";
pub const FORMULA: &str = "=cmd|' /C calc'!A0";

pub fn user(id: &str, name: &str, active: bool) -> StagedUser {
    StagedUser {
        id: id.into(),
        username: format!("{}@acme.example", id.to_lowercase()),
        name: name.into(),
        email: Some(format!("{}@mail.example", id.to_lowercase())),
        is_active: active,
        user_type: Some("Standard".into()),
        profile: Some("Standard User".into()),
        department: None,
        manager_id: None,
        manager_name: None,
        last_login_at: None,
        created_at: None,
        deactivated_at: (!active).then(|| Utc::now() - Duration::days(10)),
    }
}

pub fn app(key: &str, name: &str, kind: &'static str, installed: bool, refresh: &str) -> StagedApp {
    StagedApp {
        app_key: key.into(),
        kind,
        sf_app_id: (kind != "unknown").then(|| key.into()),
        name: name.into(),
        installed,
        menu_item_id: None,
        consumer_key: None,
        admin_approved_only: Some(false),
        refresh_policy: (!refresh.is_empty()).then(|| refresh.into()),
        ip_relaxation: None,
        permitted_users: Some("all_self_authorized".into()),
    }
}

pub fn token(
    id: &str,
    app: &StagedApp,
    user: &str,
    last_used_days: Option<i64>,
    uses: i64,
) -> StagedToken {
    StagedToken {
        id: id.into(),
        app_key: app.app_key.clone(),
        user_id: user.into(),
        app_name: app.name.clone(),
        created_at: Some(Utc::now() - Duration::days(400)),
        last_used_at: last_used_days.map(|d| Utc::now() - Duration::days(d) - Duration::minutes(5)),
        use_count: Some(uses),
    }
}

#[derive(Default, Clone)]
pub struct Snapshot {
    pub users: Vec<StagedUser>,
    pub apps: Vec<StagedApp>,
    pub tokens: Vec<StagedToken>,
    pub usage: Vec<StagedUsage>,
    pub logins: Vec<StagedLogins>,
}

pub async fn new_org(pool: &PgPool, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO orgs (id, name, login_url) VALUES ($1, $2, 'https://login.salesforce.com')",
        id,
        name
    )
    .execute(pool)
    .await
    .unwrap();
    id
}

/// Stores a snapshot through the sync's own staging and merge.
pub async fn sync_at(pool: &PgPool, org: Uuid, s: &Snapshot, now: DateTime<Utc>) {
    let run = start_run(pool, org, "cli").await.unwrap();
    let mut conn = SyncConn::open(pool, org).await.unwrap().expect("lock free");
    conn.stage_users(&s.users).await.unwrap();
    conn.stage_apps(&s.apps).await.unwrap();
    conn.stage_tokens(&s.tokens).await.unwrap();
    conn.stage_usage(&s.usage).await.unwrap();
    conn.stage_logins(&s.logins).await.unwrap();
    conn.merge(run, now, &cockpit_db::sync::MergeRules::default())
        .await
        .unwrap();
    conn.close().await;
}

pub async fn sync(pool: &PgPool, org: Uuid, s: &Snapshot) {
    sync_at(pool, org, s, Utc::now()).await;
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The standard small org: 3 apps (one hostile name, one formula name, one
/// uninstalled), 5 users (one hostile, one RTL, two deactivated), 4 tokens
/// of which 2 are stale and 2 are held by deactivated users.
pub fn standard() -> Snapshot {
    let a = app(
        "0H4A",
        "Data Loader",
        "connected_app",
        true,
        "valid_until_revoked",
    );
    let b = app(
        "0xIB",
        HOSTILE,
        "external_client_app",
        true,
        "expires_after_30",
    );
    let c = app("name:Legacy", FORMULA, "unknown", false, "");
    Snapshot {
        users: vec![
            user("005A", "Alice Smith", true),
            user("005B", "Bob \"quoted\" O'Neil", true),
            user("005C", "Carol Jones", false),
            user("005D", RTL, true),
            user("005E", HOSTILE, false),
        ],
        tokens: vec![
            token("0CQ1", &a, "005A", Some(1), 500),
            token("0CQ2", &a, "005C", Some(200), 3),
            token("0CQ3", &b, "005D", Some(0), 10),
            token("0CQ4", &c, "005E", None, 0),
        ],
        usage: vec![
            StagedUsage {
                app_key: a.app_key.clone(),
                day: today(),
                requests: 100,
                errors: 5,
                by_status: serde_json::json!({"200": 95, "500": 5}),
            },
            StagedUsage {
                app_key: a.app_key.clone(),
                day: today() - Duration::days(1),
                requests: 50,
                errors: 0,
                by_status: serde_json::json!({"200": 50}),
            },
        ],
        logins: vec![StagedLogins {
            app_name: a.name.clone(),
            day: today(),
            successes: 3,
            failures: 1,
        }],
        apps: vec![a, b, c],
    }
}

/// An inventory entry, saved as the inventory form saves it.
pub async fn inventory(pool: &PgPool, name: &str, consumer_key: Option<&str>, status: &str) {
    let entry = cockpit_domain::inventory::InventoryEntry {
        name: name.into(),
        consumer_key: consumer_key.map(Into::into),
        status: status.into(),
        ..Default::default()
    };
    cockpit_db::inventory::save(pool, &entry, "user:test@example.com")
        .await
        .unwrap();
}

/// A new org holding the standard snapshot.
pub async fn seeded(pool: &PgPool, name: &str) -> (Uuid, Snapshot) {
    let org = new_org(pool, name).await;
    let s = standard();
    sync(pool, org, &s).await;
    (org, s)
}

pub async fn app_id(pool: &PgPool, org: Uuid, key: &str) -> i64 {
    sqlx::query_scalar!(
        "SELECT id FROM sf_apps WHERE org_id = $1 AND app_key = $2",
        org,
        key
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn user_uid(pool: &PgPool, org: Uuid, id: &str) -> i64 {
    sqlx::query_scalar!(
        "SELECT uid FROM sf_users WHERE org_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every org's id.
pub async fn all_orgs(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM orgs")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The state of a cockpit reached at http://127.0.0.1 (loopback: `__Host-`
/// cookies apply).
pub fn state(pool: &PgPool) -> AppState {
    AppState::new(pool.clone(), "http://127.0.0.1:8080")
}

pub const TEST_SESSION: &str = "test-session-of-the-admin-0123456789abcdef";
pub const TEST_CSRF: &str = "test-csrf-token-0123456789abcdef0123456789";

/// Makes sure a global admin with a known session exists, and returns the
/// Cookie header that carries it.
pub async fn admin_cookie(pool: &PgPool) -> String {
    sqlx::query!(
        "INSERT INTO accounts (id, email, role) VALUES ('00000000-0000-0000-0000-00000000a0a0', 'admin@example.com', 'admin')
         ON CONFLICT DO NOTHING"
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, '00000000-0000-0000-0000-00000000a0a0', $2)
         ON CONFLICT (id_hash) DO NOTHING",
        crate::auth::hash_token(TEST_SESSION),
        TEST_CSRF
    )
    .execute(pool)
    .await
    .unwrap();
    format!("__Host-cockpit_session={TEST_SESSION}")
}

pub async fn get_raw(pool: &PgPool, uri: &str) -> (StatusCode, HeaderMap, String) {
    let cookie = admin_cookie(pool).await;
    send_raw(
        pool,
        &cookie,
        Request::get(uri).body(Body::empty()).unwrap(),
    )
    .await
}

/// A person whose role in `org` (and nowhere else) is `role`, with a
/// session; returns their Cookie header and anti-forgery token.
pub async fn member_cookie(pool: &PgPool, org: Uuid, role: &str) -> (String, String) {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO accounts (id, email) VALUES ($1, $2)",
        id,
        format!("{role}-{id}@example.com")
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO account_org_roles (account_id, org_id, role) VALUES ($1, $2, $3)",
        id,
        org,
        role
    )
    .execute(pool)
    .await
    .unwrap();
    let (session, csrf) = (format!("session-{id}"), format!("csrf-{id}"));
    sqlx::query!(
        "INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, $2, $3)",
        crate::auth::hash_token(&session),
        id,
        csrf
    )
    .execute(pool)
    .await
    .unwrap();
    (format!("__Host-cockpit_session={session}"), csrf)
}

/// A form POST from the cockpit's own pages (same origin); `body` is
/// urlencoded and should carry the `csrf` field.
pub async fn post_raw(
    pool: &PgPool,
    cookie: &str,
    uri: &str,
    body: String,
) -> (StatusCode, HeaderMap, String) {
    let req = Request::post(uri)
        .header(http::header::ORIGIN, "http://127.0.0.1:8080")
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Body::from(body))
        .unwrap();
    send_raw(pool, cookie, req).await
}

pub async fn send_raw(
    pool: &PgPool,
    cookie: &str,
    req: Request<Body>,
) -> (StatusCode, HeaderMap, String) {
    send_to(&state(pool), cookie, req).await
}

/// A request to a cockpit of the given state (which a test may keep between
/// requests, with its page cache).
pub async fn send_to(
    state: &AppState,
    cookie: &str,
    mut req: Request<Body>,
) -> (StatusCode, HeaderMap, String) {
    req.headers_mut()
        .insert(http::header::COOKIE, cookie.parse().unwrap());
    let res = router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

pub async fn get_html(pool: &PgPool, uri: &str) -> String {
    let (status, _, body) = get_raw(pool, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

pub async fn get_page(pool: &PgPool, uri: &str) -> Page {
    Page(Html::parse_document(&get_html(pool, uri).await))
}

/// CSV rows (header first) of an export.
pub async fn get_csv(pool: &PgPool, uri: &str) -> Vec<Vec<String>> {
    let (status, headers, body) = get_raw(pool, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    assert!(
        headers[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = headers[http::header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    r.records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

pub struct Page(pub Html);

impl Page {
    pub fn select(&self, sel: &str) -> Vec<scraper::ElementRef<'_>> {
        let s = Selector::parse(sel).unwrap();
        self.0.select(&s).collect()
    }

    /// Trimmed text of every match.
    pub fn texts(&self, sel: &str) -> Vec<String> {
        self.select(sel).iter().map(text_of).collect()
    }

    /// An attribute of the first match.
    pub fn attr(&self, sel: &str, name: &str) -> String {
        self.select(sel)
            .first()
            .unwrap_or_else(|| panic!("no match for {sel}"))
            .value()
            .attr(name)
            .unwrap_or_else(|| panic!("{sel} has no {name}"))
            .to_owned()
    }

    pub fn text(&self) -> String {
        self.0.root_element().text().collect()
    }
}

/// An element's text as a person reads it: whitespace runs as one space.
pub fn text_of(e: &scraper::ElementRef<'_>) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A simulated org connected with JWT and synced once, exactly as the worker
/// does it.
pub async fn sim_org(
    pool: &PgPool,
    name: &str,
    config: sfsim::SimConfig,
) -> (Uuid, sfsim::RunningSim) {
    use cockpit_worker::connect::{ConnectRequest, Credentials, connect};
    use cockpit_worker::sync::{SyncSettings, sync_org};
    use secrecy::SecretString;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = sfsim::Sim::spawn(config).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([42; 32]), vec![]));
    let c = &sim.credentials;
    let org = connect(
        pool,
        &keyring,
        ConnectRequest {
            name: name.into(),
            login_url: url::Url::parse(&c.login_url).unwrap(),
            client_id: c.client_id.clone(),
            client_secret: Some(SecretString::from(c.client_secret.clone())),
            sandbox: false,
            api_version: "66.0".into(),
            credentials: Credentials::JwtBearer {
                private_key_pem: SecretString::from(c.jwt_private_key_pem.clone()),
                username: c.username.clone(),
            },
        },
    )
    .await
    .unwrap()
    .id;
    sync_org(pool, keyring, org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    (org, sim)
}
