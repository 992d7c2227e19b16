//! The abuse suite: every route of the router (from its table, so a new
//! route cannot be forgotten) against people who should not get in or
//! should not be able to do what they try.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use cockpit_web::{AppState, auth::hash_token, router};

mod common;
use common::{BASE, get, person, post, seed_org, send};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

const PUBLIC: [&str; 8] = [
    "/api/v1/openapi.json",
    "/signin",
    "/signin/sso",
    "/signin/sso/callback",
    "/setup",
    "/healthz",
    "/readyz",
    "/static/app.css",
];

/// `(path, methods)` for every route of the router's table.
fn routes() -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    for r in cockpit_web::router::table() {
        if r.method == "*" {
            continue; // a catch-all
        }
        match out.iter_mut().find(|(p, _)| p == r.path) {
            Some((_, methods)) => methods.push(r.method),
            None => out.push((r.path.to_owned(), vec![r.method])),
        }
    }
    assert!(out.len() > 30, "the router's table: {out:?}");
    out
}

struct World {
    org_a: Uuid,
    org_b: Uuid,
    ids: BTreeMap<&'static str, String>,
    ids_b: BTreeMap<&'static str, String>,
}

async fn world(pool: &PgPool) -> World {
    let (org_a, mut ids) = seed_org(pool, "A").await;
    let (org_b, mut ids_b) = seed_org(pool, "B").await;
    for (org, ids) in [(org_a, &mut ids), (org_b, &mut ids_b)] {
        let incident: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (title, severity, query, declared_by) VALUES ('T', 'high', 'App', 'user:x') RETURNING id",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO incident_apps (incident_id, org_id, app_key, matched_by) VALUES ($1, $2, '0H4AAA', 'name')")
            .bind(incident)
            .bind(org)
            .execute(pool)
            .await
            .unwrap();
        ids.insert("incident", incident.to_string());
        let hunt: i64 = sqlx::query_scalar(
            "INSERT INTO hunts (created_by, set_ids, set_names, org_ids) VALUES ('user:x', '{}', '{}', ARRAY[$1::uuid]) RETURNING id",
        )
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap();
        ids.insert("hunt", hunt.to_string());
    }
    let review: i64 = sqlx::query_scalar(
        "INSERT INTO reviews (kind, started_by) VALUES ('monthly', 'user:x') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let inv: i64 = sqlx::query_scalar(
        "INSERT INTO inventory (name, updated_by) VALUES ('App', 'user:x') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let account: Uuid =
        sqlx::query_scalar("INSERT INTO accounts (id, email, role) VALUES ($1, 'target@example.com', 'viewer') RETURNING id")
            .bind(Uuid::new_v4())
            .fetch_one(pool)
            .await
            .unwrap();
    let api_token: Uuid = sqlx::query_scalar(
        "INSERT INTO api_tokens (id, name, token_hash, role) VALUES ($1, 'bot', '\\x00', 'admin') RETURNING id",
    )
    .bind(Uuid::new_v4())
    .fetch_one(pool)
    .await
    .unwrap();
    ids.insert("review", review.to_string());
    ids.insert("inventory", inv.to_string());
    ids.insert("account", account.to_string());
    ids.insert("api_token", api_token.to_string());
    World {
        org_a,
        org_b,
        ids,
        ids_b,
    }
}

