//! OAuth 2.0 endpoints: authorize (login + consent pages), token (authorization
//! code + PKCE, refresh with optional rotation, JWT bearer, client credentials,
//! username-password), revoke, introspect, identity URL and userinfo.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::OAuthError;
use crate::model::*;
use crate::{Sim, base_url, bearer, ids};

const DAY: Ts = 86_400_000;
const KNOWN_SCOPES: &[&str] = &[
    "api",
    "web",
    "full",
    "refresh_token",
    "offline_access",
    "openid",
    "id",
    "profile",
    "email",
    "address",
    "phone",
    "chatter_api",
    "custom_permissions",
    "visualforce",
    "wave_api",
    "lightning",
    "content",
    "pardot_api",
    "cdp_query_api",
    "eclair_api",
    "sfap_api",
];

pub fn routes() -> Router<Sim> {
    Router::new()
        .route(
            "/services/oauth2/authorize",
            get(authorize_get).post(authorize_post),
        )
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/revoke", get(revoke_get).post(revoke_post))
        .route("/services/oauth2/introspect", post(introspect))
        .route("/services/oauth2/userinfo", get(userinfo).post(userinfo))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/id/keys", get(jwks))
        .route("/id/{org}/{user}", get(identity))
        .route("/setup/secur/RemoteAccessErrorPage.apexp", get(error_page))
}

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;background:#f3f3f3}}main{{max-width:380px;margin:60px auto;background:#fff;padding:24px;border-radius:6px}}\
         label{{display:block;margin-top:12px}}input[type=text],input[type=password]{{width:100%;padding:6px}}button{{margin-top:16px;padding:8px 16px}}\
         .error{{color:#c23934}}</style></head><body><main><h1>{}</h1>{}</main></body></html>",
        esc(title),
        esc(title),
        body
    ))
}

/// Whether the redirect URI is registered for the app. As a documented sim
/// convenience the cockpit's app (index 0) also accepts any http loopback URI.
fn redirect_ok(app_idx: u32, app: &App, uri: &str) -> bool {
    if app.callback_urls.iter().any(|c| c == uri) {
        return true;
    }
    if app_idx == 0
        && let Ok(u) = url::Url::parse(uri)
    {
        return u.scheme() == "http"
            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    }
    false
}

/// Salesforce redirects with 302 Found.
fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(http::header::LOCATION, location.to_string())],
    )
        .into_response()
}

fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut u = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return uri.to_string(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            if !v.is_empty() || *k == "code" {
                q.append_pair(k, v);
            }
        }
    }
    u.to_string()
}

fn error_redirect(redirect_uri: &str, state: &str, error: &str, desc: &str) -> Response {
    found(&with_params(
        redirect_uri,
        &[
            ("error", error),
            ("error_description", desc),
            ("state", state),
        ],
    ))
}

fn error_page_redirect(base: &str, error: &str, desc: &str) -> Response {
    let u = with_params(
        &format!("{base}/setup/secur/RemoteAccessErrorPage.apexp"),
        &[("error", error), ("error_description", desc)],
    );
    found(&u).into_response()
}

async fn error_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let e = q
        .get("error")
        .map(String::as_str)
        .unwrap_or("unknown_error");
    let d = q.get("error_description").map(String::as_str).unwrap_or("");
    (
        StatusCode::BAD_REQUEST,
        page(
            "Remote Access Error",
            &format!("<p class=\"error\">error={}</p><p>{}</p>", esc(e), esc(d)),
        ),
    )
        .into_response()
}

const AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "display",
    "login_hint",
];

fn hidden(params: &HashMap<String, String>) -> String {
    AUTH_PARAMS
        .iter()
        .filter_map(|k| {
            params
                .get(*k)
                .map(|v| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        })
        .collect()
}

fn login_form(params: &HashMap<String, String>, error: Option<&str>) -> Response {
    let user = params
        .get("username")
        .or(params.get("login_hint"))
        .cloned()
        .unwrap_or_default();
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Login | Salesforce",
        &format!(
            "{err}<form method=\"post\" action=\"/services/oauth2/authorize\" id=\"login_form\">{}\
             <input type=\"hidden\" name=\"step\" value=\"login\">\
             <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{}\" autocomplete=\"username\">\
             <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"pw\" autocomplete=\"current-password\">\
             <button type=\"submit\" id=\"Login\" name=\"Login\">Log In</button></form>",
            hidden(params),
            esc(&user)
        ),
    )
    .into_response()
}

struct Validated {
    app: u32,
    redirect_uri: String,
    state: String,
}

