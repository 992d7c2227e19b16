//! OpenID Connect single sign-on against any standard provider (Okta, Entra
//! ID, Google, Salesforce itself): discovery, the authorization-code flow
//! with PKCE and a nonce, id_token verification, and the cockpit role taken
//! from a claim. The protocol is the `openidconnect` crate's; this module
//! only adapts its HTTP client to our reqwest and reads the role claim.
//!
//! The pages that use it are in `pages/sso.rs`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use cockpit_domain::role::Role;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
    core::{
        CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

/// How SSO is set up (from `serve`'s options).
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL; `/.well-known/openid-configuration` is read from it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Claim holding the person's groups or role; a dotted path reaches into
    /// objects (`custom_attributes.cockpit_role` for Salesforce).
    pub role_claim: String,
    /// Claim value → role. When empty, the values `viewer`, `analyst` and
    /// `admin` are taken as they are.
    pub role_map: Vec<(String, Role)>,
    /// Role for anyone the provider vouches for whose claim maps to none.
    pub default_role: Option<Role>,
    /// Shown on the button: "Sign in with {label}".
    pub label: String,
}

impl SsoConfig {
    /// Parses `value=role,value=role`.
    pub fn parse_role_map(text: &str) -> Result<Vec<(String, Role)>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (value, role) = pair
                    .rsplit_once('=')
                    .ok_or_else(|| format!("{pair:?} is not claim-value=role"))?;
                let role = Role::parse(role.trim())
                    .ok_or_else(|| format!("{role:?} is not viewer, analyst or admin"))?;
                Ok((value.trim().to_owned(), role))
            })
            .collect()
    }

    /// Whether the provider decides roles (a map or a default is set); if
    /// not, SSO only proves who someone is and roles are granted here.
    pub fn manages_roles(&self) -> bool {
        !self.role_map.is_empty() || self.default_role.is_some()
    }

    /// The strongest role the claim's values map to, else the default.
    pub fn role_for(&self, values: &[String]) -> Option<Role> {
        let mapped = values.iter().filter_map(|v| {
            if self.role_map.is_empty() {
                Role::parse(v)
            } else {
                self.role_map
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(v))
                    .map(|(_, r)| *r)
            }
        });
        mapped.max().or(self.default_role)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the identity provider could not be reached or answered badly: {0}")]
    Provider(String),
    #[error("the identity provider's answer did not verify: {0}")]
    Verify(String),
    #[error("single sign-on is misconfigured: {0}")]
    Config(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// `Some(false)` when the provider says the address is not verified.
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// Values of the role claim (a string, a list, or the keys of an object
    /// whose value is `true`).
    pub role_values: Vec<String>,
}

/// What must be kept between sending someone to the provider and their return.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    pub verifier: String,
    pub nonce: String,
    pub next: String,
    /// Hash of the browser's pre-sign-in cookie: the flow must end in the
    /// browser that started it (no signing someone in as someone else).
    pub browser: String,
}

pub struct Started {
    pub url: url::Url,
    pub state: SecretString,
    pub verifier: String,
    pub nonce: String,
}

/// Provider metadata (and its keys) is cached this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Answers from the provider are small; anything larger is refused.
const MAX_BODY: usize = 1024 * 1024;

pub struct Sso {
    pub config: SsoConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
    /// Origins the browser is sent to from a sign-in form (the issuer's,
    /// and the authorization endpoint's once known): the pages' CSP
    /// `form-action` must allow them, or browsers stop the redirect.
    form_targets: std::sync::RwLock<Vec<String>>,
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin())
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization())
}

