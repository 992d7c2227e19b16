//! OAuth: web-server flow with PKCE (through the `oauth2` crate), refresh, JWT bearer, client
//! credentials, revoke and identity.
//!
//! Every secret lives in a [`SecretString`] or an [`AccessToken`]; neither prints its value.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::HttpSettings;
use crate::error::{Error, Result, bounded};
use crate::http::{self, Body};
use crate::records::Identity;

secret_string!(
    /// An OAuth access token. `Debug` never shows the value.
    AccessToken
);

impl From<SecretString> for AccessToken {
    fn from(s: SecretString) -> Self {
        Self(s)
    }
}

/// What a token endpoint returns.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    /// Present on the web-server flow, and on refresh when rotation is on: store it atomically.
    pub refresh_token: Option<SecretString>,
    pub instance_url: Url,
    /// The identity URL (`…/id/{orgId}/{userId}`).
    pub id: Option<Url>,
    pub issued_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
}

impl TokenResponse {
    /// `(org id, user id)` parsed from the identity URL.
    pub fn ids(&self) -> Option<(String, String)> {
        self.id.as_ref().and_then(|u| parse_identity_url(u).ok())
    }
}

/// Parse `(org id, user id)` from an identity URL `https://host/id/00D…/005…`.
pub fn parse_identity_url(url: &Url) -> Result<(String, String)> {
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    match segs.as_slice() {
        [.., "id", org, user] if org.starts_with("00D") && user.starts_with("005") => {
            Ok(((*org).to_owned(), (*user).to_owned()))
        }
        _ => Err(Error::Protocol(format!(
            "not an identity URL: {}",
            bounded(url.path(), 120)
        ))),
    }
}

/// Read the authorization code from the callback's query string, checking `state` first.
/// An `error=` callback becomes the matching typed error (`OAUTH_APP_BLOCKED` →
/// [`Error::AppBlocked`], `access_denied` → [`Error::OAuth`], …).
pub fn callback_code(query: &str, expected_state: &SecretString) -> Result<SecretString> {
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
            .into_owned()
            .collect();
    if params.get("state").map(String::as_str) != Some(expected_state.expose_secret()) {
        return Err(Error::OAuth {
            code: "state_mismatch".into(),
            description: "the callback does not belong to this sign-in attempt".into(),
        });
    }
    if let Some(code) = params.get("error") {
        let description = params
            .get("error_description")
            .map(String::as_str)
            .unwrap_or("");
        return Err(token_error(code, description));
    }
    match params.get("code") {
        Some(c) if !c.is_empty() => Ok(SecretString::from(c.clone())),
        _ => Err(Error::Protocol("the callback carries no code".into())),
    }
}

/// Settings of an OAuth client (one connected app / external client app).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Login host or My Domain, e.g. `https://login.salesforce.com` or `https://acme.my.salesforce.com`.
    pub login_url: Url,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub client_secret: Option<SecretString>,
    pub redirect_uri: Option<Url>,
    /// JWT `aud`; defaults to the login URL's origin.
    pub jwt_audience: Option<String>,
    pub http: HttpSettings,
}

impl OAuthConfig {
    pub fn new(login_url: Url, client_id: impl Into<String>) -> Self {
        Self {
            login_url,
            client_id: client_id.into(),
            client_secret: None,
            redirect_uri: None,
            jwt_audience: None,
            http: HttpSettings::default(),
        }
    }
}

/// What the caller stores between the authorize redirect and the callback.
#[derive(Debug)]
pub struct AuthorizeRequest {
    /// Send the browser here.
    pub url: Url,
    pub pkce_verifier: SecretString,
    /// CSRF state; compare with the `state` query parameter of the callback.
    pub state: SecretString,
}

/// Client for the OAuth endpoints of one org / app.
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    config: Arc<OAuthConfig>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("login_url", &self.config.login_url.as_str())
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SfExtraFields {
    instance_url: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
}
impl oauth2::ExtraTokenFields for SfExtraFields {}