/// Checks client and redirect URI; errors that can't go to the redirect URI are
/// sent to the remote-access error page.
fn validate_authorize(
    sim: &Sim,
    base: &str,
    p: &HashMap<String, String>,
) -> Result<Validated, Box<Response>> {
    let st = sim.read();
    let state = p.get("state").cloned().unwrap_or_default();
    let client_id = p.get("client_id").map(String::as_str).unwrap_or("");
    let Some(app) = st.app_by_key(client_id) else {
        return Err(Box::new(error_page_redirect(
            base,
            "invalid_client_id",
            "client identifier invalid",
        )));
    };
    let Some(redirect_uri) = p.get("redirect_uri").cloned() else {
        return Err(Box::new(error_page_redirect(
            base,
            "redirect_uri_missing",
            "redirect_uri must be provided",
        )));
    };
    if !redirect_ok(app, &st.apps[app as usize], &redirect_uri) {
        return Err(Box::new(error_page_redirect(
            base,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        )));
    }
    if st.app_blocked(app) {
        return Err(Box::new(error_redirect(
            &redirect_uri,
            &state,
            "OAUTH_APP_BLOCKED",
            "this app is blocked by admin",
        )));
    }
    if st.app_disabled(app) {
        // [C] wording: the reference names the policy, not the error it causes.
        return Err(Box::new(error_redirect(
            &redirect_uri,
            &state,
            "oauth_flow_disabled",
            "OAuth is disabled for this external client app",
        )));
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err(Box::new(error_redirect(
            &redirect_uri,
            &state,
            "unsupported_response_type",
            "response type not supported",
        )));
    }
    if let Some(scope) = p.get("scope")
        && scope
            .split([' ', '+'])
            .filter(|s| !s.is_empty())
            .any(|s| !KNOWN_SCOPES.contains(&s))
    {
        return Err(Box::new(error_redirect(
            &redirect_uri,
            &state,
            "invalid_scope",
            "the requested scope is not allowed",
        )));
    }
    if let Some(m) = p.get("code_challenge_method")
        && m != "S256"
        && m != "plain"
    {
        return Err(Box::new(error_redirect(
            &redirect_uri,
            &state,
            "invalid_request",
            "invalid code_challenge_method",
        )));
    }
    Ok(Validated {
        app,
        redirect_uri,
        state,
    })
}

async fn authorize_get(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let base = base_url(&headers);
    if let Err(r) = validate_authorize(&sim, &base, &p) {
        return *r;
    }
    login_form(&p, None)
}

fn ticket(sim: &Sim, user: u32, expires: Ts) -> String {
    format!(
        "{user}.{expires}.{}",
        sim.inner.secrets.mac("ticket", user as u64, expires as u64)
    )
}

fn check_ticket(sim: &Sim, t: &str, now: Ts) -> Option<u32> {
    let mut it = t.splitn(3, '.');
    let user: u32 = it.next()?.parse().ok()?;
    let exp: Ts = it.next()?.parse().ok()?;
    let mac = it.next()?;
    (exp > now && sim.inner.secrets.mac("ticket", user as u64, exp as u64) == mac).then_some(user)
}

