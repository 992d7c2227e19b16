//! Single sign-on through the real router against sfsim as the OpenID
//! Connect provider (Salesforce is one): discovery, PKCE, nonce, id_token
//! signature by the published keys, the role from a custom attribute, the
//! account created and linked, a callback that works once and only in the
//! browser that started it, and the fresh sign-in that stands in for the
//! password before a dangerous action.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use cockpit_domain::{
    role::Role,
    secret::{Keyring, MasterKey},
};
use cockpit_web::{
    AppState,
    oidc::{Sso, SsoConfig},
};
use sfsim::{RunningSim, Sim, SimConfig};
use sqlx::PgPool;

mod common;
use common::{BASE, get, hidden_inputs, person, post, send_with as send, sfsim_sign_in};

fn set_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")) && !v.contains("Max-Age=0"))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

async fn setup(pool: &PgPool) -> (RunningSim, AppState) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::spawn(SimConfig {
        tokens: 50,
        users: 20,
        apps: 3,
        custom_attributes: vec![("cockpit_role".into(), "$Profile.Name".into())],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut state = AppState::new(pool.clone(), BASE);
    state.keyring = Some(Arc::new(Keyring::new(
        MasterKey::from_bytes([3; 32]),
        vec![],
    )));
    state.sso = Some(
        Sso::new(
            SsoConfig {
                issuer: sim.base_url.clone(),
                client_id: sim.credentials.client_id.clone(),
                client_secret: Some(sim.credentials.client_secret.clone().into()),
                scopes: vec!["email".into(), "profile".into()],
                role_claim: "custom_attributes.cockpit_role".into(),
                role_map: vec![("System Administrator".into(), Role::Admin)],
                default_role: None,
                label: "Salesforce <Acme>".into(),
            },
            &state.public_url,
        )
        .unwrap(),
    );
    // Someone exists already, so /signin is not the first-run page.
    person(pool, "first@example.com", "admin", None).await;
    (sim, state)
}

/// The sign-in page's SSO button, pressed: returns the provider's URL and
/// the browser's pre-sign-in cookie.
async fn press_sso_button(state: &AppState) -> (url::Url, String) {
    let (status, headers, page) = send(state, get("/signin", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Sign in with Salesforce &#60;Acme&#62;")
            || page.contains("Sign in with Salesforce &lt;Acme&gt;"),
        "the button names the provider, escaped: {page}"
    );
    let form_cookie = set_cookie(&headers, state.auth.presession_cookie()).unwrap();
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let csrf = hidden_inputs(&page)
        .into_iter()
        .find(|(n, _)| n == "csrf")
        .unwrap()
        .1;
    let (status, headers, body) = send(
        state,
        post(
            "/signin/sso",
            Some(&form_cookie),
            Some(BASE),
            format!("csrf={csrf}&next=%2Fapps"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let to = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    // Browsers apply the page's form-action to the redirect after a form:
    // the provider must be allowed there, or the button does nothing.
    let form_action = csp
        .split(';')
        .find(|d| d.trim_start().starts_with("form-action"))
        .unwrap();
    assert!(
        form_action
            .split_whitespace()
            .any(|s| s == to.origin().ascii_serialization()),
        "{csp}"
    );
    (to, form_cookie)
}

/// The person signs in at sfsim and allows access; returns the callback
/// path (with its query).
async fn at_provider(authorize: &url::Url, username: &str, password: &str) -> String {
    let callback = sfsim_sign_in(authorize, username, password).await;
    assert_eq!(callback.path(), "/signin/sso/callback");
    format!("{}?{}", callback.path(), callback.query().unwrap())
}

async fn audit_actions(pool: &PgPool) -> Vec<(String, String, serde_json::Value)> {
    sqlx::query_as("SELECT action, actor, detail FROM audit_log ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn sign_in_with_the_provider_creates_a_linked_admin(pool: PgPool) {
    let (sim, state) = setup(&pool).await;
    let c = &sim.credentials;
    let (authorize, form_cookie) = press_sso_button(&state).await;
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/services/oauth2/authorize", sim.base_url))
    );
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(q.contains_key("nonce") && q.contains_key("state"));
    assert!(!authorize.as_str().contains(&c.client_secret));

    let callback = at_provider(&authorize, &c.username, &c.password).await;
    let (status, headers, body) = send(&state, get(&callback, Some(&form_cookie))).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(
        headers[header::LOCATION],
        "/apps",
        "back where they were going"
    );
    let session = set_cookie(&headers, state.auth.session_cookie()).expect("a session");

    let (email, role, issuer, subject): (String, Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT email, role, sso_issuer, sso_subject FROM accounts WHERE lower(email) = lower($1)",
        )
        .bind(&c.username)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(email.to_lowercase(), c.username.to_lowercase());
    assert_eq!(
        role.as_deref(),
        Some("admin"),
        "System Administrator maps to admin"
    );
    assert_eq!(issuer.as_deref(), Some(sim.base_url.as_str()));
    assert!(
        subject.unwrap().contains(&c.org_id),
        "the Salesforce identity URL is the subject"
    );

    // Signed in: the apps page opens with this session.
    let (status, _, page) = send(&state, get("/apps", Some(&session))).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    let log = audit_actions(&pool).await;
    assert!(log.iter().any(|(a, actor, d)| a == "account.created"
        && actor.starts_with("sso:")
        && d["via"] == "sso"));
    assert!(
        log.iter()
            .any(|(a, _, d)| a == "signin" && d["method"] == "sso")
    );

    // The same answer cannot be used twice.
    let (status, _, body) = send(&state, get(&callback, Some(&form_cookie))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("expired or was already used"), "{body}");

    // A second sign-in finds the same account (by its subject), no duplicate.
    let (authorize, form_cookie) = press_sso_button(&state).await;
    let callback = at_provider(&authorize, &c.username, &c.password).await;
    let (status, _, _) = send(&state, get(&callback, Some(&form_cookie))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE sso_subject IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_callback_in_another_browser_and_an_identity_without_a_role_are_refused(pool: PgPool) {
    let (sim, state) = setup(&pool).await;
    let c = &sim.credentials;

    // Someone else's callback URL opened in this browser (login CSRF).
    let (authorize, _theirs) = press_sso_button(&state).await;
    let callback = at_provider(&authorize, &c.username, &c.password).await;
    let (status, headers, body) = send(
        &state,
        get(&callback, Some("__Host-cockpit_form=another-browser")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("started in another browser"), "{body}");
    assert!(set_cookie(&headers, state.auth.session_cookie()).is_none());

    // A Salesforce user whose profile maps to no role.
    let standard: String = {
        let (user, _) = sim.sim.ordinary_user();
        user
    };
    let password = sim.sim.password_for(&standard).unwrap();
    let (authorize, form_cookie) = press_sso_button(&state).await;
    let callback = at_provider(&authorize, &standard, &password).await;
    let (status, headers, body) = send(&state, get(&callback, Some(&form_cookie))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("has no role in the cockpit"), "{body}");
    assert!(set_cookie(&headers, state.auth.session_cookie()).is_none());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE lower(email) = lower($1)")
        .bind(&standard)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "no account for an identity without a role");
    assert!(
        audit_actions(&pool)
            .await
            .iter()
            .any(|(a, _, _)| a == "signin.failed")
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_fresh_provider_sign_in_confirms_before_a_dangerous_action(pool: PgPool) {
    let (sim, state) = setup(&pool).await;
    let c = &sim.credentials;
    let (authorize, form_cookie) = press_sso_button(&state).await;
    let callback = at_provider(&authorize, &c.username, &c.password).await;
    let (_, headers, _) = send(&state, get(&callback, Some(&form_cookie))).await;
    let session = set_cookie(&headers, state.auth.session_cookie()).unwrap();
    sqlx::query("UPDATE sessions SET reauth_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();

    // No password here: the re-check page offers the provider only.
    let (status, _, page) = send(&state, get("/reauth?next=%2Forgs", Some(&session))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("action=\"/reauth/sso\""));
    assert!(
        !page.contains("name=\"password\""),
        "no password field for an SSO-only account"
    );
    let csrf = hidden_inputs(&page)
        .into_iter()
        .find(|(n, _)| n == "csrf")
        .unwrap()
        .1;
    let (status, headers, _) = send(
        &state,
        post(
            "/reauth/sso",
            Some(&session),
            Some(BASE),
            format!("csrf={csrf}&next=%2Forgs"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let authorize = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["prompt"], "login", "the provider must authenticate again");
    assert_eq!(q["login_hint"].to_lowercase(), c.username.to_lowercase());

    let callback = at_provider(&authorize, &c.username, &c.password).await;
    let (status, headers, body) = send(&state, get(&callback, Some(&session))).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/orgs");
    let fresh: bool =
        sqlx::query_scalar("SELECT bool_and(reauth_at > now() - interval '1 minute') FROM sessions WHERE ended_at IS NULL AND account_id = (SELECT id FROM accounts WHERE sso_subject IS NOT NULL)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(fresh, "the session counts as freshly confirmed");
}
