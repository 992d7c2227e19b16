//! Shared by the web integration tests: people with sessions, and requests
//! through the real router.

#![allow(dead_code)]

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use cockpit_web::{AppState, auth::hash_token, router};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tower::ServiceExt;

use uuid::Uuid;

pub const BASE: &str = "http://127.0.0.1:8080";

/// An account with a session; `role` global, or per org when `org` is given.
pub async fn person(pool: &PgPool, email: &str, role: &str, org: Option<Uuid>) -> (String, String) {
    let id = Uuid::new_v4();
    let global = if org.is_none() { Some(role) } else { None };
    sqlx::query("INSERT INTO accounts (id, email, role) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(email)
        .bind(global)
        .execute(pool)
        .await
        .unwrap();
    if let Some(org) = org {
        sqlx::query("INSERT INTO account_org_roles (account_id, org_id, role) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(org)
            .bind(role)
            .execute(pool)
            .await
            .unwrap();
    }
    let token = format!("session-{}", Uuid::new_v4());
    let csrf = format!("csrf-{}", Uuid::new_v4());
    sqlx::query("INSERT INTO sessions (id_hash, account_id, csrf_token) VALUES ($1, $2, $3)")
        .bind(hash_token(&token))
        .bind(id)
        .bind(&csrf)
        .execute(pool)
        .await
        .unwrap();
    (format!("__Host-cockpit_session={token}"), csrf)
}

/// An org with an app (`0H4AAA`), a person (`005AAA`), an authorization
/// (`0CQAAA`) and a failed action; returns its id and the row ids by name.
/// A global API token with `role`, named `soar`; returns the bearer token.
pub async fn api_token(pool: &PgPool, role: &str) -> String {
    let token = format!("ock_{}", Uuid::new_v4().simple());
    sqlx::query("INSERT INTO api_tokens (id, name, token_hash, role) VALUES ($1, 'soar', $2, $3)")
        .bind(Uuid::new_v4())
        .bind(hash_token(&token))
        .bind(role)
        .execute(pool)
        .await
        .unwrap();
    token
}

pub async fn seed_org(pool: &PgPool, name: &str) -> (Uuid, BTreeMap<&'static str, String>) {
    let org = Uuid::new_v4();
    sqlx::query("INSERT INTO orgs (id, name, login_url, instance_url) VALUES ($1, $2, 'https://login.salesforce.com', 'https://x.my.salesforce.com')")
        .bind(org)
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sf_apps (org_id, app_key, kind, name, installed, first_seen_at) VALUES ($1, '0H4AAA', 'connected_app', 'App', true, now())")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sf_users (org_id, id, username, name, is_active, first_seen_at) VALUES ($1, '005AAA', 'u@x', 'U', true, now())")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sf_tokens (org_id, id, app_key, user_id, app_name, first_seen_at) VALUES ($1, '0CQAAA', '0H4AAA', '005AAA', 'App', now())")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    let app: i64 = sqlx::query_scalar("SELECT id FROM sf_apps WHERE org_id = $1")
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap();
    let uid: i64 = sqlx::query_scalar("SELECT uid FROM sf_users WHERE org_id = $1")
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap();
    let action: i64 = sqlx::query_scalar(
        "INSERT INTO actions (org_id, kind, app_key, requested_by, reason, idempotency_key, status)
         VALUES ($1, 'revoke_app_all', '0H4AAA', 'user:x', 'r', $2, 'failed') RETURNING id",
    )
    .bind(org)
    .bind(Uuid::new_v4().to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    let mut ids = BTreeMap::new();
    ids.insert("org", org.to_string());
    ids.insert("app", app.to_string());
    ids.insert("uid", uid.to_string());
    ids.insert("action", action.to_string());
    (org, ids)
}

pub async fn send(
    pool: &PgPool,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    send_with(&AppState::new(pool.clone(), BASE), req).await
}

pub fn post(path: &str, cookie: Option<&str>, origin: Option<&str>, body: String) -> Request<Body> {
    let mut r =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    if let Some(o) = origin {
        r = r.header(header::ORIGIN, o);
    }
    r.body(Body::from(body)).unwrap()
}

pub fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::empty()).unwrap()
}

/// A request through the router built from a given state (with a keyring,
/// single sign-on, ...).
pub async fn send_with(
    state: &AppState,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let (method, uri) = (req.method().to_string(), req.uri().to_string());
    let res = router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    // Every API answer a test receives is checked against the OpenAPI
    // document (401 is the bearer scheme's, documented once).
    if uri.starts_with("/api/v1/")
        && status != StatusCode::UNAUTHORIZED
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body)
    {
        cockpit_web::api::openapi::conforms(&method, &uri, status.as_u16(), &json);
    }
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// The hidden inputs of a page's forms, as a browser would submit them.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("input[type=hidden]").unwrap();
    doc.select(&sel)
        .filter_map(|e| {
            Some((
                e.value().attr("name")?.to_owned(),
                e.value().attr("value").unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// A person at sfsim's own sign-in and consent pages, allowing access;
/// returns where Salesforce sends the browser back to.
pub async fn sfsim_sign_in(authorize: &url::Url, username: &str, password: &str) -> url::Url {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(authorize.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let post_url = authorize.join("/services/oauth2/authorize").unwrap();
    let mut f = hidden_inputs(&login);
    f.push(("username".into(), username.into()));
    f.push(("pw".into(), password.into()));
    let consent = http
        .post(post_url.clone())
        .form(&f)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut f = hidden_inputs(&consent);
    f.push(("decision".into(), "allow".into()));
    let back = http.post(post_url).form(&f).send().await.unwrap();
    url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap()
}