async fn authorize_post(
    State(sim): State<Sim>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let p: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let base = base_url(&headers);
    let v = match validate_authorize(&sim, &base, &p) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let now = sim.now_ms();
    match p.get("step").map(String::as_str) {
        Some("consent") => {
            let Some(user) = p.get("ticket").and_then(|t| check_ticket(&sim, t, now)) else {
                return login_form(&p, Some("Your session has expired. Please log in again."));
            };
            if p.get("decision").map(String::as_str) != Some("allow") {
                return error_redirect(
                    &v.redirect_uri,
                    &v.state,
                    "access_denied",
                    "end-user denied authorization",
                );
            }
            let mut st = sim.write();
            let app = &st.apps[v.app as usize];
            if !app.installed {
                return error_redirect(
                    &v.redirect_uri,
                    &v.state,
                    "invalid_client",
                    "app must be installed into org",
                );
            }
            if !app.permits(user, &st.users[user as usize]) {
                return error_redirect(
                    &v.redirect_uri,
                    &v.state,
                    "OAUTH_APP_ACCESS_DENIED",
                    "user is not admin approved to access this app",
                );
            }
            let code = format!("aPrx{}", random_string(&mut st.rng, 60));
            let challenge = p.get("code_challenge").filter(|c| !c.is_empty()).map(|c| {
                if p.get("code_challenge_method").map(String::as_str) == Some("plain") {
                    format!("plain:{c}")
                } else {
                    c.clone()
                }
            });
            let scope = p
                .get("scope")
                .cloned()
                .unwrap_or_else(|| "api refresh_token".into());
            st.codes.retain(|_, c| c.expires > now);
            st.codes.insert(
                code.clone(),
                AuthCode {
                    user,
                    app: v.app,
                    redirect_uri: v.redirect_uri.clone(),
                    challenge,
                    scope,
                    nonce: p.get("nonce").filter(|n| !n.is_empty()).cloned(),
                    expires: now + 15 * 60_000,
                },
            );
            found(&with_params(
                &v.redirect_uri,
                &[("code", &code), ("state", &v.state)],
            ))
            .into_response()
        }
        _ => {
            let username = p.get("username").map(String::as_str).unwrap_or("");
            let password = p
                .get("pw")
                .or(p.get("password"))
                .map(String::as_str)
                .unwrap_or("");
            let user = {
                let st = sim.read();
                st.user_by_username(username).filter(|&u| {
                    st.users[u as usize].active && sim.inner.secrets.password(u) == password
                })
            };
            let Some(user) = user else {
                return login_form(
                    &p,
                    Some(
                        "Please check your username and password. If you still can't log in, contact your Salesforce administrator.",
                    ),
                );
            };
            let st = sim.read();
            let app = &st.apps[v.app as usize];
            let t = ticket(&sim, user, now + 10 * 60_000);
            page(
                "Allow Access?",
                &format!(
                    "<p><strong>{}</strong> is asking to:</p><ul><li>Access the identity URL service</li><li>Manage user data via APIs</li><li>Perform requests at any time</li></ul>\
                     <p>Signed in as {}</p>\
                     <form method=\"post\" action=\"/services/oauth2/authorize\" id=\"consent_form\">{}\
                     <input type=\"hidden\" name=\"step\" value=\"consent\"><input type=\"hidden\" name=\"ticket\" value=\"{}\">\
                     <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"oaapprove_deny\">Deny</button> \
                     <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"oaapprove\">Allow</button></form>",
                    esc(&app.name),
                    esc(&st.users[user as usize].username),
                    hidden(&p),
                    esc(&t)
                ),
            )
            .into_response()
        }
    }
}

#[derive(serde::Serialize)]
struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    signature: String,
    scope: String,
    instance_url: String,
    id: String,
    token_type: &'static str,
    issued_at: String,
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let b = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let raw = String::from_utf8(STANDARD.decode(b.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn identity_url(base: &str, org: &str, user: u32) -> String {
    format!("{base}/id/{org}/{}", ids::make_id(ids::USER, user as u64))
}

/// Key id of the simulator's signing key in `/id/keys` and id_token headers.
/// [C] Salesforce publishes several keys with short numeric ids ("250", ...).
const JWKS_KEY_ID: &str = "sim250";

/// `custom_attributes` of the cockpit's own app for a user, when configured
/// (SimConfig::custom_attributes). Other apps have none.
fn custom_attributes(sim: &Sim, st: &OrgState, user: u32, app: u32) -> Option<serde_json::Value> {
    let attrs = &sim.inner.config.custom_attributes;
    if app != 0 || attrs.is_empty() {
        return None;
    }
    let u = st.users.get(user as usize)?;
    let value = |formula: &str| match formula {
        "$User.Department" => DEPARTMENTS[u.department as usize].to_owned(),
        "$User.Title" => TITLES[u.title as usize].to_owned(),
        "$User.Username" => u.username.clone(),
        "$Profile.Name" => PROFILES[u.profile as usize].0.to_owned(),
        literal => literal.to_owned(),
    };
    Some(serde_json::Value::Object(
        attrs
            .iter()
            .map(|(name, formula)| (name.clone(), value(formula).into()))
            .collect(),
    ))
}

/// OpenID Connect discovery, as Salesforce serves it at
/// `https://login.salesforce.com/.well-known/openid-configuration` (trimmed to
/// what the simulator implements). The issuer is the host it was asked on,
/// as with a My Domain.
async fn openid_configuration(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/services/oauth2/authorize"),
        "token_endpoint": format!("{base}/services/oauth2/token"),
        "revocation_endpoint": format!("{base}/services/oauth2/revoke"),
        "userinfo_endpoint": format!("{base}/services/oauth2/userinfo"),
        "introspection_endpoint": format!("{base}/services/oauth2/introspect"),
        "jwks_uri": format!("{base}/id/keys"),
        "scopes_supported": ["id", "api", "web", "full", "chatter_api", "visualforce", "refresh_token", "openid", "profile", "email", "address", "phone", "offline_access", "custom_permissions", "wave_api"],
        "response_types_supported": ["code", "token", "token id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "display_values_supported": ["page", "popup", "touch"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": ["active", "address", "email", "email_verified", "family_name", "given_name", "is_app_installed", "language", "locale", "name", "nickname", "organization_id", "phone_number", "phone_number_verified", "photos", "picture", "preferred_username", "profile", "sub", "updated_at", "urls", "user_id", "user_type", "zoneinfo", "custom_attributes"],
    }))
    .into_response()
}