type SfOAuth2Client = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<SfExtraFields, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Adapter: `oauth2`'s HTTP client trait over our reqwest 0.13 client (redirects off).
struct OAuth2Http<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuth2Http<'_> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| Error::Config(format!("bad token request: {}", e.without_url())))?;
            let resp = http::send(self.0, request).await?;
            let body = http::read(resp).await?;
            check_token_transport(&body)?;
            let mut builder = ::http::Response::builder().status(body.status);
            for (k, v) in &body.headers {
                builder = builder.header(k, v);
            }
            builder
                .body(body.bytes)
                .map_err(|e| Error::Protocol(format!("bad token response: {e}")))
        })
    }
}

/// Reject redirects and non-JSON answers from a token endpoint before parsing.
fn check_token_transport(body: &Body) -> Result<()> {
    if (300..400).contains(&body.status) {
        return Err(http::status_error(body));
    }
    if !http::is_json_content_type(&body.content_type()) {
        return Err(http::not_json(body));
    }
    Ok(())
}

/// Map a token-endpoint `error` code to a typed error.
pub(crate) fn token_error(code: &str, description: &str) -> Error {
    let description = bounded(description, 200);
    match code {
        "invalid_grant" => Error::NeedsReauthorization { description },
        "app_blocked" | "client_blocked" | "fail_close_app_blocked" | "OAUTH_APP_BLOCKED" => {
            Error::AppBlocked { description }
        }
        "invalid_client" | "invalid_client_id" | "invalid_client_credentials" => {
            Error::InvalidClient {
                code: code.to_owned(),
                description,
            }
        }
        "invalid_app_access" | "OAUTH_APP_ACCESS_DENIED" => Error::AppAccessDenied { description },
        other => Error::OAuth {
            code: bounded(other, 80),
            description,
        },
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    instance_url: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct RawTokenError {
    error: String,
    #[serde(default)]
    error_description: String,
}

fn parse_issued_at(s: Option<&str>) -> Option<DateTime<Utc>> {
    let n: i64 = s?.trim().parse().ok()?;
    // Documented as seconds, sent as milliseconds.
    if n > 100_000_000_000 {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

fn parse_url(s: &str, what: &str) -> Result<Url> {
    Url::parse(s).map_err(|_| Error::Protocol(format!("{what} is not a URL")))
}

fn build_token_response(
    access_token: String,
    refresh_token: Option<String>,
    instance_url: &str,
    id: Option<&str>,
    issued_at: Option<&str>,
    scope: Option<String>,
) -> Result<TokenResponse> {
    Ok(TokenResponse {
        access_token: AccessToken::new(access_token),
        refresh_token: refresh_token.map(SecretString::from),
        instance_url: parse_url(instance_url, "instance_url")?,
        id: id.map(|s| parse_url(s, "id")).transpose()?,
        issued_at: parse_issued_at(issued_at),
        scope,
    })
}

/// Parse a token endpoint answer (our own flows).
fn parse_token_body(body: &Body) -> Result<TokenResponse> {
    check_token_transport(body)?;
    if body.status >= 400 {
        return match serde_json::from_slice::<RawTokenError>(&body.bytes) {
            Ok(e) => Err(token_error(&e.error, &e.error_description)),
            Err(_) => Err(Error::Http {
                status: body.status,
                errors: http::parse_error_items(&body.bytes),
            }),
        };
    }
    if body.status != 200 {
        return Err(Error::Protocol(format!(
            "token endpoint answered HTTP {}",
            body.status
        )));
    }
    // Never echo a token response: the serde error detail is dropped on purpose.
    let raw: RawTokenResponse = serde_json::from_slice(&body.bytes).map_err(|e| {
        if e.is_eof() {
            Error::Truncated {
                host: body.host.clone(),
            }
        } else {
            Error::InvalidJson {
                detail: "token response lacks access_token or instance_url".to_owned(),
            }
        }
    })?;
    build_token_response(
        raw.access_token,
        raw.refresh_token,
        &raw.instance_url,
        raw.id.as_deref(),
        raw.issued_at.as_deref(),
        raw.scope,
    )
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

impl OAuthClient {
    pub fn new(config: OAuthConfig) -> Result<Self> {
        let http = http::build_client(&config.http)?;
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    fn endpoint(&self, path: &str) -> Result<Url> {
        endpoint(&self.config.login_url, path)
    }

    fn oauth2_client(&self) -> Result<SfOAuth2Client> {
        let auth = AuthUrl::from_url(self.endpoint("services/oauth2/authorize")?);
        let token = TokenUrl::from_url(self.endpoint("services/oauth2/token")?);
        let mut c = oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_auth_type(oauth2::AuthType::RequestBody);
        if let Some(secret) = &self.config.client_secret {
            c = c.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        if let Some(redirect) = &self.config.redirect_uri {
            c = c.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
        }
        Ok(c)
    }

    /// Build the authorize URL (scope `api refresh_token`, PKCE S256, random state).
    pub fn authorize_url(&self) -> Result<AuthorizeRequest> {
        if self.config.redirect_uri.is_none() {
            return Err(Error::Config(
                "the web-server flow needs a redirect URI".into(),
            ));
        }
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth2_client()?
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("api".into()))
            .add_scope(Scope::new("refresh_token".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizeRequest {
            url,
            pkce_verifier: SecretString::from(verifier.secret().clone()),
            state: SecretString::from(state.secret().clone()),
        })
    }

    /// Exchange the authorization code from the callback.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenResponse> {
        let client = self.oauth2_client()?;
        let adapter = OAuth2Http(&self.http);
        let result = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&adapter)
            .await;
        match result {
            Ok(t) => {
                let scope = t
                    .scopes()
                    .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "));
                let extra = t.extra_fields();
                build_token_response(
                    t.access_token().secret().clone(),
                    t.refresh_token().map(|r| r.secret().clone()),
                    &extra.instance_url,
                    extra.id.as_deref(),
                    extra.issued_at.as_deref(),
                    scope,
                )
            }
            Err(RequestTokenError::Request(e)) => Err(e),
            Err(RequestTokenError::ServerResponse(e)) => {
                let code = match e.error() {
                    BasicErrorResponseType::Extension(s) => s.clone(),
                    other => other.to_string(),
                };
                Err(token_error(
                    &code,
                    e.error_description().map(String::as_str).unwrap_or(""),
                ))
            }
            Err(RequestTokenError::Parse(_, _)) => Err(Error::InvalidJson {
                detail: "token response lacks access_token, token_type or instance_url".into(),
            }),
            Err(RequestTokenError::Other(s)) => Err(Error::Protocol(bounded(&s, 200))),
        }
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> Result<TokenResponse> {
        let url = self.endpoint("services/oauth2/token")?;
        let req = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .build()
            .map_err(|e| Error::Config(format!("bad token request: {}", e.without_url())))?;
        let resp = http::send(&self.http, req).await?;
        let body = http::read(resp).await?;
        parse_token_body(&body)
    }

    fn with_client_auth<'a>(&'a self, form: &mut Vec<(&'a str, &'a str)>) {
        form.push(("client_id", &self.config.client_id));
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
    }

    /// `refresh_token` grant. When rotation is on, the answer carries a new refresh token.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenResponse> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        self.with_client_auth(&mut form);
        self.token_call(&form).await
    }

    /// JWT bearer flow: RS256 assertion signed with `private_key_pem`.
    pub async fn jwt_bearer(
        &self,
        username: &str,
        private_key_pem: &SecretString,
    ) -> Result<TokenResponse> {
        let assertion = self.jwt_assertion(username, private_key_pem, Utc::now())?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.expose_secret()),
        ];
        self.token_call(&form).await
    }

    fn jwt_assertion(
        &self,
        username: &str,
        private_key_pem: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<SecretString> {
        let aud = self
            .config
            .jwt_audience
            .clone()
            .unwrap_or_else(|| default_audience(&self.config.login_url));
        let claims = JwtClaims {
            iss: &self.config.client_id,
            sub: username,
            aud: &aud,
            exp: now.timestamp() + 180,
        };
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
                .map_err(|_| Error::Config("the JWT private key is not an RSA PEM key".into()))?;
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|_| Error::Config("cannot sign the JWT assertion".into()))?;
        Ok(SecretString::from(jwt))
    }

    /// Client credentials flow (must target the My Domain host).
    pub async fn client_credentials(&self) -> Result<TokenResponse> {
        if self.config.client_secret.is_none() {
            return Err(Error::Config(
                "the client credentials flow needs a client secret".into(),
            ));
        }
        let mut form = vec![("grant_type", "client_credentials")];
        self.with_client_auth(&mut form);
        self.token_call(&form).await
    }

    /// Revoke an access token, a refresh token or a DeleteToken at `host`'s revoke endpoint.
    /// `bearer` authenticates the call (Salesforce accepts it without, but documents it as
    /// authenticated).
    pub async fn revoke(
        &self,
        host: &Url,
        token: &SecretString,
        bearer: Option<&AccessToken>,
    ) -> Result<()> {
        let resp = revoke_request(&self.http, host, token, bearer).await?;
        let body = http::read(resp).await?;
        revoke_outcome(&body)
    }

    /// Fetch the identity URL from a token response.
    pub async fn identity(&self, id_url: &Url, access_token: &AccessToken) -> Result<Identity> {
        let req = self
            .http
            .get(id_url.clone())
            .bearer_auth(access_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| Error::Config(format!("bad identity request: {}", e.without_url())))?;
        let resp = http::send(&self.http, req).await?;
        let body = http::read(resp).await?;
        if body.status == 401 || body.status == 403 {
            return Err(Error::InvalidSession);
        }
        if body.status >= 300 {
            return Err(http::status_error(&body));
        }
        http::parse_json(&body)
    }
}

pub(crate) async fn revoke_request(
    client: &reqwest::Client,
    host: &Url,
    token: &SecretString,
    bearer: Option<&AccessToken>,
) -> Result<reqwest::Response> {
    let url = endpoint(host, "services/oauth2/revoke")?;
    let mut builder = client.post(url).form(&[("token", token.expose_secret())]);
    if let Some(b) = bearer {
        builder = builder.bearer_auth(b.expose());
    }
    let req = builder
        .build()
        .map_err(|e| Error::Config(format!("bad revoke request: {}", e.without_url())))?;
    http::send(client, req).await
}

pub(crate) fn revoke_outcome(body: &Body) -> Result<()> {
    match body.status {
        200..=299 => Ok(()),
        300..=399 => Err(http::status_error(body)),
        401 => Err(Error::InvalidSession),
        _ => {
            if let Ok(e) = serde_json::from_slice::<RawTokenError>(&body.bytes) {
                return Err(token_error(&e.error, &e.error_description));
            }
            if let Ok(e) = serde_urlencoded::from_bytes::<RawTokenError>(&body.bytes) {
                return Err(token_error(&e.error, &e.error_description));
            }
            Err(http::status_error(body))
        }
    }
}

/// `base` joined with a path, keeping any path prefix of `base`.
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.set_query(None);
    b.join(path.trim_start_matches('/'))
        .map_err(|_| Error::Config(format!("bad URL path {path}")))
}

/// JWT `aud`: Salesforce wants the login host, not a My Domain; anything else (a simulator, an
/// Experience Cloud site) is its own origin.
fn default_audience(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host.ends_with(".sandbox.my.salesforce.com") || host == "test.salesforce.com" {
        "https://test.salesforce.com".to_owned()
    } else if host.ends_with(".my.salesforce.com") || host == "login.salesforce.com" {
        "https://login.salesforce.com".to_owned()
    } else {
        url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_debug_is_redacted() {
        let t = AccessToken::new("00Dxx!SECRET");
        assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
        assert_eq!(t.expose(), "00Dxx!SECRET");
    }

    #[test]
    fn identity_url_ids() {
        let u = Url::parse("https://login.salesforce.com/id/00D5g000004XyZAEAU/0055g00000AbCdEAAV")
            .unwrap();
        assert_eq!(
            parse_identity_url(&u).unwrap(),
            (
                "00D5g000004XyZAEAU".to_owned(),
                "0055g00000AbCdEAAV".to_owned()
            )
        );
        let bad = Url::parse("https://login.salesforce.com/services/data").unwrap();
        assert!(matches!(parse_identity_url(&bad), Err(Error::Protocol(_))));
    }

    #[test]
    fn token_errors_are_typed() {
        assert!(matches!(
            token_error("invalid_grant", "expired access/refresh token"),
            Error::NeedsReauthorization { .. }
        ));
        assert!(matches!(
            token_error("app_blocked", "x"),
            Error::AppBlocked { .. }
        ));
        assert!(matches!(
            token_error("invalid_client_id", "x"),
            Error::InvalidClient { .. }
        ));
        assert!(matches!(
            token_error("invalid_app_access", "x"),
            Error::AppAccessDenied { .. }
        ));
        assert!(matches!(
            token_error("server_error", "x"),
            Error::OAuth { .. }
        ));
    }

    #[test]
    fn issued_at_accepts_millis_and_seconds() {
        let ms = parse_issued_at(Some("1790000000000")).unwrap();
        let s = parse_issued_at(Some("1790000000")).unwrap();
        assert_eq!(ms, s);
    }

    #[test]
    fn callback_parsing() {
        let state = SecretString::from("S1");
        let code = callback_code("code=aPrx1&state=S1", &state).unwrap();
        assert_eq!(code.expose_secret(), "aPrx1");
        assert!(matches!(
            callback_code("?code=aPrx1&state=OTHER", &state),
            Err(Error::OAuth { ref code, .. }) if code == "state_mismatch"
        ));
        assert!(matches!(
            callback_code(
                "error=OAUTH_APP_BLOCKED&error_description=this+app+is+blocked+by+admin&state=S1",
                &state
            ),
            Err(Error::AppBlocked { ref description }) if description == "this app is blocked by admin"
        ));
        assert!(matches!(
            callback_code("error=access_denied&state=S1", &state),
            Err(Error::OAuth { ref code, .. }) if code == "access_denied"
        ));
        assert!(matches!(
            callback_code("state=S1", &state),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn jwt_audience_defaults() {
        let aud = |u: &str| default_audience(&Url::parse(u).unwrap());
        assert_eq!(
            aud("https://login.salesforce.com"),
            "https://login.salesforce.com"
        );
        assert_eq!(
            aud("https://acme.my.salesforce.com/"),
            "https://login.salesforce.com"
        );
        assert_eq!(
            aud("https://acme--uat.sandbox.my.salesforce.com"),
            "https://test.salesforce.com"
        );
        assert_eq!(aud("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    }

    #[test]
    fn endpoint_keeps_prefix() {
        let b = Url::parse("http://127.0.0.1:9/prefix").unwrap();
        assert_eq!(
            endpoint(&b, "services/oauth2/token").unwrap().as_str(),
            "http://127.0.0.1:9/prefix/services/oauth2/token"
        );
    }

    #[test]
    fn authorize_url_has_pkce_state_and_scope() {
        let mut cfg = OAuthConfig::new(Url::parse("https://login.salesforce.com").unwrap(), "CID");
        cfg.redirect_uri = Some(Url::parse("https://cockpit.example/callback").unwrap());
        let c = OAuthClient::new(cfg).unwrap();
        let a = c.authorize_url().unwrap();
        let q: std::collections::HashMap<_, _> = a.url.query_pairs().into_owned().collect();
        assert_eq!(a.url.path(), "/services/oauth2/authorize");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "CID");
        assert_eq!(q["scope"], "api refresh_token");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], a.state.expose_secret());
        assert!(a.pkce_verifier.expose_secret().len() >= 43);
        assert!(!q.values().any(|v| v == a.pkce_verifier.expose_secret()));
    }

    #[test]
    fn token_body_parse_never_echoes_token() {
        let body = Body {
            status: 200,
            headers: {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert(
                    reqwest::header::CONTENT_TYPE,
                    "application/json".parse().unwrap(),
                );
                h
            },
            bytes: br#"{"access_token":"00Dxx!SECRET","instance_url":5}"#.to_vec(),
            host: "h".into(),
        };
        let e = parse_token_body(&body).unwrap_err();
        assert!(!e.to_string().contains("SECRET"));
        assert!(!format!("{e:?}").contains("SECRET"));
    }
}
