//! Connecting an org: obtain a first token through one of the three flows,
//! read the identity URL, check what the integration user may see, and store
//! the org with its sealed secrets — all or nothing.

use std::sync::Arc;

use cockpit_db::PgPool;
use cockpit_domain::secret::{Keyring, SecretField, SecretScope};
use cockpit_salesforce::{
    ClientConfig, InMemoryTokenProvider, OAuthClient, SalesforceClient, SecretString, TokenResponse,
};
use url::Url;
use uuid::Uuid;

use crate::{
    WorkerError,
    provider::{AuthFlow, oauth_config},
};

/// How the cockpit authenticates to the org.
pub enum Credentials {
    /// JWT bearer: a private key whose certificate the org's app trusts, and
    /// the integration user's username.
    JwtBearer {
        private_key_pem: SecretString,
        username: String,
    },
    /// Client credentials (the app's run-as user); needs the client secret.
    ClientCredentials,
    /// Web-server flow: the token response of the code exchange, which
    /// carries the refresh token.
    WebServer(Box<TokenResponse>),
}

pub struct ConnectRequest {
    pub name: String,
    pub login_url: Url,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub sandbox: bool,
    pub api_version: String,
    pub credentials: Credentials,
}

impl ConnectRequest {
    /// A JWT bearer connection: scripted set-ups, the demo, tests.
    pub fn jwt(
        name: &str,
        login_url: &str,
        client_id: &str,
        client_secret: Option<&str>,
        private_key_pem: &str,
        username: &str,
        sandbox: bool,
    ) -> Result<ConnectRequest, WorkerError> {
        Ok(ConnectRequest {
            name: name.to_owned(),
            login_url: Url::parse(login_url)
                .map_err(|e| WorkerError::Invalid(format!("bad login URL: {e}")))?,
            client_id: client_id.to_owned(),
            client_secret: client_secret.map(|s| SecretString::from(s.to_owned())),
            sandbox,
            api_version: cockpit_salesforce::DEFAULT_API_VERSION.to_owned(),
            credentials: Credentials::JwtBearer {
                private_key_pem: SecretString::from(private_key_pem.to_owned()),
                username: username.to_owned(),
            },
        })
    }
}

/// What the connect learned, for the org page and the CLI.
#[derive(Debug, Clone)]
pub struct Connected {
    pub id: Uuid,
    pub sf_org_id: String,
    pub username: String,
    pub instance_url: String,
    /// False when the integration user lacks the permission to see every
    /// user's tokens: Salesforce would then return only its own.
    pub sees_all_tokens: bool,
}

pub fn validate_name(name: &str) -> Result<&str, WorkerError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(WorkerError::Invalid(
            "an org name is 1 to 80 characters, without control characters".into(),
        ));
    }
    Ok(name)
}

/// The OAuth client for connecting (before anything is stored).
pub fn oauth_for(req: &ConnectRequest) -> Result<OAuthClient, WorkerError> {
    Ok(OAuthClient::new(oauth_config(
        req.login_url.clone(),
        &req.client_id,
        req.client_secret.clone(),
        req.sandbox,
    ))?)
}

/// The OAuth client for the web-server flow: the org's login URL and the
/// cockpit's callback.
pub fn oauth_for_web(
    login_url: Url,
    client_id: &str,
    client_secret: Option<SecretString>,
    sandbox: bool,
    redirect_uri: Url,
) -> Result<OAuthClient, WorkerError> {
    let mut config = oauth_config(login_url, client_id, client_secret, sandbox);
    config.redirect_uri = Some(redirect_uri);
    Ok(OAuthClient::new(config)?)
}

