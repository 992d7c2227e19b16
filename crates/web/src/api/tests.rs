//! What an API client sees: fields, filters and pages of every endpoint,
//! and the ways in which it is refused.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use chrono::{Duration, Utc};
use cockpit_domain::role::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use crate::{auth::hash_token, router, testutil::*};

async fn token(pool: &PgPool, name: &str, role: Role, org: Option<Uuid>) -> String {
    let t = super::new_token();
    cockpit_db::accounts::create_api_token(pool, name, &hash_token(&t), role, org, None)
        .await
        .unwrap();
    t
}

/// A request with optional bearer token, cookie and JSON body.
async fn call(
    pool: &PgPool,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    cookie: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    let req = match body {
        Some(b) => r
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, b.len())
            .body(Body::from(b)),
        None => r.body(Body::empty()),
    }
    .unwrap();
    let res = router(state(pool)).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    if status != StatusCode::UNAUTHORIZED {
        super::openapi::conforms(method, uri, status.as_u16(), &value);
    }
    (status, value)
}

async fn get_json(pool: &PgPool, uri: &str, bearer: &str) -> Value {
    let (status, v) = call(pool, "GET", uri, Some(bearer), None, None).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn apps_filter_sort_and_show_one_app(pool: PgPool) {
    let (acme, _) = seeded(&pool, "Acme").await;
    seeded(&pool, "Globex").await;
    let t = token(&pool, "reader", Role::Viewer, None).await;
    let all = get_json(&pool, "/api/v1/apps", &t).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next"], Value::Null);
    let first = &all["items"][0];
    assert_eq!(first["name"], "Data Loader", "most tokens first");
    assert_eq!(first["users"], 2);
    assert_eq!(first["tokens"], 2);
    assert_eq!(first["total_use"], 503);
    assert_eq!(first["requests_24h"], 100);
    assert_eq!(first["refresh_policy"], "valid_until_revoked");
    assert_eq!(first["flags"], json!(["until_revoked", "unknown"]));
    assert!(first.get("sk_num").is_none(), "no internals: {first}");

    let v = get_json(&pool, "/api/v1/apps?flag=uninstalled", &t).await;
    assert_eq!(strings(&v, "name"), [FORMULA, FORMULA]);
    let v = get_json(
        &pool,
        &format!("/api/v1/apps?flag=uninstalled&org={acme}"),
        &t,
    )
    .await;
    assert_eq!(strings(&v, "org_name"), ["Acme"]);
    let v = get_json(&pool, "/api/v1/apps?kind=external_client_app", &t).await;
    assert_eq!(
        strings(&v, "name"),
        [HOSTILE, HOSTILE],
        "names as they are, in JSON"
    );
    let v = get_json(&pool, "/api/v1/apps?q=LOADER&sort=org&dir=desc", &t).await;
    assert_eq!(strings(&v, "org_name"), ["Globex", "Acme"]);
    for (bad, says) in [
        ("sort=drop", "sort must be one of"),
        ("flag=nope", "flag must be one of"),
        ("since=yesterday", "since is a date"),
        ("after=garbage", "after must be"),
        ("org=not-a-uuid", "org must be"),
    ] {
        let (status, v) = call(
            &pool,
            "GET",
            &format!("/api/v1/apps?{bad}"),
            Some(&t),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(v["message"].as_str().unwrap().contains(says), "{bad}: {v}");
        assert_eq!(v["status"], 400);
    }

    let id = app_id(&pool, acme, "0H4A").await;
    let v = get_json(&pool, &format!("/api/v1/apps/{id}"), &t).await;
    assert_eq!(v["app"]["app_key"], "0H4A");
    assert_eq!(v["app"]["org_name"], "Acme");
    let auths = v["authorizations"].as_array().unwrap();
    let names: Vec<&str> = auths
        .iter()
        .map(|a| a["user_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alice Smith", "Carol Jones"],
        "most recently used first"
    );
    assert_eq!(auths[0]["use_count"], 500);
    assert_eq!(auths[1]["is_active"], false);
    assert_eq!(v["next"], Value::Null);
    let (status, _) = call(&pool, "GET", "/api/v1/apps/999999", Some(&t), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&pool, "GET", "/api/v1/apps/abc", Some(&t), None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn app_pages_cover_every_app_once(pool: PgPool) {
    let org = new_org(&pool, "Big").await;
    let mut s = Snapshot::default();
    for i in 0..(crate::pages::apps::PAGE * 2 + 7) {
        s.apps.push(app(
            &format!("0H4{i:04}"),
            &format!("App {:03}", i % 40),
            "connected_app",
            true,
            "",
        ));
    }
    sync(&pool, org, &s).await;
    let t = token(&pool, "reader", Role::Viewer, Some(org)).await;
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut after = String::new();
    loop {
        let v = get_json(
            &pool,
            &format!("/api/v1/apps?sort=name&dir=asc&after={after}"),
            &t,
        )
        .await;
        seen.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        pages += 1;
        match v["next"].as_str() {
            Some(n) => after = url::form_urlencoded::byte_serialize(n.as_bytes()).collect(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let n = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        (n, seen.len()),
        (s.apps.len(), s.apps.len()),
        "every app once"
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn tokens_from_a_simulated_org_page_and_filter(pool: PgPool) {
    let (org, sim) = sim_org(
        &pool,
        "Sim",
        sfsim::SimConfig {
            tokens: 450,
            users: 60,
            apps: 8,
            ..sfsim::SimConfig::default()
        },
    )
    .await;
    let t = token(&pool, "reader", Role::Viewer, None).await;
    let mut ids = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let v = get_json(
            &pool,
            &format!("/api/v1/tokens?org={org}&after={after}"),
            &t,
        )
        .await;
        for i in v["items"].as_array().unwrap() {
            assert_eq!(i["org_name"], "Sim");
            assert!(i["app_key"].is_string() && i["user_id"].is_string(), "{i}");
            ids.push(i["token_id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match v["next"].as_str() {
            Some(n) => after = url::form_urlencoded::byte_serialize(n.as_bytes()).collect(),
            None => break,
        }
    }
    let stored: i64 = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        org
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ids.len() as i64, stored);
    assert_eq!(stored as usize, sim.sim.token_count());
    assert_eq!(
        pages,
        (stored + super::read::TOKENS_PAGE - 1) / super::read::TOKENS_PAGE
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no authorization twice");

    // By app: exactly the app's authorizations, as the app page counts them.
    let (app, app_key, count): (i64, String, i64) = sqlx::query_as(
        "SELECT a.id, a.app_key, s.tokens FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.org_id = $1 ORDER BY s.tokens DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    let v = get_json(&pool, &format!("/api/v1/tokens?app={app}"), &t).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len() as i64, count.min(super::read::TOKENS_PAGE));
    assert!(items.iter().all(|i| i["app_key"] == app_key.as_str()));
    // By user.
    let (uid, user_id): (i64, String) = sqlx::query_as(
        "SELECT u.uid, u.id FROM sf_users u JOIN sf_tokens t ON t.org_id = u.org_id AND t.user_id = u.id
         WHERE u.org_id = $1 LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    let v = get_json(&pool, &format!("/api/v1/tokens?user={uid}"), &t).await;
    assert!(!v["items"].as_array().unwrap().is_empty());
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["user_id"] == user_id.as_str())
    );
    let (status, v) = call(&pool, "GET", "/api/v1/tokens?app=x", Some(&t), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn users_search_and_one_user(pool: PgPool) {
    let (org, _) = seeded(&pool, "Acme").await;
    let t = token(&pool, "reader", Role::Viewer, None).await;
    let v = get_json(&pool, "/api/v1/users?q=alI", &t).await;
    assert_eq!(strings(&v, "name"), ["Alice Smith"]);
    assert_eq!(v["items"][0]["apps"], 1);
    assert!(v["items"][0].get("sort_name").is_none());
    let v = get_json(&pool, "/api/v1/users?q=005c@", &t).await;
    assert_eq!(strings(&v, "name"), ["Carol Jones"]);
    assert_eq!(v["items"][0]["is_active"], false);
    let v = get_json(&pool, "/api/v1/users", &t).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 5);

    let carol = user_uid(&pool, org, "005C").await;
    let v = get_json(&pool, &format!("/api/v1/users/{carol}"), &t).await;
    assert_eq!(v["user"]["name"], "Carol Jones");
    assert_eq!(v["user"]["id"], "005C");
    assert!(v["user"]["deactivated_at"].is_string());
    assert_eq!(v["authorizations"][0]["app_name"], "Data Loader");
    assert_eq!(v["authorizations"][0]["use_count"], 3);
    assert_eq!(v["truncated"], false);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn reports(pool: PgPool) {
    let org = new_org(&pool, "Acme").await;
    let s = standard();
    sync_at(&pool, org, &s, Utc::now() - Duration::days(40)).await;
    let mut later = s.clone();
    later
        .apps
        .push(app("0H4N", "Newcomer", "connected_app", true, ""));
    sync(&pool, org, &later).await;
    let t = token(&pool, "reader", Role::Viewer, Some(org)).await;

    let v = get_json(&pool, "/api/v1/reports/stale", &t).await;
    assert_eq!(v["days"], 90);
    assert_eq!(
        strings(&v, "token_id"),
        ["0CQ4", "0CQ2"],
        "longest idle first"
    );
    let v = get_json(&pool, "/api/v1/reports/stale?days=300", &t).await;
    assert_eq!(strings(&v, "token_id"), ["0CQ4"]);
    let (status, v) = call(
        &pool,
        "GET",
        "/api/v1/reports/stale?days=0",
        Some(&t),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("days"));

    let v = get_json(&pool, "/api/v1/reports/offboarding", &t).await;
    let mut leaks = strings(&v, "token_id");
    leaks.sort();
    assert_eq!(leaks, ["0CQ2", "0CQ4"]);
    // Neither was used after its user was deactivated (10 days ago).
    for item in v["items"].as_array().unwrap() {
        assert_eq!(item["used_after_deactivation"], json!(false), "{item}");
    }

    let v = get_json(&pool, "/api/v1/reports/new-apps", &t).await;
    assert_eq!(strings(&v, "name"), ["Newcomer"]);
    let v = get_json(&pool, "/api/v1/reports/new-apps?since=2000-01-01", &t).await;
    assert_eq!(
        strings(&v, "name"),
        ["Newcomer"],
        "the first sync's apps are not new"
    );
    let v = get_json(
        &pool,
        &format!(
            "/api/v1/reports/new-apps?since={}",
            Utc::now().date_naive() + Duration::days(1)
        ),
        &t,
    )
    .await;
    assert!(v["items"].as_array().unwrap().is_empty());

    let v = get_json(&pool, "/api/v1/reports/unknown-apps", &t).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 4);
    sqlx::query("INSERT INTO inventory (name, updated_by) VALUES ('data loader', 'user:x')")
        .execute(&pool)
        .await
        .unwrap();
    let v = get_json(&pool, "/api/v1/reports/unknown-apps", &t).await;
    let names = strings(&v, "name");
    assert_eq!(names.len(), 3);
    assert!(!names.contains(&"Data Loader".to_owned()), "{names:?}");
    // Report items carry the same verdict: a status, or null outside the inventory.
    let v = get_json(&pool, "/api/v1/reports/stale", &t).await;
    for item in v["items"].as_array().unwrap() {
        let want = if item["app_name"] == "Data Loader" {
            json!("under_review")
        } else {
            json!(null)
        };
        assert_eq!(item["inventory_status"], want, "{item}");
    }
}

fn revoke_all(org: Uuid, key: &str) -> String {
    json!({
        "org": org, "kind": "revoke_app_all", "app": "0H4A",
        "reason": "ticket SEC-1: compromised integration", "idempotency_key": key,
    })
    .to_string()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn actions_are_created_as_the_form_does_and_audited_with_the_token(pool: PgPool) {
    let (org, _) = seeded(&pool, "Acme").await;
    let t = token(&pool, "soar", Role::Admin, None).await;
    let key = "soar-incident-0001-abcdef";
    let (status, v) = post_action(&pool, &t, revoke_all(org, key)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["action"]["id"].as_i64().unwrap();
    assert_eq!(v["action"]["kind"], "revoke_app_all");
    assert_eq!(v["action"]["requested_by"], "api:soar");
    assert_eq!(v["action"]["status"], "pending");
    assert_eq!(v["progress"]["total"], 2);
    assert_eq!(v["progress"]["pending"], 2);
    let mut items: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["token_id"].as_str().unwrap())
        .collect();
    items.sort_unstable();
    assert_eq!(items, ["0CQ1", "0CQ2"]);
    // The same key again: the same action, nothing new.
    let (status, again) = post_action(&pool, &t, revoke_all(org, key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["action"]["id"], id);
    let (actions, jobs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM actions), (SELECT count(*) FROM jobs WHERE kind = 'action')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((actions, jobs), (1, 1), "one durable intent and one job");
    let v = get_json(&pool, &format!("/api/v1/actions/{id}"), &t).await;
    assert_eq!(
        v["action"]["reason"],
        "ticket SEC-1: compromised integration"
    );
    assert_eq!(v["items"][0]["status"], "pending");

    // The audit entry names the token; the API's audit shows it with the head.
    let v = get_json(&pool, "/api/v1/audit?action=action.", &t).await;
    assert_eq!(v["items"][0]["actor"], "api:soar");
    assert_eq!(v["items"][0]["action"], "action.requested");
    assert_eq!(v["items"][0]["target"]["authorizations"], 2);
    assert_eq!(v["head"]["seq"], v["items"][0]["seq"]);
    assert!(v["head"]["hash"].as_str().unwrap().len() == 64);
    let v = get_json(&pool, "/api/v1/audit?actor=nobody", &t).await;
    assert!(v["items"].as_array().unwrap().is_empty());
    let (status, _) = call(
        &pool,
        "GET",
        "/api/v1/audit?from=yesterday",
        Some(&t),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // What the form refuses, the API refuses, with a message.
    for (body, says) in [
        (
            json!({"org": org, "kind": "revoke_app_all", "app": "0H4A", "reason": "  ", "idempotency_key": "k-0123456789abcdef"}),
            "Say why",
        ),
        (
            json!({"org": org, "kind": "explode", "app": "0H4A", "reason": "x", "idempotency_key": "k-0123456789abcdef"}),
            "unknown action",
        ),
        (
            json!({"org": org, "kind": "revoke_token", "reason": "x", "idempotency_key": "k-0123456789abcdef"}),
            "missing what it applies to",
        ),
        (
            json!({"org": org, "kind": "revoke_app_all", "app": "0H4A", "reason": "x", "idempotency_key": "short"}),
            "idempotency_key",
        ),
        (
            json!({"org": org, "kind": "revoke_app_all", "app": "0H4A", "reason": "x"}),
            "missing field `idempotency_key`",
        ),
    ] {
        let (status, v) = post_action(&pool, &t, body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["message"].as_str().unwrap().contains(says), "{body}: {v}");
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn abuse(pool: PgPool) {
    let (acme, _) = seeded(&pool, "Acme").await;
    let (globex, _) = seeded(&pool, "Globex").await;
    let globex_app = app_id(&pool, globex, "0H4A").await;
    let acme_app = app_id(&pool, acme, "0H4A").await;

    // No token, a wrong one, a malformed header: 401 with a JSON error.
    for auth in [None, Some("ock_not-a-real-token"), Some("")] {
        let (status, v) = call(&pool, "GET", "/api/v1/apps", auth, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(v["status"], 401);
    }
    // A revoked token: 401, and last use is recorded while it worked.
    let t = token(&pool, "old", Role::Admin, None).await;
    get_json(&pool, "/api/v1/apps", &t).await;
    let used: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE name = 'old'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(used.is_some(), "last use is recorded");
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE name = 'old'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        call(&pool, "GET", "/api/v1/apps", Some(&t), None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // A session cookie alone does not authenticate the API, even an admin's.
    let cookie = admin_cookie(&pool).await;
    assert_eq!(
        call(&pool, "GET", "/api/v1/apps", None, Some(&cookie), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = call(
        &pool,
        "POST",
        "/api/v1/actions",
        None,
        Some(&cookie),
        Some(revoke_all(acme, "cookie-key-0123456789")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A viewer token may read but not act.
    let viewer = token(&pool, "dash", Role::Viewer, None).await;
    let (status, v) = post_action(&pool, &viewer, revoke_all(acme, "viewer-key-0123456789")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    // A token limited to Acme: Globex does not exist for it.
    let limited = token(&pool, "acme-only", Role::Admin, Some(acme)).await;
    get_json(&pool, &format!("/api/v1/apps/{acme_app}"), &limited).await;
    let v = get_json(&pool, "/api/v1/apps", &limited).await;
    assert!(strings(&v, "org_name").iter().all(|o| o == "Acme"));
    for uri in [
        format!("/api/v1/apps/{globex_app}"),
        format!("/api/v1/apps?org={globex}"),
        format!("/api/v1/tokens?app={globex_app}"),
        format!("/api/v1/users/{}", user_uid(&pool, globex, "005A").await),
        format!("/api/v1/reports/stale?org={globex}"),
        format!("/api/v1/audit?org={globex}"),
        "/api/v1/nowhere".to_owned(),
    ] {
        let (status, v) = call(&pool, "GET", &uri, Some(&limited), None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {v}");
        assert_eq!(v["status"], 404);
    }
    let (status, _) =
        post_action(&pool, &limited, revoke_all(globex, "cross-org-0123456789")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bodies: over the limit 413, malformed 400 with a message.
    let admin = token(&pool, "soar", Role::Admin, None).await;
    let huge = json!({ "org": acme, "kind": "bulk_revoke", "tokens": vec!["0CQ1"; 20_000], "reason": "x", "idempotency_key": "huge-0123456789abcdef" }).to_string();
    assert!(huge.len() > super::BODY_LIMIT);
    let (status, v) = post_action(&pool, &admin, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["status"], 413);
    // Over the router's own limit too: refused before any handler, still JSON.
    let (status, v) = post_action(&pool, &admin, " ".repeat(crate::router::BODY_LIMIT + 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["status"], 413);
    let (status, v) = post_action(&pool, &admin, "{\"org\": ".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().contains("not the JSON"),
        "{v}"
    );
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actions, 0, "nothing was created");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn stale_authorizations_of_an_app_are_chosen_on_the_server(pool: PgPool) {
    let (org, _) = seeded(&pool, "Acme").await;
    let t = token(&pool, "soar", Role::Admin, None).await;
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sf_tokens WHERE org_id = $1 AND app_key = '0H4A' AND gone_at IS NULL
           AND coalesce(last_used_at, created_at, first_seen_at) < now() - interval '150 days'",
    )
    .bind(org)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stale.len(), 1, "the seed has one such authorization");
    let body = |days: serde_json::Value, key: &str| {
        json!({
            "org": org, "kind": "revoke_app_stale", "app": "0H4A", "days": days,
            "reason": "SEC-2: unused for months", "idempotency_key": key,
        })
        .to_string()
    };
    let (status, v) = post_action(&pool, &t, body(json!(150), "stale-0123456789abcdef")).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["action"]["kind"], "revoke_app_stale");
    assert_eq!(v["action"]["idle_days"], 150);
    let items: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["token_id"].as_str().unwrap())
        .collect();
    assert_eq!(items, [stale[0].as_str()]);
    // Days are required, as a number in range (text works, as from a form).
    for days in [json!(null), json!(0), json!("many")] {
        let (status, v) =
            post_action(&pool, &t, body(days.clone(), "stale-bad-0123456789abcdef")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{days}: {v}");
    }
    let (status, _) =
        post_action(&pool, &t, body(json!("30"), "stale-text-0123456789abcdef")).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// POSTs an action with a bearer token.
async fn post_action(pool: &PgPool, t: &str, body: String) -> (StatusCode, serde_json::Value) {
    call(pool, "POST", "/api/v1/actions", Some(t), None, Some(body)).await
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn where_is_an_app_across_the_tokens_orgs(pool: PgPool) {
    let (acme, _) = seeded(&pool, "Acme").await;
    let (globex, _) = seeded(&pool, "Globex").await;
    let everywhere = token(&pool, "ir-bot", Role::Viewer, None).await;
    let v = get_json(&pool, "/api/v1/apps/where?q=data%20LOADER", &everywhere).await;
    let mut orgs = strings(&v, "org_name");
    orgs.sort();
    assert_eq!(orgs, ["Acme", "Globex"]);
    let first = &v["items"][0];
    assert_eq!(first["name"], "Data Loader");
    assert_eq!(first["tokens"], 2);
    assert_eq!(first["users"], 2);
    assert_eq!(first["matched_by"], "name");
    assert!(
        first["admins"].is_number() && first["blocked"] == false,
        "{first}"
    );
    assert_eq!(v["truncated"], false);
    // A token of one org sees that org only.
    let one = token(&pool, "acme-bot", Role::Viewer, Some(acme)).await;
    let v = get_json(&pool, "/api/v1/apps/where?q=Data%20Loader", &one).await;
    assert_eq!(strings(&v, "org_name"), ["Acme"]);
    let _ = globex;
    // q is required and bounded.
    let (status, e) = call(&pool, "GET", "/api/v1/apps/where", Some(&one), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let long = format!("/api/v1/apps/where?q={}", "x".repeat(201));
    let (status, _) = call(&pool, "GET", &long, Some(&one), None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn channels_are_added_and_listed_without_their_url(pool: PgPool) {
    let admin = token(&pool, "soar", Role::Admin, None).await;
    let mut s = state(&pool);
    s.keyring = Some(std::sync::Arc::new(cockpit_domain::secret::Keyring::new(
        cockpit_domain::secret::MasterKey::from_bytes([4; 32]),
        vec![],
    )));
    let body = json!({
        "name": "SIEM", "kind": "webhook", "url": "https://siem.example/hooks/s3cr3t-path",
        "events": ["indicator.hit", "incident.declared"], "min_severity": "high",
        "digest": "daily"
    })
    .to_string();
    let req = Request::post("/api/v1/channels")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let res = router(s).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        created["signing_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let list = get_json(&pool, "/api/v1/channels", &admin).await;
    let c = &list["channels"][0];
    assert_eq!(c["id"], created["id"]);
    assert_eq!(c["target"], "https://siem.example");
    assert_eq!(c["events"], json!(["indicator.hit", "incident.declared"]));
    assert_eq!(c["min_severity"], "high");
    assert_eq!(c["digest"], "daily");
    assert_eq!(c["held_for_digest"], 0);
    assert_eq!(c["audit_log"], Value::Null, "a webhook takes no audit log");
    assert!(!list.to_string().contains("s3cr3t") && !list.to_string().contains("whsec_"));
    // A bad one: 400 with the reason, nothing added.
    let (status, v) = call(
        &pool,
        "POST",
        "/api/v1/channels",
        Some(&admin),
        None,
        Some(json!({"name": "x", "kind": "webhook", "url": "http://siem.example/"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("https"), "{v}");
    assert_eq!(
        get_json(&pool, "/api/v1/channels", &admin).await["channels"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
