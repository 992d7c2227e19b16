//! Threat hunting through the pages and the API: importing indicators (bad
//! lines refused unless the good ones are accepted; 100,000 lines in one
//! request), a hunt over archived activity with hostile log content shown
//! escaped, its exports, one click from a hit to an incident, and a hunt
//! that shows each person only their orgs.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{BASE, api_token, get, person, post, seed_org, send};

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn location(h: &axum::http::HeaderMap) -> String {
    h.get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Archived activity of the app `0H4AAA` ("App") in `org`: an API call and
/// a login from a hostile user agent at `ip`.
async fn archive(pool: &PgPool, org: Uuid, ip: &str, user_agent: &str) {
    let ua: i64 = sqlx::query_scalar(
        "INSERT INTO log_user_agents (user_agent) VALUES ($1)
         ON CONFLICT (user_agent) DO UPDATE SET user_agent = EXCLUDED.user_agent RETURNING id",
    )
    .bind(user_agent)
    .fetch_one(pool)
    .await
    .unwrap();
    for (source, ua) in [("api", None), ("login", Some(ua))] {
        sqlx::query(
            "INSERT INTO log_activity (org_id, day, source, app_key, app_name, user_id, user_name, ip, ua_id,
                                       subtype, requests, errors, first_seen, last_seen)
             VALUES ($1, current_date - 3, $2, '0H4AAA', 'App', '005AAA', 'u@x', $3::inet, $4,
                     'OauthRefreshToken', 7, 1, now() - interval '3 days', now() - interval '3 days' + interval '1 hour')",
        )
        .bind(org)
        .bind(source)
        .bind(ip)
        .bind(ua)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn indicators_are_imported_and_a_hunt_names_the_app(pool: PgPool) {
    let (a, ids_a) = seed_org(&pool, "Org A").await;
    let (b, _) = seed_org(&pool, "Org B").await;
    let hostile = "<script>alert(1)</script> evil-fetcher/1.0";
    archive(&pool, a, "185.220.101.33", hostile).await;
    archive(&pool, b, "185.220.101.40", "quiet/1.0").await;
    let (cookie, csrf) = person(&pool, "analyst@example.com", "analyst", None).await;

    // Bad lines: nothing imported, each bad line named.
    let content = "185.220.101.0/24\nnot an indicator\nua_contains: evil-fetcher\n999.1.1.1\n";
    let body = form(&[
        ("csrf", &csrf),
        ("name", "Campaign X"),
        ("source_label", "Advisory"),
        ("source_url", "https://example.com/advisory"),
        ("format", "auto"),
        ("content", content),
    ]);
    let (status, _, html) = send(&pool, post("/indicators", Some(&cookie), Some(BASE), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Nothing was imported"), "{html}");
    assert!(html.contains("line 2") && html.contains("line 4"), "{html}");
    let sets: i64 = sqlx::query_scalar("SELECT count(*) FROM indicator_sets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sets, 0);

    // Accepting the good lines imports them.
    let body = form(&[
        ("csrf", &csrf),
        ("name", "Campaign X"),
        ("source_label", "Advisory"),
        ("format", "auto"),
        ("content", content),
        ("accept_good", "yes"),
    ]);
    let (status, h, _) = send(&pool, post("/indicators", Some(&cookie), Some(BASE), body)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set_page = location(&h);
    assert!(
        set_page.starts_with("/indicators/") && set_page.ends_with("imported=2"),
        "{set_page}"
    );
    let set: i64 = sqlx::query_scalar("SELECT id FROM indicator_sets WHERE name = 'Campaign X'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // A hunt by someone who sees org A only.
    let (one, one_csrf) = person(&pool, "one@example.com", "analyst", Some(a)).await;
    let body = form(&[("csrf", &one_csrf), ("set", &set.to_string())]);
    let (status, h, _) = send(&pool, post("/hunts", Some(&one), Some(BASE), body)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let hunt_page = location(&h);
    let (status, _, html) = send(&pool, get(&hunt_page, Some(&one))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Org A") && !html.contains("Org B"),
        "only their org"
    );
    assert!(html.contains("185.220.101.33") && !html.contains("185.220.101.40"));
    assert!(!html.contains("<script>alert(1)"), "log content is escaped");
    assert!(
        html.contains("alert(1)") && html.contains("evil-fetcher"),
        "shown escaped"
    );
    assert!(html.contains("OauthRefreshToken"));

    // The global analyst's hunt sees both orgs; its exports too.
    let body = form(&[("csrf", &csrf), ("set", &set.to_string())]);
    let (_, h, _) = send(&pool, post("/hunts", Some(&cookie), Some(BASE), body)).await;
    let hunt_page = location(&h);
    let (_, _, csv) = send(
        &pool,
        get(&format!("{hunt_page}/export.csv"), Some(&cookie)),
    )
    .await;
    assert!(csv.contains("Org A") && csv.contains("Org B"), "{csv}");
    assert!(csv.lines().next().unwrap().starts_with("org,org_id,app"));
    let (status, _, json) = send(
        &pool,
        get(&format!("{hunt_page}/export.json"), Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["hits"].as_array().unwrap().len() >= 3, "{v}");

    // One click from a hit declares an incident about the app in its org.
    let (_, _, html) = send(&pool, get(&hunt_page, Some(&cookie))).await;
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("form.declare-from-hit").unwrap();
    let first = doc.select(&sel).next().expect("a declare button");
    let input = scraper::Selector::parse("input").unwrap();
    let fields: Vec<(String, String)> = first
        .select(&input)
        .map(|i| {
            (
                i.value().attr("name").unwrap_or_default().to_owned(),
                i.value().attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, h, _) = send(
        &pool,
        post("/incidents", Some(&cookie), Some(BASE), form(&pairs)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/incidents/"));
    let apps: i64 =
        sqlx::query_scalar("SELECT count(*) FROM incident_apps WHERE app_key = '0H4AAA'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(apps, 1, "the hit's app in the hit's org");

    // The app's page: where it calls from, with the network's autonomous
    // system once the operator loaded the table.
    cockpit_db::ip_asn::replace(
        &pool,
        &[cockpit_db::ip_asn::Range {
            start: "185.220.101.0".parse().unwrap(),
            end: "185.220.101.255".parse().unwrap(),
            asn: 60729,
            country: Some("DE".into()),
            name: Some("TORSERVERS-NET".into()),
        }],
    )
    .await
    .unwrap();
    let (status, _, html) = send(
        &pool,
        get(&format!("/apps/{}", ids_a["app"]), Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("185.220.101.0/24") && html.contains("AS60729 TORSERVERS-NET"),
        "{html}"
    );

    // The audit log has the import and the hunts.
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('indicators.imported', 'hunt.run')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 3);
}

fn api(method: &str, path: &str, token: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn the_api_imports_100000_indicators_and_runs_hunts(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Org A").await;
    archive(&pool, a, "10.1.134.159", "python-requests/2.32.4").await;
    let token = api_token(&pool, "analyst").await;

    // 100,000 addresses in one request.
    let lines: Vec<String> = (0..100_000u32)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let body =
        serde_json::json!({"name": "Big feed", "format": "text", "content": lines.join("\n")});
    let (status, _, out) = send(
        &pool,
        api("POST", "/api/v1/indicators", &token, body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["added"], 100_000);
    let set = v["set"].as_i64().unwrap();

    // Bad lines: 422 with each, nothing imported.
    let body = serde_json::json!({"name": "Bad", "content": "1.2.3.4\nbogus line"});
    let (status, _, out) = send(
        &pool,
        api("POST", "/api/v1/indicators", &token, body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert!(out.contains(r#""line":2"#), "{out}");

    // A hunt, and the same hunt read back.
    let (status, _, out) = send(
        &pool,
        api(
            "POST",
            "/api/v1/hunts",
            &token,
            format!(r#"{{"sets":[{set}]}}"#),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "one org, app and person: {v}");
    assert_eq!(hits[0]["value"], "10.1.134.159");
    assert_eq!(hits[0]["requests"], 14);
    let id = v["hunt"]["id"].as_i64().unwrap();
    let (status, _, out) = send(
        &pool,
        api("GET", &format!("/api/v1/hunts/{id}"), &token, String::new()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["hits"], v["hits"]);

    // No such set: a clear 400.
    let (status, _, _) = send(
        &pool,
        api(
            "POST",
            "/api/v1/hunts",
            &token,
            r#"{"sets":[424242]}"#.into(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_indicator_removed_from_a_shipped_set_stays_removed(pool: PgPool) {
    let (org, _) = seed_org(&pool, "Org A").await;
    cockpit_db::hunts::install_shipped(&pool).await.unwrap();
    let (set, indicator): (i64, i64) = sqlx::query_as(
        "SELECT i.set_id, i.id FROM indicators i JOIN indicator_sets s ON s.id = i.set_id
         WHERE s.builtin AND i.value = '208.68.36.90'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // A live hit of it on the overview.
    archive(&pool, org, "208.68.36.90", "x/1").await;
    cockpit_db::hunts::match_active(&pool, org).await.unwrap();
    let hit_of = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM hunt_hits WHERE hunt_id IS NULL AND value = '208.68.36.90'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(hit_of(pool.clone()).await, 1);

    // A viewer may not remove it; an analyst may, once.
    let (viewer, viewer_csrf) = person(&pool, "viewer@example.com", "viewer", None).await;
    let path = format!("/indicators/{set}/remove");
    let body = form(&[
        ("csrf", &viewer_csrf),
        ("indicator", &indicator.to_string()),
    ]);
    let (status, _, _) = send(&pool, post(&path, Some(&viewer), Some(BASE), body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (cookie, csrf) = person(&pool, "analyst@example.com", "analyst", None).await;
    let body = form(&[("csrf", &csrf), ("indicator", &indicator.to_string())]);
    let (status, h, _) = send(&pool, post(&path, Some(&cookie), Some(BASE), body.clone())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), format!("/indicators/{set}?removed=1"));
    let (status, h, _) = send(&pool, post(&path, Some(&cookie), Some(BASE), body)).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a second click changes nothing"
    );
    assert_eq!(location(&h), format!("/indicators/{set}"));
    let bad = form(&[("csrf", &csrf), ("indicator", "x")]);
    let (status, _, _) = send(&pool, post(&path, Some(&cookie), Some(BASE), bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let present = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM indicators WHERE set_id = $1 AND value = '208.68.36.90'",
        )
        .bind(set)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(present(pool.clone()).await, 0);
    assert_eq!(hit_of(pool.clone()).await, 0, "its hit is off the overview");
    let (_, _, html) = send(
        &pool,
        get(&format!("/indicators/{set}?removed=1"), Some(&cookie)),
    )
    .await;
    assert!(
        !html.contains("<code>208.68.36.90</code>") && html.contains("will not add it back"),
        "{html}"
    );

    // The shipped set's next update does not bring it back, nor does the
    // next match find it.
    cockpit_db::hunts::install_shipped(&pool).await.unwrap();
    assert_eq!(present(pool.clone()).await, 0);
    cockpit_db::hunts::match_active(&pool, org).await.unwrap();
    assert_eq!(hit_of(pool.clone()).await, 0);

    // Imported by hand into the set again, it is back.
    let name: String = sqlx::query_scalar("SELECT name FROM indicator_sets WHERE id = $1")
        .bind(set)
        .fetch_one(&pool)
        .await
        .unwrap();
    let body = form(&[
        ("csrf", &csrf),
        ("name", &name),
        ("source_label", "Advisory"),
        ("format", "auto"),
        ("content", "208.68.36.90\n"),
    ]);
    let (status, _, _) = send(&pool, post("/indicators", Some(&cookie), Some(BASE), body)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(present(pool.clone()).await, 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'indicators.removed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}