/// The public keys id_tokens are signed with.
async fn jwks() -> Response {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(crate::JWT_PRIVATE_KEY_PEM.as_bytes())
        .and_then(|k| {
            jsonwebtoken::jwk::Jwk::from_encoding_key(&k, jsonwebtoken::Algorithm::RS256)
        });
    match key {
        Ok(mut jwk) => {
            jwk.common.key_id = Some(JWKS_KEY_ID.into());
            jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
            axum::Json(json!({ "keys": [jwk] })).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    sim: &Sim,
    st: &mut OrgState,
    base: &str,
    user: u32,
    app: u32,
    token: u32,
    refresh_token: Option<String>,
    scope: &str,
    subtype: u8,
    now: Ts,
    nonce: Option<&str>,
) -> Response {
    let org15 = sim.org15().to_string();
    let access = st.new_session(
        &org15,
        Session {
            user,
            app,
            token,
            issued: now,
            scope: scope.to_string(),
        },
    );
    let id = identity_url(base, &sim.inner.org_id, user);
    let issued_at = now.to_string();
    let secret = st
        .apps
        .get(app as usize)
        .map(|a| a.consumer_secret.clone())
        .unwrap_or_default();
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("hmac key");
    m.update(id.as_bytes());
    m.update(issued_at.as_bytes());
    let signature = STANDARD.encode(m.finalize().into_bytes());
    let ip: u32 = rand::Rng::random(&mut st.rng);
    st.logins.push(Login {
        user,
        time: now,
        app,
        subtype,
        status: 0,
        ip: std::net::Ipv4Addr::from(ip).into(),
    });
    // OpenID Connect: an RS256 id_token when `openid` was granted. [C] signed with the
    // simulator's fixed key (the same PEM the cockpit's app trusts for JWT bearer).
    let id_token = scope.split([' ', '+']).any(|s| s == "openid").then(|| {
        let app_key = st
            .apps
            .get(app as usize)
            .map(|a| a.consumer_key.clone())
            .unwrap_or_default();
        let u = &st.users[user as usize];
        let mut claims = serde_json::json!({
            "iss": base, "sub": id, "aud": app_key, "iat": now / 1000, "exp": now / 1000 + 300,
            "at_hash": URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]),
            "preferred_username": u.username, "name": u.name(), "email": u.username,
            "email_verified": true,
        });
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        if let Some(attrs) = custom_attributes(sim, st, user, app) {
            claims["custom_attributes"] = attrs;
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(JWKS_KEY_ID.into());
        jsonwebtoken::EncodingKey::from_rsa_pem(crate::JWT_PRIVATE_KEY_PEM.as_bytes())
            .and_then(|k| jsonwebtoken::encode(&header, &claims, &k))
            .unwrap_or_default()
    });
    let body = TokenResponse {
        access_token: access,
        refresh_token,
        id_token,
        signature,
        scope: scope.to_string(),
        instance_url: base.to_string(),
        id,
        token_type: "Bearer",
        issued_at,
    };
    (
        StatusCode::OK,
        [(
            http::header::CACHE_CONTROL,
            "no-cache,must-revalidate,max-age=0,no-store,private",
        )],
        axum::Json(body),
    )
        .into_response()
}

fn client(
    st: &OrgState,
    p: &HashMap<String, String>,
    basic: &Option<(String, String)>,
) -> Result<(u32, Option<String>), OAuthError> {
    let (cid, secret) = match basic {
        Some((i, s)) => (i.clone(), Some(s.clone())),
        None => (
            p.get("client_id").cloned().unwrap_or_default(),
            p.get("client_secret").cloned(),
        ),
    };
    let app = st
        .app_by_key(&cid)
        .ok_or_else(|| OAuthError::new("invalid_client_id", "client identifier invalid"))?;
    if st.app_blocked(app) {
        return Err(OAuthError::new(
            "app_blocked",
            "this app is blocked by admin",
        ));
    }
    if st.app_disabled(app) {
        return Err(OAuthError::new(
            "oauth_flow_disabled",
            "OAuth is disabled for this external client app",
        ));
    }
    if let Some(s) = &secret
        && *s != st.apps[app as usize].consumer_secret
    {
        return Err(OAuthError::new(
            "invalid_client",
            "invalid client credentials",
        ));
    }
    Ok((app, secret))
}

fn failed_login(st: &mut OrgState, user: u32, app: u32, subtype: u8, status: u8, now: Ts) {
    let ip: u32 = rand::Rng::random(&mut st.rng);
    st.logins.push(Login {
        user,
        time: now,
        app,
        subtype,
        status,
        ip: std::net::Ipv4Addr::from(ip).into(),
    });
}

/// An OAuth endpoint's parameters: the form body's, and the query string's
/// where the body does not name them. Salesforce reads both, whatever the
/// Content-Type (clients post `grant_type=…` in the query string with an
/// empty body), so the body is read as a form without requiring the header.
fn oauth_params(uri: &Uri, body: &[u8]) -> HashMap<String, String> {
    let mut p: HashMap<String, String> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    p.extend(form);
    p
}

async fn token(State(sim): State<Sim>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = oauth_params(&uri, &body);
    let base = base_url(&headers);
    let basic = basic_auth(&headers);
    match token_inner(&sim, &base, &p, &basic) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn token_inner(
    sim: &Sim,
    base: &str,
    p: &HashMap<String, String>,
    basic: &Option<(String, String)>,
) -> Result<Response, OAuthError> {
    let now = sim.now_ms();
    let grant = p.get("grant_type").map(String::as_str).unwrap_or("");
    let mut st = sim.write();
    match grant {
        "authorization_code" => {
            let (app, secret) = client(&st, p, basic)?;
            let code = p.get("code").map(String::as_str).unwrap_or("");
            let bad_code = || OAuthError::new("invalid_grant", "invalid authorization code");
            let c = st.codes.remove(code).ok_or_else(bad_code)?;
            if c.app != app || c.expires < now {
                return Err(bad_code());
            }
            if p.get("redirect_uri").map(String::as_str) != Some(c.redirect_uri.as_str()) {
                return Err(OAuthError::new(
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                ));
            }
            match &c.challenge {
                Some(ch) => {
                    let verifier = p.get("code_verifier").map(String::as_str).unwrap_or("");
                    let ok = match ch.strip_prefix("plain:") {
                        Some(plain) => plain == verifier,
                        None => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *ch,
                    };
                    if !ok || verifier.len() < 43 || verifier.len() > 128 {
                        return Err(OAuthError::new("invalid_grant", "invalid code verifier"));
                    }
                }
                None if secret.is_none() => {
                    return Err(OAuthError::new(
                        "invalid_client",
                        "invalid client credentials",
                    ));
                }
                None => {}
            }
            let wants_refresh = c
                .scope
                .split([' ', '+'])
                .any(|s| matches!(s, "refresh_token" | "offline_access" | "full"));
            let (seq, rt) = if wants_refresh {
                let seq = st.add_token(c.user, app, now);
                (seq, Some(sim.inner.secrets.refresh_token(seq, 0)))
            } else {
                (NONE, None)
            };
            Ok(issue(
                sim,
                &mut st,
                base,
                c.user,
                app,
                seq,
                rt,
                &c.scope,
                1,
                now,
                c.nonce.as_deref(),
            ))
        }
        "refresh_token" => {
            let rt = p.get("refresh_token").map(String::as_str).unwrap_or("");
            let (app, secret) = match client(&st, p, basic) {
                // [C] A refresh of a blocked app's token is refused, and the
                // attempt is the token owner's failed OAuth login in
                // LoginHistory ("Failed: Blocked by admin"): the reference
                // says blocking ends the app's sessions and refuses new ones,
                // not how the refusal is logged; a failed login is how every
                // other refused OAuth login shows.
                Err(e) if e.error == "app_blocked" => {
                    let owner = sim
                        .inner
                        .secrets
                        .parse_refresh_token(rt)
                        .and_then(|(seq, _)| st.tokens.get(seq as usize).copied());
                    if let Some(t) = owner {
                        failed_login(&mut st, t.user, t.app, 2, 4, now);
                    }
                    return Err(e);
                }
                other => other?,
            };
            if secret.is_none() {
                // isSecretRequiredForRefreshToken defaults to true.
                return Err(OAuthError::new(
                    "invalid_client",
                    "invalid client credentials",
                ));
            }
            let expired = || OAuthError::new("invalid_grant", "expired access/refresh token");
            let (seq, generation) = sim
                .inner
                .secrets
                .parse_refresh_token(rt)
                .ok_or_else(expired)?;
            let t = *st.tokens.get(seq as usize).ok_or_else(expired)?;
            if t.revoked || t.app != app {
                return Err(expired());
            }
            let a = st.apps[app as usize].clone();
            if generation != t.generation {
                // Replay of a rotated refresh token: revoke the current one too.
                st.revoke_token(seq);
                return Err(expired());
            }
            if let Some(days) = a.refresh_validity_days {
                let since = if a.refresh_inactivity {
                    t.last_used.max(t.created)
                } else {
                    t.created
                };
                if now - since > days as Ts * DAY {
                    st.revoke_token(seq);
                    return Err(expired());
                }
            }
            let u = &st.users[t.user as usize];
            if !u.active {
                failed_login(&mut st, t.user, app, 2, 2, now);
                return Err(OAuthError::new("invalid_grant", "inactive user"));
            }
            if !a.permits(t.user, u) {
                return Err(OAuthError::new(
                    "invalid_app_access",
                    "user is not admin approved to access this app",
                ));
            }
            st.mark_used(seq, now);
            let new_rt = if a.rotate_refresh {
                let g = t.generation.wrapping_add(1);
                st.tokens[seq as usize].generation = g;
                Some(sim.inner.secrets.refresh_token(seq, g))
            } else {
                None
            };
            // [C] the grant's scope isn't stored; report the default scope.
            Ok(issue(
                sim,
                &mut st,
                base,
                t.user,
                app,
                seq,
                new_rt,
                "refresh_token api",
                2,
                now,
                None,
            ))
        }
        "password" => {
            let (app, secret) = client(&st, p, basic)?;
            if secret.is_none() {
                return Err(OAuthError::new(
                    "invalid_client",
                    "invalid client credentials",
                ));
            }
            let username = p.get("username").map(String::as_str).unwrap_or("");
            let password = p.get("password").map(String::as_str).unwrap_or("");
            let user = st.user_by_username(username);
            let Some(user) = user.filter(|&u| sim.inner.secrets.password(u) == password) else {
                if let Some(u) = user {
                    failed_login(&mut st, u, app, 3, 1, now);
                }
                return Err(OAuthError::new("invalid_grant", "authentication failure"));
            };
            if !st.users[user as usize].active {
                failed_login(&mut st, user, app, 3, 2, now);
                return Err(OAuthError::new("invalid_grant", "authentication failure"));
            }
            if !st.apps[app as usize].permits(user, &st.users[user as usize]) {
                return Err(OAuthError::new(
                    "invalid_app_access",
                    "user is not admin approved to access this app",
                ));
            }
            let scope = p.get("scope").cloned().unwrap_or_else(|| "api".into());
            Ok(issue(
                sim, &mut st, base, user, app, NONE, None, &scope, 3, now, None,
            ))
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let assertion = p.get("assertion").map(String::as_str).unwrap_or("");
            let (user, app) = jwt_bearer(&st, base, assertion, now)?;
            Ok(issue(
                sim, &mut st, base, user, app, NONE, None, "api", 4, now, None,
            ))
        }
        // Only valid on the My Domain host; with one listener every host is the My Domain.
        "client_credentials" => {
            let (app, secret) = client(&st, p, basic)?;
            if secret.is_none() {
                return Err(OAuthError::new(
                    "invalid_client",
                    "invalid client credentials",
                ));
            }
            let run_as = st.apps[app as usize].run_as;
            if run_as == NONE {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "no client credentials user enabled",
                ));
            }
            Ok(issue(
                sim, &mut st, base, run_as, app, NONE, None, "api", 5, now, None,
            ))
        }
        "" => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant type not supported",
        )),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant type not supported",
        )),
    }
}

