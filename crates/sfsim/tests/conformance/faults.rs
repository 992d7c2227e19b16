use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sfsim::{Fault, SimConfig};

use crate::*;

#[tokio::test]
async fn server_errors_truncation_and_dropped_connections() {
    let t = start_default().await;
    t.rs.sim.set_fault(Fault::ServerErrorOnNth(2));
    assert_eq!(t.get(&format!("{V}/limits")).await.status(), StatusCode::OK);
    let r = t.get(&format!("{V}/limits")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 503, "SERVER_UNAVAILABLE");
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::OK,
        "fires once"
    );
    t.rs.sim.clear_faults();

    t.rs.sim.set_fault(Fault::TruncateJson { nth: 1 });
    let body = t.get(&format!("{V}/limits")).await.text().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "truncated: {body}"
    );
    assert!(
        serde_json::from_str::<Value>(&t.get(&format!("{V}/limits")).await.text().await.unwrap())
            .is_ok()
    );

    t.rs.sim.set_fault(Fault::DropConnectionMidBody { nth: 1 });
    let r = t
        .http
        .get(t.url(&format!("{V}/limits")))
        .bearer_auth(&t.token)
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the body must fail mid-way");
    t.rs.sim.clear_faults();

    t.rs.sim.set_fault(Fault::ServerErrorRate(1.0));
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    t.rs.sim.clear_faults();
    t.rs.sim.set_fault(Fault::Latency(Duration::from_millis(5)));
    assert_eq!(t.get(&format!("{V}/limits")).await.status(), StatusCode::OK);
    t.rs.sim.clear_faults();

    t.rs.sim.set_fault(Fault::ExhaustBudget);
    let r = t.get(&format!("{V}/limits")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 403, "REQUEST_LIMIT_EXCEEDED");
    t.rs.sim.set_api_usage(0);
    t.rs.sim.set_fault(Fault::ExpireSessions);
    let r = t.get(&format!("{V}/limits")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 401, "INVALID_SESSION_ID");
}

