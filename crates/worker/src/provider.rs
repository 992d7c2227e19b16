//! Access tokens for an org's API session, renewed from the secrets stored
//! (sealed) in the database.
//!
//! Access tokens live in memory only. A refresh takes the org's refresh-token
//! row `FOR UPDATE`, so one refresh per org runs at a time across every
//! cockpit process; with refresh-token rotation the new refresh token is
//! stored in that same transaction, before the old one could be used again.

use std::sync::Arc;

use cockpit_db::{PgPool, orgs::OrgRow};
use cockpit_domain::secret::{Keyring, SecretField, SecretScope};
use cockpit_salesforce::{
    AccessToken, ClientConfig, Error as SfError, OAuthClient, OAuthConfig, SalesforceClient,
    SecretString, TokenProvider, TokenResponse,
};
use futures::future::BoxFuture;
use url::Url;
use uuid::Uuid;

use crate::WorkerError;

/// How the org was connected, and so how access is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFlow {
    WebServer,
    JwtBearer,
    ClientCredentials,
}

impl AuthFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFlow::WebServer => "web_server",
            AuthFlow::JwtBearer => "jwt_bearer",
            AuthFlow::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<AuthFlow> {
        match s {
            "web_server" => Some(AuthFlow::WebServer),
            "jwt_bearer" => Some(AuthFlow::JwtBearer),
            "client_credentials" => Some(AuthFlow::ClientCredentials),
            _ => None,
        }
    }
}

/// The JWT audience Salesforce expects: the login host of the org's kind.
/// (A My Domain login URL is not an audience Salesforce documents.)
pub fn jwt_audience(login_url: &Url, sandbox: bool) -> String {
    match login_url.host_str() {
        Some("login.salesforce.com") | Some("test.salesforce.com") => {
            login_url.origin().ascii_serialization()
        }
        _ if sandbox => "https://test.salesforce.com".to_owned(),
        _ => "https://login.salesforce.com".to_owned(),
    }
}

pub fn oauth_config(
    login_url: Url,
    client_id: &str,
    client_secret: Option<SecretString>,
    sandbox: bool,
) -> OAuthConfig {
    let mut config = OAuthConfig::new(login_url.clone(), client_id);
    config.client_secret = client_secret;
    config.jwt_audience = Some(jwt_audience(&login_url, sandbox));
    config
}

pub struct DbTokenProvider {
    pool: PgPool,
    org: Uuid,
    flow: AuthFlow,
    username: Option<String>,
    keyring: Arc<Keyring>,
    oauth: OAuthClient,
    access: tokio::sync::Mutex<Option<AccessToken>>,
}

fn db_error(e: impl std::fmt::Display) -> SfError {
    SfError::Config(format!(
        "the cockpit could not read the org's stored credentials: {e}"
    ))
}