#[derive(Deserialize)]
struct JwtClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    /// Seconds since the epoch, as a JSON number or, as some clients send
    /// it, a string of digits. [C] Salesforce documents a number; clients'
    /// users report real orgs accepting the string form, so it is read too.
    #[serde(default, deserialize_with = "seconds")]
    exp: Option<i64>,
}

fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn jwt_bearer(
    st: &OrgState,
    base: &str,
    assertion: &str,
    now: Ts,
) -> Result<(u32, u32), OAuthError> {
    use jsonwebtoken::dangerous::insecure_decode;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let invalid = || OAuthError::new("invalid_grant", "invalid assertion");
    let header = decode_header(assertion).map_err(|_| invalid())?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid());
    }
    let unverified = insecure_decode::<JwtClaims>(assertion)
        .map_err(|_| invalid())?
        .claims;
    let iss = unverified.iss.unwrap_or_default();
    let app = st
        .app_by_key(&iss)
        .ok_or_else(|| OAuthError::new("invalid_client_id", "client identifier invalid"))?;
    if st.app_blocked(app) {
        return Err(OAuthError::new(
            "app_blocked",
            "this app is blocked by admin",
        ));
    }
    if st.app_disabled(app) {
        return Err(OAuthError::new(
            "oauth_flow_disabled",
            "OAuth is disabled for this external client app",
        ));
    }
    if !st.apps[app as usize].jwt_cert {
        return Err(OAuthError::new(
            "invalid_client",
            "invalid client credentials",
        ));
    }
    let key =
        DecodingKey::from_rsa_pem(crate::JWT_PUBLIC_KEY_PEM.as_bytes()).map_err(|_| invalid())?;
    let mut v = Validation::new(Algorithm::RS256);
    // exp is checked against the simulator clock below, aud by our own rules.
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = decode::<JwtClaims>(assertion, &key, &v)
        .map_err(|_| invalid())?
        .claims;
    let auds: Vec<String> = match &claims.aud {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    };
    let trim = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    let accepted = [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    ];
    if !auds
        .iter()
        .any(|a| accepted.contains(&trim(a).as_str()) || trim(a) == trim(base))
    {
        return Err(OAuthError::new(
            "invalid_grant",
            "Audience validation failed",
        ));
    }
    match claims.exp {
        Some(exp) if exp.saturating_mul(1000) >= now => {}
        _ => {
            return Err(OAuthError::new(
                "invalid_grant",
                "expired authorization code",
            ));
        }
    }
    let sub = claims.sub.unwrap_or_default();
    let user = st
        .user_by_username(&sub)
        .ok_or_else(|| OAuthError::new("invalid_grant", "user hasn't approved this consumer"))?;
    let u = &st.users[user as usize];
    if !u.active {
        return Err(OAuthError::new("invalid_grant", "inactive user"));
    }
    let a = &st.apps[app as usize];
    let pre_authorized =
        a.permitted_users.contains(&user) || a.permitted_profiles & (1 << u.profile) != 0;
    let approved = pre_authorized
        || st
            .user_tokens(user)
            .any(|t| st.tokens[t as usize].app == app);
    if !approved {
        return Err(OAuthError::new(
            "invalid_grant",
            "user hasn't approved this consumer",
        ));
    }
    Ok((user, app))
}

