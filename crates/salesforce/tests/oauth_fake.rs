//! The web-server code exchange (through the oauth2 adapter), identity and revoke against a
//! fake token endpoint that checks exactly what Salesforce checks.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use cockpit_salesforce::{Error, ExposeSecret, OAuthClient, OAuthConfig, SecretString};
use serde_json::json;
use sha2::Digest;
use url::Url;

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn token(
    State((seen, challenge)): State<(Seen, Arc<Mutex<String>>)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    seen.lock().unwrap().push(form.clone());
    let host = headers[header::HOST].to_str().unwrap().to_owned();
    let verifier_ok = form.get("code_verifier").is_some_and(|v| {
        let digest = sha2::Sha256::digest(v.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
            == *challenge.lock().unwrap()
    });
    if form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || form.get("code").map(String::as_str) != Some("aPrxCODE")
        || form.get("client_secret").map(String::as_str) != Some("CLIENT-SECRET")
        || form.get("redirect_uri").map(String::as_str) != Some("https://cockpit.example/callback")
        || !verifier_ok
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": "invalid authorization code"}),
        );
    }
    json_response(
        StatusCode::OK,
        json!({
            "access_token": "00D000000000001!ACCESS-SECRET",
            "refresh_token": "5Aep-REFRESH-SECRET",
            "signature": "x", "scope": "refresh_token api",
            "instance_url": format!("http://{host}"),
            "id": format!("http://{host}/id/00D000000000001AAA/005000000000001AAA"),
            "token_type": "Bearer", "issued_at": "1790000000000"
        }),
    )
}

async fn identity(headers: HeaderMap) -> Response {
    if headers[header::AUTHORIZATION] != "Bearer 00D000000000001!ACCESS-SECRET" {
        return StatusCode::FORBIDDEN.into_response();
    }
    json_response(
        StatusCode::OK,
        json!({"id": "x", "user_id": "005000000000001AAA", "organization_id": "00D000000000001AAA",
               "username": "admin@acme.com", "display_name": "Admin", "email": "a@acme.com",
               "urls": {"rest": "https://acme/services/data/v{version}/"}, "extra": 1}),
    )
}

async fn revoke(Form(form): Form<HashMap<String, String>>) -> Response {
    if form.get("token").map(String::as_str) == Some("5Aep-REFRESH-SECRET") {
        StatusCode::OK.into_response()
    } else {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_token", "error_description": "invalid token"}),
        )
    }
}

#[tokio::test]
async fn web_server_flow_exchange_identity_and_revoke() {
    run_web_server_flow().await;
}

async fn run_web_server_flow() {
    let seen: Seen = Arc::default();
    let challenge = Arc::new(Mutex::new(String::new()));
    let router = Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/id/{org}/{user}", get(identity))
        .route("/services/oauth2/revoke", post(revoke))
        .with_state((seen.clone(), challenge.clone()));
    let base = common::serve(router).await;

    let mut cfg = OAuthConfig::new(Url::parse(&base).unwrap(), "CID");
    cfg.client_secret = Some(SecretString::from("CLIENT-SECRET"));
    cfg.redirect_uri = Some(Url::parse("https://cockpit.example/callback").unwrap());
    let oauth = OAuthClient::new(cfg).unwrap();
    let auth = oauth.authorize_url().unwrap();
    let q: HashMap<_, _> = auth.url.query_pairs().into_owned().collect();
    *challenge.lock().unwrap() = q["code_challenge"].clone();

    // A wrong code is invalid_grant, i.e. "reconnect".
    let err = oauth
        .exchange_code("wrong", &auth.pkce_verifier)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");

    let t = oauth
        .exchange_code("aPrxCODE", &auth.pkce_verifier)
        .await
        .unwrap();
    assert_eq!(t.access_token.expose(), "00D000000000001!ACCESS-SECRET");
    assert_eq!(
        t.refresh_token.as_ref().unwrap().expose_secret(),
        "5Aep-REFRESH-SECRET"
    );
    assert_eq!(t.instance_url.as_str(), format!("{base}/"));
    assert_eq!(t.scope.as_deref(), Some("refresh_token api"));
    assert_eq!(t.issued_at.unwrap().timestamp(), 1_790_000_000);
    assert_eq!(
        t.ids(),
        Some(("00D000000000001AAA".into(), "005000000000001AAA".into()))
    );
    let debug = format!("{t:?}");
    assert!(!debug.contains("ACCESS-SECRET") && !debug.contains("REFRESH-SECRET"));

    let id = oauth
        .identity(t.id.as_ref().unwrap(), &t.access_token)
        .await
        .unwrap();
    assert_eq!(id.username, "admin@acme.com");
    assert_eq!(id.organization_id, "00D000000000001AAA");

    let host = Url::parse(&base).unwrap();
    oauth
        .revoke(
            &host,
            t.refresh_token.as_ref().unwrap(),
            Some(&t.access_token),
        )
        .await
        .unwrap();
    let err = oauth
        .revoke(&host, &SecretString::from("nope"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::OAuth { ref code, .. } if code == "invalid_token"),
        "{err:?}"
    );

    let forms = seen.lock().unwrap();
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[1]["client_id"], "CID");
}
