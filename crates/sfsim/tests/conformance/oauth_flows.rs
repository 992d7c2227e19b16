use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::Value;
use sfsim::SimConfig;
use sha2::{Digest, Sha256};

use crate::*;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier-0123456789";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn extract(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[i..i + html[i..].find('"').unwrap()].to_string()
}

/// Walks the login + consent pages; returns the final redirect Location.
async fn authorize(
    t: &T,
    client_id: &str,
    redirect: &str,
    user: &str,
    pw: &str,
    decision: &str,
) -> String {
    let ch = challenge();
    let params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "api refresh_token"),
        ("state", "st<&>ate"),
        ("code_challenge", ch.as_str()),
    ];
    let r = t
        .http
        .get(t.url("/services/oauth2/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::FOUND {
        return r.headers()["location"].to_str().unwrap().to_string();
    }
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"username\""), "login form");
    let mut form = params.clone();
    form.extend([("step", "login"), ("username", user), ("pw", pw)]);
    let r = t
        .http
        .post(t.url("/services/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Allow"), "{html}");
    assert!(!html.contains("<script>alert"), "app names are escaped");
    let ticket = extract(&html, "ticket");
    let mut form = params.clone();
    form.extend([
        ("step", "consent"),
        ("ticket", ticket.as_str()),
        ("decision", decision),
    ]);
    let r = t
        .http
        .post(t.url("/services/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn token_call(t: &T, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

async fn code_exchange(t: &T, code: &str, verifier: &str) -> (StatusCode, Value) {
    let c = &t.rs.credentials;
    token_call(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

#[tokio::test]
async fn web_server_flow_with_pkce_refresh_and_revoke() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let loc = authorize(
        &t,
        &c.client_id,
        REDIRECT,
        &c.username,
        &c.password,
        "allow",
    )
    .await;
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st<&>ate"));
    let code = query_param(&loc, "code").unwrap();

    let (s, tok) = code_exchange(&t, &code, VERIFIER).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    for k in [
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ] {
        assert!(tok[k].is_string(), "{k} in {tok}");
    }
    assert!(tok.get("expires_in").is_none());
    let issued_at = tok["issued_at"].as_str().unwrap();
    assert_eq!(issued_at.len(), 13);
    let id = tok["id"].as_str().unwrap();
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(c.client_secret.as_bytes()).unwrap();
    m.update(id.as_bytes());
    m.update(issued_at.as_bytes());
    assert_eq!(tok["signature"], STANDARD.encode(m.finalize().into_bytes()));
    assert!(
        tok["access_token"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}!", &c.org_id[..15]))
    );
    assert_eq!(tok["instance_url"], t.rs.base_url.as_str());
    assert_eq!(tok["token_type"], "Bearer");

    // Code replay fails.
    let (s, e) = code_exchange(&t, &code, VERIFIER).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_description"], "invalid authorization code");

    // Bad verifier on a fresh code.
    let loc = authorize(
        &t,
        &c.client_id,
        REDIRECT,
        &c.username,
        &c.password,
        "allow",
    )
    .await;
    let code2 = query_param(&loc, "code").unwrap();
    let (s, e) = code_exchange(&t, &code2, "x".repeat(50).as_str()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");

    // The grant is visible as an OauthToken of the cockpit app.
    assert_eq!(t.rs.sim.tokens_for_app("OAuth Usage Cockpit"), 1);

    // Identity URL and userinfo.
    let at = tok["access_token"].as_str().unwrap();
    let ident: Value = t
        .http
        .get(id)
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ident["username"], c.username.as_str());
    assert_eq!(ident["organization_id"], c.org_id.as_str());
    let ui: Value = t
        .http
        .get(t.url("/services/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["preferred_username"], c.username.as_str());
    assert_eq!(ui["organization_id"], c.org_id.as_str());

    // Refresh: new access token, no refresh_token (no rotation configured).
    let rt = tok["refresh_token"].as_str().unwrap().to_string();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
    ];
    let (s, r1) = token_call(&t, &refresh).await;
    assert_eq!(s, StatusCode::OK, "{r1}");
    assert!(r1.get("refresh_token").is_none());
    let at2 = r1["access_token"].as_str().unwrap().to_string();
    let (s, _) = t.query_as(&at2, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(s, StatusCode::OK);

    // Revoke the access token (POST, no bearer): 200, then the session is dead.
    let r = t
        .http
        .post(t.url("/services/oauth2/revoke"))
        .form(&[("token", at2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().is_empty());
    let (s, b) = t.query_as(&at2, "SELECT Id FROM User LIMIT 1").await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");

    // Revoke the refresh token (GET form): the grant and its sessions are gone.
    let r = t
        .http
        .get(t.url("/services/oauth2/revoke"))
        .query(&[("token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, e) = token_call(&t, &refresh).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_description"], "expired access/refresh token");
    assert_eq!(t.rs.sim.tokens_for_app("OAuth Usage Cockpit"), 0);
    let r = t
        .http
        .post(t.url("/services/oauth2/revoke"))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_token");
}

#[tokio::test]
async fn authorize_errors_redirect_with_query_params() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let loc = authorize(&t, &c.client_id, REDIRECT, &c.username, &c.password, "deny").await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st<&>ate"));
    // Unregistered redirect: Salesforce's error page, never the attacker's URL.
    let loc = authorize(
        &t,
        &c.client_id,
        "https://evil.example.com/cb",
        &c.username,
        &c.password,
        "allow",
    )
    .await;
    assert!(
        loc.contains("/setup/secur/RemoteAccessErrorPage.apexp"),
        "{loc}"
    );
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("redirect_uri_mismatch")
    );
    let loc = authorize(
        &t,
        "unknown-client",
        REDIRECT,
        &c.username,
        &c.password,
        "allow",
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_client_id")
    );
    // Wrong password: the login page again, with an error.
    let r = t
        .http
        .post(t.url("/services/oauth2/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("step", "login"),
            ("username", c.username.as_str()),
            ("pw", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("check your username and password")
    );
}

#[tokio::test]
async fn openid_scope_returns_an_id_token_and_api_disabled_users_are_refused() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let (s, tok) = token_call(
        &t,
        &[
            ("grant_type", "password"),
            ("username", &c.username),
            ("password", &c.password),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("scope", "api openid"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let id_token = tok["id_token"].as_str().expect("id_token with openid");
    let key =
        jsonwebtoken::DecodingKey::from_rsa_pem(sfsim::JWT_PUBLIC_KEY_PEM.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[c.client_id.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], tok["id"]);
    assert_eq!(claims["preferred_username"], c.username.as_str());

    // A Chatter Free user has no API access.
    let chatter = t.query_ok("SELECT Username FROM User WHERE Profile.Name = 'Chatter Free User' AND IsActive = true LIMIT 1").await;
    let user = chatter["records"][0]["Username"]
        .as_str()
        .expect("a chatter free user")
        .to_string();
    let pw = t.rs.sim.password_for(&user).unwrap();
    let tok = password_login(
        &t.http,
        &t.rs.base_url,
        &user,
        &pw,
        &c.client_id,
        &c.client_secret,
    )
    .await;
    let (s, b) = t
        .query_as(
            tok["access_token"].as_str().unwrap(),
            "SELECT Id FROM User LIMIT 1",
        )
        .await;
    assert_rest_error(s, &b, 403, "API_CURRENTLY_DISABLED");
}

#[tokio::test]
async fn token_endpoint_errors() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("username", &c.username),
                ("password", "bad"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
            ],
            "invalid_grant",
            "authentication failure",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", &c.username),
                ("password", &c.password),
                ("client_id", "nope"),
                ("client_secret", "x"),
            ],
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", &c.username),
                ("password", &c.password),
                ("client_id", &c.client_id),
                ("client_secret", "wrong"),
            ],
            "invalid_client",
            "invalid client credentials",
        ),
        (
            vec![("grant_type", "magic"), ("client_id", &c.client_id)],
            "unsupported_grant_type",
            "grant type not supported",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "5Aep861bogus"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
            ],
            "invalid_grant",
            "expired access/refresh token",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "aPrxNope"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("redirect_uri", REDIRECT),
            ],
            "invalid_grant",
            "invalid authorization code",
        ),
    ];
    for (form, err, desc) in cases {
        let (s, e) = token_call(&t, &form).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"], err);
        assert_eq!(e["error_description"], desc);
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

fn jwt(iss: &str, sub: &str, aud: &str, exp: i64) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(sfsim::JWT_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &Claims { iss, sub, aud, exp },
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_bearer_and_client_credentials() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let exp = t.rs.sim.now().timestamp() + 180;
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    for aud in [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        t.rs.base_url.as_str(),
    ] {
        let a = jwt(&c.client_id, &c.username, aud, exp);
        let (s, tok) = token_call(&t, &[("grant_type", grant), ("assertion", &a)]).await;
        assert_eq!(s, StatusCode::OK, "{aud}: {tok}");
        assert!(tok.get("refresh_token").is_none());
        assert!(tok["access_token"].is_string());
    }
    let a = jwt(
        &c.client_id,
        &c.username,
        "https://elsewhere.example.com",
        exp,
    );
    let (s, e) = token_call(&t, &[("grant_type", grant), ("assertion", &a)]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_description"], "Audience validation failed");
    let a = jwt(
        &c.client_id,
        &c.username,
        "https://login.salesforce.com",
        exp - 3600,
    );
    let (_, e) = token_call(&t, &[("grant_type", grant), ("assertion", &a)]).await;
    assert_eq!(e["error"], "invalid_grant");
    let (user, _) = t.rs.sim.ordinary_user();
    let a = jwt(&c.client_id, &user, "https://login.salesforce.com", exp);
    let (_, e) = token_call(&t, &[("grant_type", grant), ("assertion", &a)]).await;
    assert_eq!(e["error_description"], "user hasn't approved this consumer");
    let mut tampered = jwt(
        &c.client_id,
        &c.username,
        "https://login.salesforce.com",
        exp,
    );
    tampered.push('x');
    let (_, e) = token_call(&t, &[("grant_type", grant), ("assertion", &tampered)]).await;
    assert_eq!(e["error"], "invalid_grant");

    let (s, tok) = token_call(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert!(
        tok["id"].as_str().unwrap().ends_with(
            &t.query_ok("SELECT Id FROM User WHERE Username = 'integration@acme.example.com'")
                .await["records"][0]["Id"]
                .as_str()
                .unwrap()
                .to_string()
        )
    );
    let (drift_key, drift_secret) = t.rs.sim.app_credentials("Drift").unwrap();
    let (_, e) = token_call(
        &t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &drift_key),
            ("client_secret", &drift_secret),
        ],
    )
    .await;
    assert_eq!(e["error_description"], "no client credentials user enabled");
}

#[tokio::test]
async fn refresh_token_rotation_and_replay() {
    let t = start(SimConfig {
        rotate_refresh_tokens: true,
        ..SimConfig::default()
    })
    .await;
    let c = t.rs.credentials.clone();
    let loc = authorize(
        &t,
        &c.client_id,
        REDIRECT,
        &c.username,
        &c.password,
        "allow",
    )
    .await;
    let (_, tok) = code_exchange(&t, &query_param(&loc, "code").unwrap(), VERIFIER).await;
    let rt0 = tok["refresh_token"].as_str().unwrap().to_string();
    let call = |rt: String| {
        let c = c.clone();
        let t = &t;
        async move {
            token_call(
                t,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", c.client_id.as_str()),
                    ("client_secret", c.client_secret.as_str()),
                ],
            )
            .await
        }
    };
    let (s, r1) = call(rt0.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let rt1 = r1["refresh_token"]
        .as_str()
        .expect("rotated refresh token")
        .to_string();
    assert_ne!(rt0, rt1);
    // Replay of the old token fails and revokes the current one too.
    let (s, e) = call(rt0).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    let (s, _) = call(rt1).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = t
        .query_as(
            r1["access_token"].as_str().unwrap(),
            "SELECT Id FROM User LIMIT 1",
        )
        .await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");
}

#[tokio::test]
async fn third_party_refresh_moves_use_count_and_delete_token_revokes() {
    let t = start_default().await;
    let apps = t.query_ok("SELECT Name FROM ConnectedApplication WHERE OptionsAllowAdminApprovedUsersOnly = false AND RefreshTokenValidityPeriod = null").await;
    let mut done = false;
    for a in apps["records"].as_array().unwrap() {
        let name = a["Name"].as_str().unwrap();
        let soql = format!(
            "SELECT Id, UseCount, LastUsedDate, DeleteToken FROM OauthToken WHERE AppName = '{}' AND User.IsActive = true LIMIT 1",
            name.replace('\\', "\\\\").replace('\'', "\\'")
        );
        let v = t.query_ok(&soql).await;
        let Some(rec) = v["records"].as_array().unwrap().first().cloned() else {
            continue;
        };
        let id = rec["Id"].as_str().unwrap();
        let rt = t.rs.sim.refresh_token_of(id).unwrap();
        let (key, secret) = t.rs.sim.app_credentials(name).unwrap();
        let (s, tok) = token_call(
            &t,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", &key),
                ("client_secret", &secret),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tok}");
        let after = t
            .query_ok(&soql.replace(" LIMIT 1", &format!(" AND Id = '{id}'")))
            .await;
        assert_eq!(
            after["records"][0]["UseCount"].as_i64().unwrap(),
            rec["UseCount"].as_i64().unwrap() + 1
        );
        assert!(
            after["records"][0]["LastUsedDate"].as_str().unwrap()
                >= rec["LastUsedDate"].as_str().unwrap_or("")
        );

        // Revoke by DeleteToken, unauthenticated GET as SFS-Revoke-Mobile-Tokens does.
        let before = t.rs.sim.token_count();
        let r = t
            .http
            .get(t.url("/services/oauth2/revoke"))
            .query(&[("token", rec["DeleteToken"].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(t.rs.sim.token_count(), before - 1);
        let gone = t
            .query_ok(&format!("SELECT COUNT() FROM OauthToken WHERE Id = '{id}'"))
            .await;
        assert_eq!(gone["totalSize"], 0);
        let (s, e) = token_call(
            &t,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", &key),
                ("client_secret", &secret),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(e["error"], "invalid_grant");
        done = true;
        break;
    }
    assert!(done, "found a refreshable third-party token");
}

#[tokio::test]
async fn soap_partner_login() {
    let t = start_default().await;
    let c = &t.rs.credentials;
    let env = |u: &str, p: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\" ?><se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Header/><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>{u}</username><password>{p}</password></login></se:Body></se:Envelope>"
        )
    };
    let r = t
        .http
        .post(t.url("/services/Soap/u/50.0"))
        .header("SOAPAction", "\"\"")
        .header("Content-Type", "text/xml")
        .body(env(&c.username, &c.password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    let sid = body
        .split("<sessionId>")
        .nth(1)
        .unwrap()
        .split("</sessionId>")
        .next()
        .unwrap();
    assert!(body.contains(&format!("<organizationId>{}</organizationId>", c.org_id)));
    assert!(body.contains(&format!(
        "<serverUrl>{}/services/Soap/u/50.0/",
        t.rs.base_url
    )));
    let (s, _) = t.query_as(sid, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(s, StatusCode::OK);
    let r = t
        .http
        .post(t.url("/services/Soap/u/64.0"))
        .body(env(&c.username, "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().await.unwrap().contains("INVALID_LOGIN"));
}

#[tokio::test]
async fn openid_discovery_keys_verify_id_tokens_with_custom_attributes() {
    let t = start(SimConfig {
        custom_attributes: vec![
            ("role".into(), "$Profile.Name".into()),
            ("team".into(), "Security <&>".into()),
        ],
        ..SimConfig::default()
    })
    .await;
    let c = t.rs.credentials.clone();
    let disco: Value = t.json("/.well-known/openid-configuration").await;
    assert_eq!(disco["issuer"], t.rs.base_url.as_str());
    assert_eq!(
        disco["authorization_endpoint"],
        format!("{}/services/oauth2/authorize", t.rs.base_url)
    );
    let jwks: jsonwebtoken::jwk::JwkSet = t
        .http
        .get(disco["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let (s, tok) = token_call(
        &t,
        &[
            ("grant_type", "password"),
            ("username", &c.username),
            ("password", &c.password),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("scope", "api openid"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let id_token = tok["id_token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(id_token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[c.client_id.as_str()]);
    v.set_issuer(&[t.rs.base_url.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["custom_attributes"]["role"], "System Administrator");
    assert_eq!(claims["custom_attributes"]["team"], "Security <&>");
    assert!(claims.get("nonce").is_none(), "no nonce was asked for");

    let info: Value = t
        .http
        .get(t.url("/services/oauth2/userinfo"))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["custom_attributes"]["role"], "System Administrator");
}
