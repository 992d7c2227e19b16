//! Helpers shared by the integration tests: ad-hoc servers for cases the simulator cannot
//! produce, and client construction with fast backoff.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use cockpit_salesforce::{
    AccessToken, Backoff, ClientConfig, InMemoryTokenProvider, SalesforceClient, TokenProvider,
};
use std::collections::HashMap;

use cockpit_salesforce::{ExposeSecret, OAuthClient, OAuthConfig, SecretString, TokenResponse};
use sfsim::{Credentials, RunningSim};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// Serve an axum router on a random local port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Serve raw bytes: every connection gets `response` after its request head was read.
pub async fn serve_raw(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = Arc::new(response);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                read_head(&mut sock).await;
                let _ = sock.write_all(&response).await;
                let _ = sock.flush().await;
                // Dropping the socket closes the connection, cutting any promised body short.
            });
        }
    });
    format!("http://{addr}")
}

async fn read_head(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub fn fast_config() -> ClientConfig {
    ClientConfig {
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            retries: 3,
        },
        deploy_poll_interval: Duration::from_millis(20),
        ..ClientConfig::default()
    }
}

pub fn client_with(base: &str, tokens: Arc<dyn TokenProvider>) -> SalesforceClient {
    SalesforceClient::new(fast_config(), Url::parse(base).unwrap(), tokens).unwrap()
}

pub fn fixed_client(base: &str, token: &str) -> SalesforceClient {
    client_with(
        base,
        Arc::new(InMemoryTokenProvider::fixed(AccessToken::new(token))),
    )
}

/// Redirect URI for the web-server flow (the sim accepts any http loopback URI).
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub fn oauth(c: &Credentials) -> OAuthClient {
    let mut cfg = OAuthConfig::new(Url::parse(&c.login_url).unwrap(), c.client_id.clone());
    cfg.client_secret = Some(SecretString::from(c.client_secret.clone()));
    cfg.redirect_uri = Some(Url::parse(REDIRECT).unwrap());
    OAuthClient::new(cfg).unwrap()
}
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
/// Hidden inputs of an HTML form.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input").skip(1) {
        let tag = part.split('>').next().unwrap_or_default();
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            tag.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(unescape)
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}
/// Drive the simulator's login and consent pages like a browser; returns (code, state).
pub async fn browser_login(authorize: &Url, username: &str, password: &str) -> (String, String) {
    let query = browser_callback(authorize, username, password).await;
    let q: HashMap<_, _> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (q["code"].clone(), q["state"].clone())
}

/// Drive the login and consent pages; returns the query string of the callback redirect.
pub async fn browser_callback(authorize: &Url, username: &str, password: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_page = browser
        .get(authorize.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("login_form"), "{login_page}");
    let mut form = hidden_inputs(&login_page);
    form.push(("username".into(), username.into()));
    form.push(("pw".into(), password.into()));
    let post_url = authorize.join("/services/oauth2/authorize").unwrap();
    let consent = browser
        .post(post_url.clone())
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent.contains("consent_form"), "{consent}");
    let mut form = hidden_inputs(&consent);
    form.push(("decision".into(), "allow".into()));
    let resp = browser.post(post_url).form(&form).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location.query().unwrap_or_default().to_owned()
}
/// Web-server flow with PKCE through the sim's HTML pages.
pub async fn connect_web(running: &RunningSim) -> (OAuthClient, TokenResponse) {
    let c = &running.credentials;
    let oauth = oauth(c);
    let auth = oauth.authorize_url().unwrap();
    let query = browser_callback(&auth.url, &c.username, &c.password).await;
    let code = cockpit_salesforce::callback_code(&query, &auth.state).unwrap();
    let t = oauth
        .exchange_code(code.expose_secret(), &auth.pkce_verifier)
        .await
        .unwrap();
    (oauth, t)
}

/// An API session over an in-memory provider started from a token response.
pub fn session(
    oauth: &OAuthClient,
    t: &TokenResponse,
) -> (SalesforceClient, Arc<InMemoryTokenProvider>) {
    let provider = Arc::new(InMemoryTokenProvider::from_response(oauth.clone(), t));
    let client = client_with(t.instance_url.as_str(), provider.clone());
    (client, provider)
}