fn do_revoke(sim: &Sim, token: Option<&String>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return OAuthError::new("unsupported_token_type", "missing token").into_response();
    };
    let count = |seq: u32| {
        *sim.inner
            .revoke_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(seq)
            .or_default() += 1;
        seq
    };
    let mut st = sim.write();
    let ok = if st.sessions.remove(token.as_str()).is_some() {
        true
    } else if let Some((seq, _)) = sim.inner.secrets.parse_refresh_token(token) {
        st.revoke_token(count(seq))
    } else if let Some(seq) = sim.inner.secrets.parse_delete_token(token) {
        st.revoke_token(count(seq))
    } else {
        false
    };
    if ok {
        (StatusCode::OK, "").into_response()
    } else {
        OAuthError::new("invalid_token", "invalid token").into_response()
    }
}

/// Accepted with or without a bearer session (reference §2.6 [C]).
async fn revoke_get(State(sim): State<Sim>, Query(q): Query<HashMap<String, String>>) -> Response {
    do_revoke(&sim, q.get("token"))
}

async fn revoke_post(State(sim): State<Sim>, uri: Uri, body: Bytes) -> Response {
    let p = oauth_params(&uri, &body);
    do_revoke(&sim, p.get("token"))
}

async fn introspect(State(sim): State<Sim>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let p = oauth_params(&uri, &body);
    let basic = basic_auth(&headers);
    let st = sim.read();
    let app = match client(&st, &p, &basic) {
        Ok((a, Some(_))) => a,
        Ok(_) => {
            return OAuthError::new("invalid_client", "invalid client credentials").into_response();
        }
        Err(e) => return e.into_response(),
    };
    let token = p.get("token").map(String::as_str).unwrap_or("");
    let base = base_url(&headers);
    let found = st
        .sessions
        .get(token)
        .map(|s| (s.user, s.app, s.scope.clone(), s.issued, "access_token"))
        .or_else(|| {
            let (seq, g) = sim.inner.secrets.parse_refresh_token(token)?;
            let t = st
                .tokens
                .get(seq as usize)
                .filter(|t| !t.revoked && t.generation == g)?;
            Some((
                t.user,
                t.app,
                "refresh_token api".to_string(),
                t.created,
                "refresh_token",
            ))
        });
    let body = match found {
        Some((user, tapp, scope, issued, kind)) if tapp == app => json!({
            "active": true, "scope": scope, "client_id": st.apps[app as usize].consumer_key,
            "username": st.users[user as usize].username, "sub": identity_url(&base, &sim.inner.org_id, user),
            "token_type": kind, "exp": issued / 1000 + 7200, "iat": issued / 1000, "nbf": issued / 1000,
        }),
        _ => json!({"active": false}),
    };
    axum::Json(body).into_response()
}

