//! Incidents through the web interface and the API: declared from a search
//! (the matches confirmed per org), contained as one request (block, then
//! revoke all, in every org), contained once however many press it, closed
//! with a note, and every step on the timeline.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use cockpit_web::auth::hash_token;
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{BASE, get, person, post, seed_org, send};

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn declare_contain_once_and_close(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let (b, _) = seed_org(&pool, "Globex").await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;

    // The declaration form lists the app in both orgs.
    let (status, _, page) = send(&pool, get("/incidents/new?q=app", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("{a}:0H4AAA")) && page.contains(&format!("{b}:0H4AAA")));
    // Without a confirmed match, nothing is declared.
    let (status, _, page) = send(
        &pool,
        post(
            "/incidents",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&q=app&title=T&severity=high"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Confirm the app"));
    let body = format!(
        "csrf={csrf}&q=app&title=Stolen+tokens&severity=critical&ticket=SEC-9&app={a}%3A0H4AAA&app={b}%3A0H4AAA"
    );
    let (status, headers, _) =
        send(&pool, post("/incidents", Some(&cookie), Some(BASE), body)).await;
    assert!(status.is_redirection());
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    let id: i64 = to.trim_start_matches("/incidents/").parse().unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM incident_apps").await, 2);

    // A reason is needed; then one containment, whoever presses again.
    let contain = |body: String| {
        post(
            &format!("/incidents/{id}/contain"),
            Some(&cookie),
            Some(BASE),
            body,
        )
    };
    let (status, _, _) = send(&pool, contain(format!("csrf={csrf}&reason="))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let (status, _, _) =
            send(&pool, contain(format!("csrf={csrf}&reason=INC-9+contain"))).await;
        assert!(status.is_redirection());
    }
    let kinds: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT org_id, kind FROM actions WHERE incident_id = $1 ORDER BY org_id, id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        kinds.len(),
        4,
        "block and revoke all in each org, once: {kinds:?}"
    );
    for org in [a, b] {
        let mine: Vec<&str> = kinds
            .iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, k)| k.as_str())
            .collect();
        assert_eq!(mine, ["block_app", "revoke_app_all"], "block first");
    }
    let (_, _, page) = send(&pool, get(&to, Some(&cookie))).await;
    assert!(
        page.contains("contain_requested") && page.contains("declared"),
        "timeline"
    );
    assert!(
        !page.contains("Contain in"),
        "no second containment offered"
    );

    // Closing needs a note, and is audited.
    let close = |body: String| {
        post(
            &format!("/incidents/{id}/close"),
            Some(&cookie),
            Some(BASE),
            body,
        )
    };
    assert_eq!(
        send(&pool, close(format!("csrf={csrf}&note="))).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(
        send(&pool, close(format!("csrf={csrf}&note=Vendor+clean")))
            .await
            .0
            .is_redirection()
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'incident.%'"
        )
        .await,
        3,
        "declared, contain requested, closed"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_admin_of_one_org_cannot_contain_an_incident_that_spans_two(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let (b, _) = seed_org(&pool, "Globex").await;
    let (admin, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    let body = format!("csrf={csrf}&q=app&title=T&severity=high&app={a}%3A0H4AAA&app={b}%3A0H4AAA");
    let (_, headers, _) = send(&pool, post("/incidents", Some(&admin), Some(BASE), body)).await;
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (one, csrf1) = person(&pool, "one@example.com", "admin", Some(a)).await;
    let (status, _, page) = send(&pool, get(&to, Some(&one))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("orgs you have no role in") && !page.contains("Globex"),
        "only their org"
    );
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/contain"),
            Some(&one),
            Some(BASE),
            format!("csrf={csrf1}&reason=x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM actions WHERE incident_id IS NOT NULL"
        )
        .await,
        0
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn declared_and_read_through_the_api(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let token = format!("ock_{}", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, role) VALUES ($1, 'soar', $2, 'analyst')",
    )
    .bind(Uuid::new_v4())
    .bind(hash_token(&token))
    .execute(&pool)
    .await
    .unwrap();
    let req = Request::post("/api/v1/incidents")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"title":"Drift tokens","severity":"critical","q":"App"}"#,
        ))
        .unwrap();
    let (status, _, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = v["incident"]["id"].as_i64().unwrap();
    assert_eq!(v["apps"][0]["org_id"], a.to_string());
    let req = Request::get(format!("/api/v1/incidents/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["incident"]["title"], "Drift tokens");
    assert_eq!(v["complete"], true);
    assert_eq!(v["timeline"][0]["kind"], "declared");
}