fn concrete(path: &str, ids: &BTreeMap<&'static str, String>) -> String {
    // API paths name the same objects as the pages.
    let (prefix, path) = match path.strip_prefix("/api/v1") {
        Some(rest) => ("/api/v1", rest),
        None => ("", path),
    };
    let id = if path.starts_with("/admin/accounts/") {
        ids.get("account").map_or("1", String::as_str)
    } else if path.starts_with("/admin/api-tokens/") {
        ids.get("api_token").map_or("1", String::as_str)
    } else if path.starts_with("/apps/") {
        &ids["app"]
    } else if path.starts_with("/users/") {
        &ids["uid"]
    } else if path.starts_with("/orgs/") {
        &ids["org"]
    } else if path.starts_with("/actions/") {
        &ids["action"]
    } else if path.starts_with("/incidents/") {
        ids.get("incident").map_or("1", String::as_str)
    } else if path.starts_with("/reviews/") {
        ids.get("review").map_or("1", String::as_str)
    } else if path.starts_with("/inventory/") {
        ids.get("inventory").map_or("1", String::as_str)
    } else if path.starts_with("/hunts/") {
        ids.get("hunt").map_or("1", String::as_str)
    } else {
        "1"
    };
    let query = if path.ends_with("/apps/where") {
        "?q=App"
    } else {
        ""
    };
    format!(
        "{prefix}{}{query}",
        path.replace("{id}", id).replace("{uid}", id)
    )
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn without_a_session_every_page_sends_you_to_sign_in(pool: PgPool) {
    let w = world(&pool).await;
    person(&pool, "someone@example.com", "admin", None).await; // so /signin does not redirect to /setup
    for (path, methods) in routes() {
        let p = concrete(&path, &w.ids);
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        if path == "/metrics" {
            // Its own bearer token, never a session; none is set here.
            assert_eq!(send(&pool, get(&p, None)).await.0, StatusCode::NOT_FOUND);
            continue;
        }
        for m in methods {
            let (status, headers, body) = match m {
                "GET" => send(&pool, get(&p, None)).await,
                _ => send(&pool, post(&p, None, Some(BASE), "csrf=x".into())).await,
            };
            if p.starts_with("/api/") {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {p}: {body}");
                assert!(body.contains("\"status\":401"), "{m} {p}: JSON {body}");
                continue;
            }
            assert!(
                status.is_redirection() || status == StatusCode::FORBIDDEN,
                "{m} {p}: {status} {body}"
            );
            if m == "GET" {
                let to = headers[header::LOCATION].to_str().unwrap();
                assert!(to.starts_with("/signin"), "{m} {p} -> {to}");
            }
        }
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn every_post_needs_the_token_and_our_origin(pool: PgPool) {
    let w = world(&pool).await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    for (path, methods) in routes() {
        if !methods.contains(&"POST") {
            continue;
        }
        let p = concrete(&path, &w.ids);
        if p.starts_with("/api/") {
            // Bearer tokens are the API's only credential: a session with a
            // valid anti-forgery token does not let a request in.
            let (status, _, body) = send(
                &pool,
                post(&p, Some(&cookie), Some(BASE), format!("csrf={csrf}")),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "POST {p} with a session: {body}"
            );
            continue;
        }
        let (status, _, body) =
            send(&pool, post(&p, Some(&cookie), Some(BASE), "a=1".into())).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "POST {p} without token: {body}"
        );
        let (status, _, _) = send(
            &pool,
            post(&p, Some(&cookie), Some(BASE), "csrf=wrong".into()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "POST {p} with a wrong token");
        let (status, _, _) = send(
            &pool,
            post(
                &p,
                Some(&cookie),
                Some("https://evil.example"),
                format!("csrf={csrf}"),
            ),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "POST {p} from a foreign origin"
        );
        let mut cross = post(&p, Some(&cookie), None, format!("csrf={csrf}"));
        cross
            .headers_mut()
            .insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert_eq!(
            send(&pool, cross).await.0,
            StatusCode::FORBIDDEN,
            "POST {p} cross-site"
        );
    }
    // Nothing changes on GET: no route takes GET for a state change.
    for (path, methods) in routes() {
        for verb in [
            "/sync",
            "/disconnect",
            "/retry",
            "/decide",
            "/send",
            "/complete",
            "/import",
            "/signout",
        ] {
            if path.ends_with(verb) {
                assert_eq!(methods, vec!["POST"], "{path} must be POST only");
            }
        }
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_viewer_cannot_act(pool: PgPool) {
    let w = world(&pool).await;
    let (cookie, csrf) = person(&pool, "vic@example.com", "viewer", None).await;
    let app_key = "0H4AAA";
    let forms: Vec<(String, String)> = vec![
        (
            "/actions".into(),
            format!(
                "csrf={csrf}&org={}&kind=revoke_app_all&app={app_key}&reason=x&idempotency_key=viewer-key-0123456789",
                w.org_a
            ),
        ),
        (
            format!("/actions/{}/retry", w.ids["action"]),
            format!("csrf={csrf}"),
        ),
        (format!("/orgs/{}/sync", w.org_a), format!("csrf={csrf}")),
        (
            format!("/orgs/{}/disconnect", w.org_a),
            format!("csrf={csrf}"),
        ),
        (
            "/orgs/connect".into(),
            format!("csrf={csrf}&name=x&environment=production&client_id=y"),
        ),
        (
            "/inventory".into(),
            format!("csrf={csrf}&name=Evil&status=approved"),
        ),
        ("/reviews".into(), format!("csrf={csrf}&kind=monthly")),
        (
            format!("/reviews/{}/decide", w.ids["review"]),
            format!("csrf={csrf}&seq=1&decision=accepted&note=x"),
        ),
        (
            format!("/reviews/{}/send", w.ids["review"]),
            format!("csrf={csrf}"),
        ),
        (
            format!("/reviews/{}/complete", w.ids["review"]),
            format!("csrf={csrf}"),
        ),
        (
            "/admin/accounts".into(),
            format!(
                "csrf={csrf}&email=evil%40example.com&role=admin&password=quiet+orange+kettle+42"
            ),
        ),
        (
            format!("/admin/accounts/{}/role", w.ids["account"]),
            format!("csrf={csrf}&role=admin"),
        ),
        (
            format!("/admin/accounts/{}/org-roles", w.ids["account"]),
            format!("csrf={csrf}&org={}&role=admin", w.org_a),
        ),
        (
            format!("/admin/accounts/{}/access", w.ids["account"]),
            format!("csrf={csrf}&change=disable"),
        ),
        (
            "/admin/api-tokens".into(),
            format!("csrf={csrf}&name=evil&role=admin&org="),
        ),
        (
            format!("/admin/api-tokens/{}/revoke", w.ids["api_token"]),
            format!("csrf={csrf}"),
        ),
        (
            "/admin/channels".into(),
            format!("csrf={csrf}&name=evil&kind=webhook&url=https%3A%2F%2Fevil.example%2F"),
        ),
        ("/admin/channels/1/test".into(), format!("csrf={csrf}")),
        (
            "/admin/channels/1/change".into(),
            format!("csrf={csrf}&change=delete"),
        ),
        ("/admin/deliveries/1/resend".into(), format!("csrf={csrf}")),
    ];
    // Every admin route is in the list above.
    for (path, methods) in routes() {
        if path.starts_with("/admin/") && methods.contains(&"POST") {
            let p = concrete(&path, &w.ids);
            assert!(
                forms.iter().any(|(f, _)| *f == p),
                "viewer POST {p} is tried"
            );
        }
    }
    for (path, body) in forms {
        let (status, _, page) = send(&pool, post(&path, Some(&cookie), Some(BASE), body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewer POST {path}: {page}");
    }
    let (status, _, _) = send(
        &pool,
        get(
            &format!("/actions/new?org={}&kind=block_app&app={app_key}", w.org_a),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing happened.
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actions, 2, "only the seeded ones");
    let changed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'account.%' OR action LIKE 'api_token.%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(changed, 0, "no account or token changed");
}

/// The API's routes with tokens: a viewer token reads but cannot act, and a
/// token limited to org A finds nothing of org B.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn api_tokens_are_held_to_their_role_and_org(pool: PgPool) {
    let w = world(&pool).await;
    let token = cockpit_web::api::new_token();
    cockpit_db::accounts::create_api_token(
        &pool,
        "a-viewer",
        &hash_token(&token),
        cockpit_domain::role::Role::Viewer,
        Some(w.org_a),
        None,
    )
    .await
    .unwrap();
    let with_token = |mut req: axum::http::Request<axum::body::Body>| {
        req.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        req
    };
    let mut walked = 0;
    for (path, methods) in routes()
        .into_iter()
        .filter(|(p, _)| p.starts_with("/api/") && !PUBLIC.contains(&p.as_str()))
    {
        for m in methods {
            let own = concrete(&path, &w.ids);
            let other = concrete(&path, &w.ids_b);
            let (own_status, other_status) = if m == "GET" {
                let sep = if own.contains('?') { '&' } else { '?' };
                let other = if path.contains('{') {
                    other
                } else {
                    format!("{other}{sep}org={}", w.org_b)
                };
                (
                    send(&pool, with_token(get(&own, None))).await.0,
                    send(&pool, with_token(get(&other, None))).await,
                )
            } else {
                let body = |org: Uuid| {
                    format!(
                        r#"{{"org":"{org}","kind":"revoke_app_all","app":"0H4AAA","reason":"x","idempotency_key":"walk-{org}"}}"#
                    )
                };
                let mut a = post(&own, None, None, body(w.org_a));
                let mut b = post(&other, None, None, body(w.org_b));
                for r in [&mut a, &mut b] {
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
                }
                (
                    send(&pool, with_token(a)).await.0,
                    send(&pool, with_token(b)).await,
                )
            };
            let (other_status, _, body) = other_status;
            // Channels carry every org's events: a token of one org is
            // refused before anything is read.
            let every_org = path == "/api/v1/channels";
            if m == "GET" && every_org {
                assert_eq!(own_status, StatusCode::FORBIDDEN, "GET {own}");
            } else if m == "GET" {
                assert_eq!(own_status, StatusCode::OK, "GET {own}");
            } else {
                assert_eq!(
                    own_status,
                    StatusCode::FORBIDDEN,
                    "a viewer token {m} {own}"
                );
            }
            // Declaring an incident, importing indicators and hunting need
            // an analyst somewhere: a viewer token is refused before any
            // org is looked at.
            let anywhere = ["/api/v1/incidents", "/api/v1/indicators", "/api/v1/hunts"];
            let expected = if every_org || (m == "POST" && anywhere.contains(&path.as_str())) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(other_status, expected, "{m} {path} of org B: {body}");
            walked += 1;
        }
    }
    assert!(walked >= 12, "{walked}");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn another_orgs_ids_answer_not_found(pool: PgPool) {
    let w = world(&pool).await;
    let (cookie, csrf) = person(&pool, "ann@example.com", "admin", Some(w.org_a)).await;
    // Their own org works.
    for p in [
        format!("/apps/{}", w.ids["app"]),
        format!("/users/{}", w.ids["uid"]),
        format!("/orgs/{}", w.org_a),
    ] {
        assert_eq!(
            send(&pool, get(&p, Some(&cookie))).await.0,
            StatusCode::OK,
            "{p}"
        );
    }
    for p in [
        format!("/apps/{}", w.ids_b["app"]),
        format!("/users/{}", w.ids_b["uid"]),
        format!("/orgs/{}", w.org_b),
        format!("/actions/{}", w.ids_b["action"]),
        format!("/apps?org={}", w.org_b),
        format!("/reports/stale?org={}", w.org_b),
        format!(
            "/actions/new?org={}&kind=revoke_app_all&app=0H4AAA",
            w.org_b
        ),
    ] {
        let (status, _, body) = send(&pool, get(&p, Some(&cookie))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {p}: {body}");
    }
    let (status, _, _) = send(
        &pool,
        post(
            "/actions",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&org={}&kind=revoke_app_all&app=0H4AAA&reason=x&idempotency_key=cross-org-0123456789", w.org_b),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // "All orgs" means their orgs: the list is narrowed to org A.
    let (status, headers, _) = send(&pool, get("/apps", Some(&cookie))).await;
    assert!(status.is_redirection());
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .contains(&w.org_a.to_string())
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn oversized_and_malformed_bodies(pool: PgPool) {
    let w = world(&pool).await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    let huge = format!("csrf={csrf}&reason={}", "x".repeat(300 * 1024));
    let (status, _, _) = send(&pool, post("/actions", Some(&cookie), Some(BASE), huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, body) = send(
        &pool,
        post(
            "/actions",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&org=not-a-uuid&kind=x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("could not be read"), "{body}");
    let (status, _, body) = send(
        &pool,
        post(
            "/actions",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&org={}&kind=revoke_app_all&app=0H4AAA&reason=&idempotency_key=empty-reason-0123456789", w.org_a),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an action needs a reason");
    assert!(body.contains("Say why"), "{body}");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn cookies_sessions_and_headers(pool: PgPool) {
    // A real sign-in: cookie flags and a new session id.
    let hash = cockpit_domain::password::hash("correct horse battery staple");
    sqlx::query("INSERT INTO accounts (id, email, role, password_hash) VALUES ($1, 'ada@example.com', 'admin', $2)")
        .bind(Uuid::new_v4())
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
    let (_, headers, _) = send(&pool, get("/signin", None)).await;
    let pre = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    let pre_token = pre
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let (old_cookie, _) = person(&pool, "old@example.com", "viewer", None).await;
    let req = post(
        "/signin",
        Some(&format!("__Host-cockpit_form={pre_token}; {old_cookie}")),
        Some(BASE),
        format!(
            "csrf={pre_token}&email=ada%40example.com&password=correct+horse+battery+staple&next=%2Fapps"
        ),
    );
    let (status, headers, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/apps");
    let set = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-cockpit_session="))
        .expect("session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(flag), "{flag}: {session}");
    }
    let new_cookie = session.split(';').next().unwrap().to_owned();
    assert_ne!(new_cookie, old_cookie, "a new id at sign-in");
    let (status, _, _) = send(&pool, get("/audit", Some(&old_cookie))).await;
    assert!(
        status.is_redirection(),
        "the session from before sign-in is ended"
    );

    // Signed-in pages: headers.
    let (status, headers, _) = send(&pool, get("/audit", Some(&new_cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
            && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(headers.contains_key(header::REFERRER_POLICY));
    assert!(
        !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
        "no HSTS over plain HTTP"
    );
    let https = router(AppState::new(pool.clone(), "https://cockpit.example"))
        .oneshot(get("/healthz", None))
        .await
        .unwrap();
    assert!(
        https
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY),
        "HSTS when served over HTTPS"
    );

    // Idle for 31 minutes: gone. Older than 12 hours: gone.
    let token = new_cookie.split_once('=').unwrap().1.to_owned();
    sqlx::query(
        "UPDATE sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1",
    )
    .bind(hash_token(&token))
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        send(&pool, get("/audit", Some(&new_cookie)))
            .await
            .0
            .is_redirection(),
        "idle timeout"
    );
    let (fresh, _) = person(&pool, "bea@example.com", "viewer", None).await;
    let t = fresh.split_once('=').unwrap().1.to_owned();
    sqlx::query("UPDATE sessions SET created_at = now() - interval '13 hours' WHERE id_hash = $1")
        .bind(hash_token(&t))
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        send(&pool, get("/audit", Some(&fresh)))
            .await
            .0
            .is_redirection(),
        "absolute timeout"
    );

    // Sign-out ends the session on the server.
    let (c, csrf) = person(&pool, "cy@example.com", "viewer", None).await;
    let (status, _, _) = send(
        &pool,
        post("/signout", Some(&c), Some(BASE), format!("csrf={csrf}")),
    )
    .await;
    assert!(status.is_redirection());
    assert!(
        send(&pool, get("/audit", Some(&c)))
            .await
            .0
            .is_redirection(),
        "signed out on the server"
    );

    // Disabling an account ends its sessions.
    let (d, _) = person(&pool, "dee@example.com", "viewer", None).await;
    let id: Uuid = sqlx::query_scalar("SELECT id FROM accounts WHERE email = 'dee@example.com'")
        .fetch_one(&pool)
        .await
        .unwrap();
    cockpit_db::accounts::set_disabled(&pool, id, true)
        .await
        .unwrap();
    assert!(
        send(&pool, get("/audit", Some(&d)))
            .await
            .0
            .is_redirection(),
        "disabled account"
    );

    // Every sign-in, failure and sign-out is in the audit log.
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        actions.contains(&"signin".to_owned()) && actions.contains(&"signout".to_owned()),
        "{actions:?}"
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn sign_in_is_throttled_per_account(pool: PgPool) {
    let hash = cockpit_domain::password::hash("correct horse battery staple");
    sqlx::query("INSERT INTO accounts (id, email, role, password_hash) VALUES ($1, 'ada@example.com', 'admin', $2)")
        .bind(Uuid::new_v4())
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
    let attempt = |password: &'static str| {
        post(
            "/signin",
            Some("__Host-cockpit_form=pre-session-token-0123456789abcdef0123"),
            Some(BASE),
            format!(
                "csrf=pre-session-token-0123456789abcdef0123&email=ada%40example.com&password={password}"
            ),
        )
    };
    for _ in 0..5 {
        assert_eq!(
            send(&pool, attempt("wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _, body) = send(&pool, attempt("correct+horse+battery+staple")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {body}"
    );
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('signin.failed', 'signin.throttled')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failures, 6);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn action_buttons_only_for_admins(pool: PgPool) {
    let w = world(&pool).await;
    let (admin, _) = person(&pool, "ada@example.com", "admin", None).await;
    let (viewer, _) = person(&pool, "vic@example.com", "viewer", None).await;
    for page in [
        format!("/apps/{}", w.ids["app"]),
        format!("/users/{}", w.ids["uid"]),
    ] {
        let (_, _, html) = send(&pool, get(&page, Some(&admin))).await;
        assert!(
            html.contains("data-action=\"revoke_"),
            "{page}: admins see revoke buttons"
        );
        let (_, _, html) = send(&pool, get(&page, Some(&viewer))).await;
        assert!(!html.contains("data-action="), "{page}: viewers see none");
    }
    let (_, _, html) = send(&pool, get(&format!("/apps/{}", w.ids["app"]), Some(&admin))).await;
    assert!(
        html.contains("data-action=\"revoke_app_stale\""),
        "the app page offers its stale authorizations to admins"
    );
}