fn bad_oauth_token() -> Response {
    (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response()
}

fn identity_json(sim: &Sim, st: &OrgState, base: &str, user: u32) -> serde_json::Value {
    let u = &st.users[user as usize];
    let uid = ids::make_id(ids::USER, user as u64);
    let org = &sim.inner.org_id;
    let urls = |kind: &str| format!("{base}/services/{kind}/{org}");
    json!({
        "id": identity_url(base, org, user),
        "asserted_user": true,
        "user_id": uid,
        "organization_id": org,
        "username": u.username,
        "nick_name": u.username.split('@').next().unwrap_or(""),
        "display_name": u.name(),
        "email": u.username,
        "email_verified": true,
        "first_name": u.first,
        "last_name": u.last,
        "timezone": "America/Los_Angeles",
        "photos": {"picture": format!("{base}/profilephoto/005/F"), "thumbnail": format!("{base}/profilephoto/005/T")},
        "addr_street": null, "addr_city": null, "addr_state": null, "addr_country": "US", "addr_zip": null,
        "mobile_phone": null, "mobile_phone_verified": false,
        "is_lightning_login_user": false,
        "status": {"created_date": null, "body": null},
        "urls": {
            "enterprise": urls("Soap/c/{version}"),
            "metadata": urls("Soap/m/{version}"),
            "partner": urls("Soap/u/{version}"),
            "rest": format!("{base}/services/data/v{{version}}/"),
            "sobjects": format!("{base}/services/data/v{{version}}/sobjects/"),
            "search": format!("{base}/services/data/v{{version}}/search/"),
            "query": format!("{base}/services/data/v{{version}}/query/"),
            "recent": format!("{base}/services/data/v{{version}}/recent/"),
            "tooling_soap": urls("Soap/T/{version}"),
            "tooling_rest": format!("{base}/services/data/v{{version}}/tooling/"),
            "profile": format!("{base}/{uid}"),
            "feeds": format!("{base}/services/data/v{{version}}/chatter/feeds"),
            "groups": format!("{base}/services/data/v{{version}}/chatter/groups"),
            "users": format!("{base}/services/data/v{{version}}/chatter/users"),
            "feed_items": format!("{base}/services/data/v{{version}}/chatter/feed-items"),
            "custom_domain": base,
        },
        "active": u.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28800000,
        "last_modified_date": crate::query::sf_datetime(u.modified),
        "is_app_installed": true,
    })
}

async fn identity(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Response {
    let Some(s) = sim.session(&headers) else {
        return bad_oauth_token();
    };
    let st = sim.read();
    let uid = ids::parse_id(ids::USER, &user)
        .map(|u| u as u32)
        .filter(|&u| (u as usize) < st.users.len());
    let org_ok = org.get(..15) == Some(sim.org15());
    let Some(uid) = uid.filter(|_| org_ok) else {
        return (StatusCode::NOT_FOUND, "Bad_Id").into_response();
    };
    if uid != s.user && st.users[s.user as usize].perms() & perm::MANAGE_USERS == 0 {
        return (StatusCode::FORBIDDEN, "Bad_Id").into_response();
    }
    axum::Json(identity_json(&sim, &st, &base_url(&headers), uid)).into_response()
}

async fn userinfo(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    if bearer(&headers).is_none() {
        return bad_oauth_token();
    }
    let Some(s) = sim.session(&headers) else {
        return bad_oauth_token();
    };
    let st = sim.read();
    let base = base_url(&headers);
    let u = &st.users[s.user as usize];
    let id = identity_json(&sim, &st, &base, s.user);
    let mut info = json!({
        "sub": identity_url(&base, &sim.inner.org_id, s.user),
        "user_id": ids::make_id(ids::USER, s.user as u64),
        "organization_id": sim.inner.org_id,
        "preferred_username": u.username,
        "nickname": id["nick_name"],
        "name": u.name(),
        "email": u.username,
        "email_verified": true,
        "given_name": u.first,
        "family_name": u.last,
        "zoneinfo": "America/Los_Angeles",
        "photos": id["photos"],
        "profile": format!("{base}/{}", ids::make_id(ids::USER, s.user as u64)),
        "picture": id["photos"]["picture"],
        "address": {"country": "US"},
        "urls": id["urls"],
        "active": u.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28800000,
        "updated_at": crate::query::sf_datetime(u.modified),
        "is_app_installed": true,
    });
    if let Some(attrs) = custom_attributes(&sim, &st, s.user, s.app) {
        info["custom_attributes"] = attrs;
    }
    axum::Json(info).into_response()
}