impl DbTokenProvider {
    async fn renew(&self) -> Result<TokenResponse, SfError> {
        match self.flow {
            AuthFlow::WebServer => self.refresh_stored_token().await,
            AuthFlow::JwtBearer => {
                let sealed = cockpit_db::orgs::get_secret(&self.pool, self.org, "private_key")
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| db_error("no private key stored"))?;
                let pem = self
                    .keyring
                    .open_str(SecretScope::org(self.org, SecretField::PrivateKey), &sealed)
                    .map_err(db_error)?;
                let username = self
                    .username
                    .as_deref()
                    .ok_or_else(|| db_error("no username stored"))?;
                self.oauth.jwt_bearer(username, &pem).await
            }
            AuthFlow::ClientCredentials => self.oauth.client_credentials().await,
        }
    }

    async fn refresh_stored_token(&self) -> Result<TokenResponse, SfError> {
        let scope = SecretScope::org(self.org, SecretField::RefreshToken);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let sealed = cockpit_db::orgs::lock_secret(&mut *tx, self.org, "refresh_token")
            .await
            .map_err(db_error)?
            .ok_or_else(|| SfError::NeedsReauthorization {
                description: "no refresh token stored".into(),
            })?;
        let refresh_token = self.keyring.open_str(scope, &sealed).map_err(db_error)?;
        match self.oauth.refresh(&refresh_token).await {
            Ok(response) => {
                if let Some(rotated) = &response.refresh_token {
                    let sealed = self.keyring.seal_str(scope, rotated);
                    cockpit_db::orgs::put_secret(
                        &mut *tx,
                        self.org,
                        "refresh_token",
                        &sealed,
                        &self.keyring.current_id(),
                    )
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(response)
            }
            Err(e) if e.needs_reauthorization() => {
                let detail = e.to_string();
                cockpit_db::orgs::set_status(&mut *tx, self.org, "needs_reauth", Some(&detail))
                    .await
                    .map_err(db_error)?;
                let notice = cockpit_db::notify::Notice::new(
                    cockpit_domain::notify::EventKind::OrgNeedsReauth,
                    Some(self.org),
                    "An org needs to be connected again: the cockpit's authorization no longer works",
                )
                .detail(serde_json::json!({ "error": detail.chars().take(300).collect::<String>() }))
                .link(format!("/orgs/{}", self.org));
                cockpit_db::notify::emit_once_per_streak(&mut tx, &notice)
                    .await
                    .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                tracing::warn!(org = %self.org, error = %detail, "org needs re-authorization");
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl TokenProvider for DbTokenProvider {
    fn access_token(&self) -> BoxFuture<'_, cockpit_salesforce::Result<AccessToken>> {
        Box::pin(async move {
            let mut access = self.access.lock().await;
            if let Some(token) = access.as_ref() {
                return Ok(token.clone());
            }
            let fresh = self.renew().await?.access_token;
            *access = Some(fresh.clone());
            Ok(fresh)
        })
    }

    fn refresh<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, cockpit_salesforce::Result<AccessToken>> {
        Box::pin(async move {
            let mut access = self.access.lock().await;
            if let Some(current) = access.as_ref()
                && current != rejected
            {
                return Ok(current.clone());
            }
            let fresh = self.renew().await?.access_token;
            *access = Some(fresh.clone());
            Ok(fresh)
        })
    }
}

/// An org's OAuth client, built from its stored settings and secrets.
pub async fn oauth_client(
    pool: &PgPool,
    keyring: &Keyring,
    org: &OrgRow,
) -> Result<OAuthClient, WorkerError> {
    let login_url = Url::parse(&org.login_url)
        .map_err(|e| WorkerError::Invalid(format!("bad login URL: {e}")))?;
    let client_id = org
        .client_id
        .clone()
        .ok_or_else(|| WorkerError::Invalid("the org has no client id".into()))?;
    let secret = match cockpit_db::orgs::get_secret(pool, org.id, "client_secret").await? {
        Some(sealed) => {
            Some(keyring.open_str(SecretScope::org(org.id, SecretField::ClientSecret), &sealed)?)
        }
        None => None,
    };
    Ok(OAuthClient::new(oauth_config(
        login_url,
        &client_id,
        secret,
        org.sandbox,
    ))?)
}

/// An API session for a stored org.
pub async fn session(
    pool: &PgPool,
    keyring: Arc<Keyring>,
    org: &OrgRow,
) -> Result<SalesforceClient, WorkerError> {
    let flow = AuthFlow::parse(&org.auth_flow)
        .ok_or_else(|| WorkerError::Invalid("unknown auth flow".into()))?;
    let instance = org
        .instance_url
        .as_deref()
        .ok_or_else(|| WorkerError::Invalid("the org has no instance URL yet".into()))?;
    let instance =
        Url::parse(instance).map_err(|e| WorkerError::Invalid(format!("bad instance URL: {e}")))?;
    let oauth = oauth_client(pool, &keyring, org).await?;
    let provider = DbTokenProvider {
        pool: pool.clone(),
        org: org.id,
        flow,
        username: org.username.clone(),
        keyring,
        oauth,
        access: tokio::sync::Mutex::new(None),
    };
    let config = ClientConfig {
        api_version: org.api_version.clone(),
        budget_share: f64::from(org.budget_share),
        ..ClientConfig::default()
    };
    Ok(SalesforceClient::new(config, instance, Arc::new(provider))?)
}
