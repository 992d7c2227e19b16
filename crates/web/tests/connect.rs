//! "Connect an org" in the web interface: the web-server flow with PKCE and
//! state, through sfsim's own sign-in and consent pages, back to the org's
//! page; secrets stored sealed; a callback cannot be replayed.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_web::AppState;
use sfsim::{Sim, SimConfig};
use sqlx::PgPool;

mod common;
use common::{BASE, get, person, post, send_with as send, sfsim_sign_in};

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn connect_an_org_from_the_web(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::spawn(SimConfig {
        tokens: 200,
        users: 50,
        apps: 5,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut state = AppState::new(pool.clone(), BASE);
    state.keyring = Some(Arc::new(Keyring::new(
        MasterKey::from_bytes([1; 32]),
        vec![],
    )));
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    let c = &sim.credentials;
    // sfsim listens on loopback over http: allowed as the operator would.
    state.salesforce_hosts = vec![c.login_url.trim_start_matches("http://").to_owned()];

    let (status, _, page) = send(&state, get("/orgs/connect", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("http://127.0.0.1:8080/orgs/callback"),
        "the page tells the callback URL to register"
    );

    let form = format!(
        "csrf={csrf}&name=Acme+EU&environment=my_domain&my_domain={}&client_id={}&client_secret={}",
        urlencode(&c.login_url),
        urlencode(&c.client_id),
        urlencode(&c.client_secret)
    );
    let (status, headers, body) = send(
        &state,
        post("/orgs/connect", Some(&cookie), Some(BASE), form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let authorize = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/services/oauth2/authorize", c.login_url)),
        "{authorize}"
    );
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        !authorize.as_str().contains(&c.client_secret),
        "the secret never goes to the browser"
    );

    // The person signs in at Salesforce and allows access.
    let callback = sfsim_sign_in(&authorize, &c.username, &c.password).await;
    assert_eq!(callback.path(), "/orgs/callback");
    let local = format!("{}?{}", callback.path(), callback.query().unwrap());

    let (status, headers, body) = send(&state, get(&local, Some(&cookie))).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let org_page = headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(org_page.starts_with("/orgs/"));
    let (status, _, page) = send(&state, get(&org_page, Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&c.org_id) && page.contains(&c.username),
        "identity shown on the org page"
    );
    assert!(page.contains("web_server"));

    // Secrets: stored, sealed, never plaintext.
    let sealed: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT field, sealed FROM org_secrets ORDER BY field")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        sealed.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["client_secret", "refresh_token"]
    );
    for (_, bytes) in &sealed {
        assert!(
            !bytes
                .windows(c.client_secret.len())
                .any(|w| w == c.client_secret.as_bytes())
        );
    }
    // The callback works once.
    let (status, _, body) = send(&state, get(&local, Some(&cookie))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("start again"));

    // Disconnect: the cockpit's own refresh token is revoked at Salesforce,
    // the stored secrets and the org are gone.
    let org: uuid::Uuid = org_page.trim_start_matches("/orgs/").parse().unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT sealed FROM org_secrets WHERE org_id = $1 AND field = 'refresh_token'",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    let refresh = state
        .keyring
        .as_ref()
        .unwrap()
        .open_str(
            cockpit_domain::secret::SecretScope::org(
                org,
                cockpit_domain::secret::SecretField::RefreshToken,
            ),
            &sealed,
        )
        .unwrap();
    let (status, headers, body) = send(
        &state,
        post(
            &format!("/orgs/{org}/disconnect"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/orgs");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM org_secrets")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "secrets deleted");
    let res = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", c.login_url))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                secrecy::ExposeSecret::expose_secret(&refresh),
            ),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(
        body.contains("invalid_grant"),
        "the cockpit's grant is revoked at Salesforce: {body}"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('org.connected', 'org.disconnected')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
