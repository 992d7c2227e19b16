//! The cockpit's client for the Salesforce APIs: the only door to Salesforce.
//!
//! * [`OAuthClient`]: connect an org (web-server flow with PKCE, JWT bearer, client
//!   credentials), refresh, revoke, identity.
//! * [`SalesforceClient`]: an API session over a [`TokenProvider`]; refreshes once on 401,
//!   tracks `Sforce-Limit-Info` and pauses at a budget share, backs off on
//!   `REQUEST_LIMIT_EXCEEDED`, streams queries, fetches every OauthToken
//!   ([`SalesforceClient::oauth_tokens_complete`]), reads event logs, drives Connect ECA usage and
//!   blocks/unblocks apps through the Metadata API.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cockpit_salesforce::*;
//! use futures::TryStreamExt;
//!
//! # async fn demo(code: &str, verifier: SecretString) -> Result<()> {
//! let mut cfg = OAuthConfig::new(url::Url::parse("https://acme.my.salesforce.com").unwrap(), "3MVG9…");
//! cfg.client_secret = Some(SecretString::from("…".to_owned()));
//! cfg.redirect_uri = Some(url::Url::parse("https://cockpit.example/callback").unwrap());
//! let oauth = OAuthClient::new(cfg)?;
//! // 1. `oauth.authorize_url()?` → redirect the browser, keep `pkce_verifier` and `state`.
//! // 2. On the callback:
//! let token = oauth.exchange_code(code, &verifier).await?;
//! // 3. An API session (the cockpit plugs in its own database-backed TokenProvider).
//! let provider = Arc::new(InMemoryTokenProvider::from_response(oauth.clone(), &token));
//! let client = SalesforceClient::new(ClientConfig::default(), token.instance_url.clone(), provider)?;
//! let mut tokens = client.oauth_tokens_complete();
//! while let Some(t) = tokens.try_next().await? {
//!     let _ = t.app_name; // upsert…
//! }
//! assert!(tokens.stats().complete);
//! # Ok(()) }
//! ```
//!
//! Nothing here logs or prints a secret: tokens are [`secrecy::SecretString`]s or
//! [`AccessToken`]s, and errors carry bounded, token-free text only.

/// A newtype over a secret string (`$name(SecretString)`): `Debug` shows
/// only the type's name, equality compares the values, `expose` gives the
/// raw value for the one place that sends it. Attributes (a serde derive)
/// go before the name.
macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(secrecy::SecretString);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(secrecy::SecretString::from(value.into()))
            }
            pub fn secret(&self) -> &secrecy::SecretString {
                &self.0
            }
            /// The raw value, for the request that sends it.
            pub fn expose(&self) -> &str {
                secrecy::ExposeSecret::expose_secret(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.expose() == other.expose()
            }
        }
        impl Eq for $name {}
    };
}

mod auth;
mod budget;
mod client;
mod config;
mod connect;
mod error;
mod eventlog;
mod http;
mod metadata;
mod objects;
#[cfg(test)]
mod proptests;
mod query;
pub mod records;
mod session;
mod tokens;

pub use auth::{
    AccessToken, AuthorizeRequest, OAuthClient, OAuthConfig, TokenResponse, callback_code,
    parse_identity_url,
};
pub use budget::{ApiUsage, PerAppUsage};
pub use client::SalesforceClient;
pub use config::{Backoff, ClientConfig, DEFAULT_API_VERSION, HttpSettings};
pub use error::{ApiErrorItem, ComponentFailure, Error, Result};
pub use metadata::{
    BlockTarget, ConnectedAppMetadata, DeployResult, DeployStatus, EcaPolicies, MetadataItem,
    block_package, developer_name, eca_policies_name, eca_policies_package, unblock_package,
};
pub use query::QueryPage;
pub use records::{
    ApiVersion, AppMenuItem, ConnectedApplication, DeleteToken, EcaAppUsage, EcaTokenUsage,
    EcaUserUsage, EventLogFile, ExternalClientApplication, ExtlClntAppOauthPlcyCnfg, Identity,
    Limit, Limits, LoginHistory, OauthToken, SetupAuditTrail, User, UserPermissionAccess,
};
pub use secrecy::{ExposeSecret, SecretString};
pub use session::{InMemoryTokenProvider, Renewal, TokenProvider};
pub use tokens::{FetchStats, OAUTH_TOKEN_CAP, OauthTokenStream};
