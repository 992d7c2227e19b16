//! Connecting through the web-server flow (PKCE), refresh-token rotation
//! stored atomically, and an org whose grant is revoked asking for
//! re-authorization instead of retrying.

use std::{collections::HashMap, sync::Arc};

use cockpit_domain::secret::{Keyring, MasterKey, SecretField, SecretScope};
use cockpit_salesforce::{ExposeSecret, SecretString};
use cockpit_worker::{
    WorkerError,
    connect::{ConnectRequest, Credentials, connect, oauth_for_web},
    sync::{SyncSettings, sync_org},
};
use sfsim::{Sim, SimConfig};
use sqlx::PgPool;
use url::Url;

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in html.split("<input").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            tag.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(|v| v.replace("&amp;", "&").replace("&quot;", "\""))
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

/// Signs in on the sim's login page and allows access, like a person in a browser.
async fn browser(authorize: &Url, username: &str, password: &str) -> HashMap<String, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(authorize.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let post = authorize.join("/services/oauth2/authorize").unwrap();
    let mut form = hidden_inputs(&login);
    form.push(("username".into(), username.into()));
    form.push(("pw".into(), password.into()));
    let consent = http
        .post(post.clone())
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_inputs(&consent);
    form.push(("decision".into(), "allow".into()));
    let res = http.post(post).form(&form).send().await.unwrap();
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    location.query_pairs().into_owned().collect()
}

async fn stored_refresh(pool: &PgPool, keyring: &Keyring, org: uuid::Uuid) -> String {
    let sealed = cockpit_db::orgs::get_secret(pool, org, "refresh_token")
        .await
        .unwrap()
        .unwrap();
    keyring
        .open_str(SecretScope::org(org, SecretField::RefreshToken), &sealed)
        .unwrap()
        .expose_secret()
        .to_owned()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn web_flow_with_rotation_then_a_revoked_grant(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::spawn(SimConfig {
        tokens: 500,
        users: 100,
        apps: 8,
        rotate_refresh_tokens: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([5; 32]), vec![]));
    let c = &sim.credentials;
    let login = Url::parse(&c.login_url).unwrap();
    let secret = SecretString::from(c.client_secret.clone());
    let oauth = oauth_for_web(
        login.clone(),
        &c.client_id,
        Some(secret.clone()),
        false,
        Url::parse("http://127.0.0.1:8080/orgs/callback").unwrap(),
    )
    .unwrap();
    let auth = oauth.authorize_url().unwrap();
    assert!(auth.url.as_str().contains("code_challenge_method=S256"));
    let q = browser(&auth.url, &c.username, &c.password).await;
    assert_eq!(q["state"], auth.state.expose_secret(), "state round-trips");
    let tokens = oauth
        .exchange_code(&q["code"], &auth.pkce_verifier)
        .await
        .unwrap();
    let connected = connect(
        &pool,
        &keyring,
        ConnectRequest {
            name: "Acme".into(),
            login_url: login,
            client_id: c.client_id.clone(),
            client_secret: Some(secret),
            sandbox: false,
            api_version: "66.0".into(),
            credentials: Credentials::WebServer(Box::new(tokens)),
        },
    )
    .await
    .unwrap();
    assert!(connected.sees_all_tokens);
    let org = connected.id;
    let first = stored_refresh(&pool, &keyring, org).await;

    // The access token is memory-only, so the sync refreshes; with rotation
    // the new refresh token replaces the old one in the database.
    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    let second = stored_refresh(&pool, &keyring, org).await;
    assert_ne!(first, second, "rotated refresh token stored");
    sim.sim.expire_access_tokens();
    sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap();
    assert_ne!(second, stored_refresh(&pool, &keyring, org).await);

    // Someone revokes the cockpit's grant in Salesforce: the next sync marks
    // the org "needs re-authorization" and says so.
    let current = stored_refresh(&pool, &keyring, org).await;
    let res = reqwest::Client::new()
        .post(format!("{}/services/oauth2/revoke", sim.base_url))
        .form(&[("token", current)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sim.sim.expire_access_tokens();
    let err = sync_org(&pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.cause(), WorkerError::Salesforce(e) if e.needs_reauthorization()),
        "{err:?}"
    );
    let org_row = cockpit_db::orgs::get(&pool, org).await.unwrap().unwrap();
    assert_eq!(org_row.status, "needs_reauth");
    assert!(
        org_row
            .status_detail
            .unwrap_or_default()
            .contains("reconnected")
    );
}