impl Sso {
    pub fn new(config: SsoConfig, public_url: &str) -> Result<Arc<Sso>, SsoError> {
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| SsoError::Config(format!("issuer URL: {e}")))?;
        let config_issuer = config.issuer.clone();
        let redirect = RedirectUrl::new(format!("{public_url}/signin/sso/callback"))
            .map_err(|e| SsoError::Config(format!("redirect URL: {e}")))?;
        // reqwest is built without a TLS provider of its own: without this,
        // `serve --oidc-issuer` panicked at start. The first install wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer steer our requests.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| SsoError::Config(format!("HTTP client: {e}")))?;
        Ok(Arc::new(Sso {
            config,
            redirect,
            http,
            metadata: Mutex::new(None),
            form_targets: std::sync::RwLock::new(origin(&config_issuer).into_iter().collect()),
        }))
    }

    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && !refresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::Config(format!("issuer URL: {e}")))?;
        let m = CoreProviderMetadata::discover_async(issuer, &Http(&self.http))
            .await
            .map_err(|e| SsoError::Provider(error_chain(&e)))?;
        if let Some(o) = origin(m.authorization_endpoint().url().as_str()) {
            let mut targets = self.form_targets.write().unwrap_or_else(|e| e.into_inner());
            if !targets.contains(&o) {
                targets.push(o);
            }
        }
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    /// Reads the provider's metadata ahead of the first sign-in, so the
    /// sign-in page already allows its authorization endpoint.
    pub async fn warm(&self) {
        if let Err(e) = self.metadata(false).await {
            tracing::warn!(error = %e, "single sign-on: the provider's metadata could not be read yet");
        }
    }

    /// Extra `form-action` sources for the pages' Content-Security-Policy.
    pub fn form_action_sources(&self) -> Vec<String> {
        self.form_targets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn client(
        &self,
        refresh: bool,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        SsoError,
    > {
        let m = self.metadata(refresh).await?;
        Ok(CoreClient::from_provider_metadata(
            m,
            ClientId::new(self.config.client_id.clone()),
            self.config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// Where to send the browser. `fresh` asks the provider to authenticate
    /// the person again even if it has a session (for the password re-check).
    pub async fn start(&self, login_hint: Option<&str>, fresh: bool) -> Result<Started, SsoError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new));
        if let Some(hint) = login_hint {
            req = req.set_login_hint(LoginHint::new(hint.to_owned()));
        }
        if fresh {
            req = req
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = req.url();
        Ok(Started {
            url,
            state: SecretString::from(state.secret().clone()),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        })
    }

    /// Exchanges the code and verifies the id_token (signature by the
    /// provider's published keys, issuer, audience, expiry, nonce).
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<Identity, SsoError> {
        let client = self.client(false).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&Http(&self.http))
            .await
            .map_err(|e| SsoError::Provider(error_chain(&e)))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SsoError::Verify("no id_token in the token response".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            // The provider may have rotated its keys since we cached them.
            Err(_) => {
                let client = self.client(true).await?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| SsoError::Verify(error_chain(&e)))?
                    .clone()
            }
        };
        // The signature is verified: the rest of the payload can be read.
        let raw = payload(&id_token.to_string()).unwrap_or(Value::Null);
        let mut role_values = claim_values(&raw, &self.config.role_claim);
        let mut email = claims.email().map(|e| e.as_str().to_owned());
        let mut email_verified = claims.email_verified();
        if role_values.is_empty() || email.is_none() {
            // Some providers (Entra ID, Salesforce for custom attributes
            // when asked) put claims only in userinfo.
            if let Ok(req) =
                client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
            {
                match req
                    .request_async::<RawClaims, _, CoreGenderClaim>(&Http(&self.http))
                    .await
                {
                    Ok(info) => {
                        if role_values.is_empty() {
                            let v = serde_json::to_value(info.additional_claims())
                                .unwrap_or(Value::Null);
                            role_values = claim_values(&v, &self.config.role_claim);
                        }
                        if email.is_none() {
                            email = info.email().map(|e| e.as_str().to_owned());
                            email_verified = info.email_verified();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %error_chain(&e), "SSO userinfo request failed")
                    }
                }
            }
        }
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned());
        Ok(Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: email.map(|e| bounded(&e, 254)),
            email_verified,
            name: name.map(|n| bounded(&n, 200)),
            role_values: role_values
                .into_iter()
                .take(100)
                .map(|v| bounded(&v, 200))
                .collect(),
        })
    }
}

/// Every claim, for reading the role claim out of userinfo.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawClaims {
    #[serde(flatten)]
    all: serde_json::Map<String, Value>,
}
impl openidconnect::AdditionalClaims for RawClaims {}

fn payload(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The values at a dotted claim path: a string, a list of strings, or the
/// keys of an object whose value is `true` (Salesforce custom permissions).
pub fn claim_values(claims: &Value, path: &str) -> Vec<String> {
    let mut v = claims;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return Vec::new(),
        }
    }
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    }
}

fn bounded(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    bounded(&text, 500)
}

/// `openidconnect`'s HTTP client trait over our reqwest (redirects off,
/// timeouts, bounded bodies).
struct Http<'a>(&'a reqwest::Client);

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("response larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("{0}")]
    Http(#[from] http::Error),
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let mut resp = self.0.execute(request).await?;
            let mut builder = http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(builder.body(body)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(map: &str, default: Option<Role>) -> SsoConfig {
        SsoConfig {
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            client_secret: None,
            scopes: vec![],
            role_claim: "groups".into(),
            role_map: SsoConfig::parse_role_map(map).unwrap(),
            default_role: default,
            label: "IdP".into(),
        }
    }

    #[test]
    fn role_claims_in_every_shape() {
        let claims = serde_json::json!({
            "groups": ["everyone", "SecOps"],
            "custom_attributes": {"cockpit_role": "System Administrator"},
            "custom_permissions": {"CockpitAdmin": true, "Other": false},
            "n": 5,
        });
        assert_eq!(claim_values(&claims, "groups"), ["everyone", "SecOps"]);
        assert_eq!(
            claim_values(&claims, "custom_attributes.cockpit_role"),
            ["System Administrator"]
        );
        assert_eq!(
            claim_values(&claims, "custom_permissions"),
            ["CockpitAdmin"]
        );
        assert!(claim_values(&claims, "n").is_empty());
        assert!(claim_values(&claims, "missing.path").is_empty());
    }

    #[test]
    fn the_strongest_mapped_role_wins_and_the_default_fills_in() {
        let c = config("secops=analyst, it-admins=admin,managers=viewer", None);
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(c.role_for(&v(&["managers", "SecOps"])), Some(Role::Analyst));
        assert_eq!(
            c.role_for(&v(&["it-admins", "managers"])),
            Some(Role::Admin)
        );
        assert_eq!(c.role_for(&v(&["everyone"])), None);
        assert!(c.manages_roles());
        let c = config("", Some(Role::Viewer));
        assert_eq!(c.role_for(&v(&["everyone"])), Some(Role::Viewer));
        // Without a map, role names are taken as they are.
        assert_eq!(c.role_for(&v(&["admin"])), Some(Role::Admin));
        let c = config("", None);
        assert!(!c.manages_roles());
        assert!(SsoConfig::parse_role_map("x=root").is_err());
        assert!(SsoConfig::parse_role_map("novalue").is_err());
    }
}
