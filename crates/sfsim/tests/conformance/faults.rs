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
    let s: Value = t
        .http
        .get(t.url("/_sim/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