#[tokio::test]
async fn control_api_exists_only_when_enabled() {
    let t = start_default().await;
    let r = t.http.get(t.url("/_sim/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let s: Value = t.json("/_sim/status").await;
    assert!(s["requests"].as_u64().unwrap() >= 1);
    let r = t
        .http
        .post(t.url("/_sim/faults"))
        .json(&json!({"type": "server_error_on_nth", "nth": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    for fault in [
        json!({"type": "latency_on_path", "path": "/query", "ms": 250}),
        json!({"type": "slow_deploys", "ms": 30000}),
        json!({"type": "max_in_flight", "max": 8}),
    ] {
        let r = t
            .http
            .post(t.url("/_sim/faults"))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{fault}");
    }
    let s: Value = t.json("/_sim/status").await;
    let listed = s["faults"].to_string();
    for name in ["LatencyOnPath", "SlowDeploys", "MaxInFlight"] {
        assert!(listed.contains(name), "{name} in {listed}");
    }
    let r = t.http.delete(t.url("/_sim/faults")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t
        .http
        .post(t.url("/_sim/faults"))
        .json(&json!({"type": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let before = t.rs.sim.now();
    let c: Value = t
        .http
        .post(t.url("/_sim/clock"))
        .json(&json!({"advance_seconds": 86400}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after = chrono::DateTime::parse_from_rfc3339(c["now"].as_str().unwrap()).unwrap();
    assert!(after.timestamp() - before.timestamp() >= 86_400);

    let r = t
        .http
        .post(t.url("/_sim/api-usage"))
        .json(&json!({"used": 100000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::FORBIDDEN
    );
    t.http
        .post(t.url("/_sim/api-usage"))
        .json(&json!({"used": 0}))
        .send()
        .await
        .unwrap();

    let n = t.rs.sim.token_count();
    let r = t
        .http
        .post(t.url("/_sim/activity"))
        .json(&json!({"steps": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(t.rs.sim.token_count(), n);

    let creds: sfsim::Credentials = t
        .http
        .get(t.url("/_sim/credentials"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(creds.client_id, t.rs.credentials.client_id);
    let r = t
        .http
        .post(t.url("/_sim/expire-access-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn hostile_requests_never_cause_server_errors() {
    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let queries = [
        "SELECT Id FROM User WHERE Name =é",
        "SELECT Id FROM User WHERE Name = '🦊' OR Name LIKE '%\\%%'",
        "SELECT Id FROM OauthToken WHERE CreatedDate = LAST_N_DAYS:99999999999",
        "SELECT Id FROM OauthToken LIMIT 18446744073709551615 OFFSET 5",
        "SELECT Id FROM OauthToken WHERE UserId IN (SELECT Id FROM Nope)",
        "SELECT Id FROM OauthToken WHERE UserId IN (SELECT Id, Name FROM User)",
        "SELECT COUNT(Id), MAX(Name) FROM User GROUP BY Profile.Name",
        "SELECT SUM(Name) FROM User",
        "SELECT User.Profile.Bogus.Name FROM OauthToken",
        "SELECT Id FROM User WHERE CreatedDate > 9999-12-31T23:59:59Z",
        "SELECT Id FROM User WHERE CreatedDate > 0001-01-01T00:00:00Z ORDER BY Manager.Name DESC NULLS FIRST",
    ];
    for q in queries {
        let (s, b) = t.query(q).await;
        assert!(s.as_u16() < 500, "{q}: {s} {b}");
    }
    let paths = [
        format!("{V}/query/%00-1"),
        format!("{V}/query/01g-99999999999999999999"),
        format!("{V}/sobjects/EventLogFile/0AT5g0000000999ZZZ/LogFile"),
        format!("{V}/sobjects/User/005%F0%9F%A6%8A"),
        format!("{V}/apps/oauth/usage?page=18446744073709551615&pageSize=100"),
        format!("{V}/apps/oauth/usage/0xI/users"),
        "/id/x/y".to_string(),
        "/services/oauth2/authorize?response_type=code".to_string(),
        "/services/oauth2/revoke?token=%F0%9F%A6%8A".to_string(),
    ];
    for p in &paths {
        let r = t.get(p).await;
        assert!(r.status().as_u16() < 500, "{p}: {}", r.status());
    }
    for body in [
        "",
        "grant_type=",
        "grant_type=refresh_token&refresh_token=5Aep861%F0%9F%A6%8A.x",
        "%%%",
        "assertion=a.b.c&grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let r = t
            .http
            .post(t.url("/services/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let r = t
        .http
        .post(t.url("/_sim/clock"))
        .json(&json!({"advance_seconds": i64::MAX}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for soap in [
        "",
        "<",
        "<Envelope><Body><login><username>&bogus;</username></login></Body></Envelope>",
    ] {
        let r = t
            .http
            .post(t.url("/services/Soap/u/64.0"))
            .body(soap)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().as_u16() == 500 && r.text().await.unwrap().contains("faultcode"),
            "SOAP faults use 500 with a fault body"
        );
    }
}

#[tokio::test]
async fn introspection_and_third_party_refresh_token_lookup() {
    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let c = &t.rs.credentials;
    let form = [
        ("token", t.token.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
    ];
    let v: Value = t
        .http
        .post(t.url("/services/oauth2/introspect"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["username"], c.username.as_str());
    let form = [
        ("token", "nope"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
    ];
    let v: Value = t
        .http
        .post(t.url("/services/oauth2/introspect"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], false);

    let tok = t.query_ok("SELECT Id FROM OauthToken LIMIT 1").await;
    let id = tok["records"][0]["Id"].as_str().unwrap();
    let v: Value = t
        .http
        .get(t.url(&format!("/_sim/tokens/{id}/refresh-token")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["refresh_token"].as_str(),
        t.rs.sim.refresh_token_of(id).as_deref()
    );
    let apps: Value = t.json("/_sim/apps").await;
    assert_eq!(apps.as_array().unwrap().len(), 20);
    assert_eq!(
        apps.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["blocked"] == true)
            .count(),
        1
    );
}

#[tokio::test]
async fn revoke_calls_are_counted_and_revoke_latency_and_path_errors_apply() {
    let t = start(SimConfig {
        control: true,
        ..SimConfig::default()
    })
    .await;
    let id = sfsim::ids::make_id(sfsim::ids::OAUTH_TOKEN, 3);
    let rt = t.rs.sim.refresh_token_of(&id).expect("a live token");
    let r = t
        .http
        .post(t.url("/_sim/faults"))
        .json(&json!({"type": "revoke_latency", "ms": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for expected in [StatusCode::OK, StatusCode::BAD_REQUEST] {
        let r = t
            .http
            .post(t.url("/services/oauth2/revoke"))
            .form(&[("token", rt.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "revoked, then invalid_token");
    }
    let calls: Value = t.json("/_sim/revocations").await;
    assert_eq!(calls["calls"][&id], 2, "{calls}");
    assert_eq!(calls["total"], 2);
    // Latency on revoke only: other calls are not slowed (nothing to assert on
    // time), and a path fault answers 503 only where it applies.
    t.http.delete(t.url("/_sim/faults")).send().await.unwrap();
    let r = t
        .http
        .post(t.url("/_sim/faults"))
        .json(&json!({"type": "server_error_on_path", "path": "/limits"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        t.get(&format!("{V}/limits")).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        t.get(&format!("{V}/sobjects")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn too_many_calls_in_flight_are_refused_with_request_limit_exceeded() {
    let t = start_default().await;
    // Slow answers on one path keep calls in flight; one at a time is allowed.
    t.rs.sim.set_fault(Fault::LatencyOnPath(
        "/limits".into(),
        Duration::from_millis(400),
    ));
    t.rs.sim.set_fault(Fault::MaxInFlight(1));
    let url = format!("{V}/limits");
    let (a, b) = tokio::join!(t.get(&url), t.get(&url));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::FORBIDDEN]);
    let refused = if a.status() == StatusCode::FORBIDDEN {
        a
    } else {
        b
    };
    let s = refused.status();
    assert_rest_error(
        s,
        &refused.json().await.unwrap(),
        403,
        "REQUEST_LIMIT_EXCEEDED",
    );
    // One at a time goes through.
    assert_eq!(t.get(&url).await.status(), StatusCode::OK);
    t.rs.sim.clear_faults();
}
