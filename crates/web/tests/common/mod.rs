//! Shared by the web integration tests: people with sessions, and requests
//! through the real router.

#![allow(dead_code)]

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use cockpit_web::{AppState, auth::hash_token, router};
use sqlx::PgPool;
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

pub async fn send(
    pool: &PgPool,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = router(AppState::new(pool.clone(), BASE))
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
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