pub async fn connect(
    pool: &PgPool,
    keyring: &Keyring,
    req: ConnectRequest,
) -> Result<Connected, WorkerError> {
    let name = validate_name(&req.name)?.to_owned();
    if cockpit_db::orgs::find_by_name(pool, &name).await?.is_some() {
        return Err(WorkerError::Invalid(format!(
            "an org named {name:?} is already connected"
        )));
    }
    let oauth = oauth_for(&req)?;
    let (flow, response) = match &req.credentials {
        Credentials::JwtBearer {
            private_key_pem,
            username,
        } => (
            AuthFlow::JwtBearer,
            oauth.jwt_bearer(username, private_key_pem).await?,
        ),
        Credentials::ClientCredentials => {
            if req.client_secret.is_none() {
                return Err(WorkerError::Invalid(
                    "the client credentials flow needs the client secret".into(),
                ));
            }
            (
                AuthFlow::ClientCredentials,
                oauth.client_credentials().await?,
            )
        }
        Credentials::WebServer(response) => (AuthFlow::WebServer, (**response).clone()),
    };
    if flow == AuthFlow::WebServer && response.refresh_token.is_none() {
        return Err(WorkerError::Invalid(
            "Salesforce granted no refresh token: the app must allow the refresh_token scope"
                .into(),
        ));
    }
    let id_url = response.id.clone().ok_or_else(|| {
        WorkerError::Invalid("Salesforce's token response had no identity URL".into())
    })?;
    // The identity URL is fetched with the access token: only from the host
    // the cockpit logged in at or the org's instance, never from wherever a
    // token response points.
    let same_host = |u: &url::Url| {
        u.scheme() == id_url.scheme()
            && u.host_str() == id_url.host_str()
            && u.port_or_known_default() == id_url.port_or_known_default()
    };
    if !(same_host(&req.login_url) || same_host(&response.instance_url)) {
        return Err(WorkerError::Invalid(
            "Salesforce's token response named an identity URL on another host".into(),
        ));
    }
    let identity = oauth.identity(&id_url, &response.access_token).await?;
    let api = SalesforceClient::new(
        ClientConfig {
            api_version: req.api_version.clone(),
            ..ClientConfig::default()
        },
        response.instance_url.clone(),
        Arc::new(InMemoryTokenProvider::fixed(response.access_token.clone())),
    )?;
    let perms = api.user_permissions().await?;
    let sees_all_tokens =
        perms.permissions_customize_application || perms.permissions_view_all_data;

    let id = Uuid::new_v4();
    let username = match &req.credentials {
        Credentials::JwtBearer { username, .. } => Some(username.as_str()),
        _ => None,
    };
    let instance_url = response.instance_url.to_string();
    let instance_url = instance_url.trim_end_matches('/');
    let mut tx = pool.begin().await?;
    cockpit_db::orgs::insert(
        &mut *tx,
        &cockpit_db::orgs::NewOrg {
            id,
            name: &name,
            login_url: req.login_url.as_str().trim_end_matches('/'),
            instance_url,
            sf_org_id: &identity.organization_id,
            integration_username: &identity.username,
            integration_user_id: &identity.user_id,
            auth_flow: flow.as_str(),
            client_id: &req.client_id,
            username,
            sandbox: req.sandbox,
            api_version: &req.api_version,
            sees_all_tokens,
        },
    )
    .await?;
    let key_id = keyring.current_id();
    if let Some(secret) = &req.client_secret {
        let sealed = keyring.seal_str(SecretScope::org(id, SecretField::ClientSecret), secret);
        cockpit_db::orgs::put_secret(&mut *tx, id, "client_secret", &sealed, &key_id).await?;
    }
    if let Credentials::JwtBearer {
        private_key_pem, ..
    } = &req.credentials
    {
        let sealed = keyring.seal_str(
            SecretScope::org(id, SecretField::PrivateKey),
            private_key_pem,
        );
        cockpit_db::orgs::put_secret(&mut *tx, id, "private_key", &sealed, &key_id).await?;
    }
    if let Some(refresh) = &response.refresh_token {
        let sealed = keyring.seal_str(SecretScope::org(id, SecretField::RefreshToken), refresh);
        cockpit_db::orgs::put_secret(&mut *tx, id, "refresh_token", &sealed, &key_id).await?;
    }
    cockpit_db::jobs::enqueue_sync(&mut *tx, id, "connect").await?;
    tx.commit().await?;
    tracing::info!(org = %id, sf_org = %identity.organization_id, flow = flow.as_str(), sees_all_tokens, "org connected");
    Ok(Connected {
        id,
        sf_org_id: identity.organization_id,
        username: identity.username,
        instance_url: instance_url.to_owned(),
        sees_all_tokens,
    })
}

/// Disconnects an org: revokes the cockpit's own refresh token at Salesforce
/// (best effort: the org may be gone) and deletes the stored secrets and data.
pub async fn disconnect(pool: &PgPool, keyring: &Keyring, org: Uuid) -> Result<bool, WorkerError> {
    let row = cockpit_db::orgs::get(pool, org)
        .await?
        .ok_or(WorkerError::NotFound)?;
    let mut revoked = false;
    if let Some(sealed) = cockpit_db::orgs::get_secret(pool, org, "refresh_token").await? {
        let refresh =
            keyring.open_str(SecretScope::org(org, SecretField::RefreshToken), &sealed)?;
        let oauth = crate::provider::oauth_client(pool, keyring, &row).await?;
        let host = Url::parse(row.instance_url.as_deref().unwrap_or(&row.login_url))
            .map_err(|e| WorkerError::Invalid(format!("bad instance URL: {e}")))?;
        match oauth.revoke(&host, &refresh, None).await {
            Ok(()) => revoked = true,
            Err(e) => {
                tracing::warn!(org = %org, error = %e, "could not revoke the cockpit's refresh token")
            }
        }
    }
    let mut tx = pool.begin().await?;
    cockpit_db::orgs::delete_secrets(&mut *tx, org).await?;
    cockpit_db::orgs::delete(&mut tx, org).await?;
    tx.commit().await?;
    if let Err(e) = cockpit_db::sync::drop_partition(pool, org).await {
        tracing::warn!(org = %org, error = %e, "the org's empty token partition is left behind");
    }
    Ok(revoked)
}
