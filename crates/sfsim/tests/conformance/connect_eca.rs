use reqwest::StatusCode;
use serde_json::Value;

use crate::*;

#[tokio::test]
async fn eca_oauth_usage_list_revoke_and_paging() {
    let t = start(sfsim::SimConfig {
        tokens: 5_000,
        ..sfsim::SimConfig::default()
    })
    .await;
    let v: Value = t
        .get(&format!("{V}/apps/oauth/usage"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["currentPageUrl"],
        format!("{V}/apps/oauth/usage?page=0&pageSize=100")
    );
    assert_eq!(
        v["nextPageUrl"],
        format!("{V}/apps/oauth/usage?page=1&pageSize=100")
    );
    let apps = v["apps"].as_array().unwrap();
    assert!(!apps.is_empty());
    let app = &apps[0];
    let app_id = app["identifier"].as_str().unwrap().to_string();
    let label = app["label"].as_str().unwrap().to_string();
    assert!(app_id.starts_with("0xI"));
    assert!(app["developerName"].is_string());

    // Past the end: empty list, nextPageUrl still present.
    let v: Value = t
        .get(&format!("{V}/apps/oauth/usage?page=50&pageSize=10"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["apps"].as_array().unwrap().len(), 0);
    assert!(v["nextPageUrl"].is_string());

    let users: Value = t
        .get(&format!("{V}/apps/oauth/usage/{app_id}/users?pageSize=2"))
        .await
        .json()
        .await
        .unwrap();
    let list = users["users"].as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 2);
    let uid = list[0]["userIdentifier"].as_str().unwrap().to_string();
    let toks: Value = t
        .get(&format!("{V}/apps/oauth/usage/{app_id}/{uid}/tokens"))
        .await
        .json()
        .await
        .unwrap();
    let tl = toks["tokens"].as_array().unwrap();
    assert!(!tl.is_empty());
    for k in [
        "accessTokenFormat",
        "appDeveloperName",
        "appIdentifier",
        "initialConnectionAt",
        "lastUsedAt",
        "revocationUrl",
        "useCount",
        "userIdentifier",
        "username",
    ] {
        assert!(!tl[0][k].is_null() || k == "lastUsedAt", "{k}: {}", tl[0]);
    }
    let before = t.rs.sim.tokens_for_user(&uid);
    let r = t
        .http
        .delete(t.url(tl[0]["revocationUrl"].as_str().unwrap()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.rs.sim.tokens_for_user(&uid), before - 1);
    let r = t
        .http
        .delete(t.url(tl[0]["revocationUrl"].as_str().unwrap()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = t
        .http
        .delete(t.url(&format!("{V}/apps/oauth/usage/{app_id}/{uid}/tokens")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let toks: Value = t
        .get(&format!("{V}/apps/oauth/usage/{app_id}/{uid}/tokens"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(toks["tokens"].as_array().unwrap().len(), 0);

    let r = t
        .http
        .delete(t.url(&format!("{V}/apps/oauth/usage/{app_id}/tokens")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.rs.sim.tokens_for_app(&label), 0);

    let r = t
        .get(&format!("{V}/apps/oauth/usage/0xI5g0000000999ZZZ/users"))
        .await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 404, "NOT_FOUND");
    let r = t.get(&format!("{V}/apps/oauth/usage?pageSize=0")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
