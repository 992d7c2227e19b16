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
//! Nothing here logs or prints a secret: tokens are [`secrecy::SecretString`]s or
//! [`AccessToken`]s, and errors carry bounded, token-free text only.

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
mod query;
pub mod records;
mod session;
mod tokens;

pub use auth::{
    AccessToken, AuthorizeRequest, OAuthClient, OAuthConfig, TokenResponse, parse_identity_url,
};
pub use budget::{ApiUsage, PerAppUsage};
pub use client::SalesforceClient;
pub use config::{Backoff, ClientConfig, DEFAULT_API_VERSION, HttpSettings};
pub use error::{ApiErrorItem, ComponentFailure, Error, Result};
pub use eventlog::ApiTotalUsageRow;
pub use metadata::{
    BlockTarget, ConnectedAppMetadata, DeployResult, DeployStatus, MetadataItem, block_package,
    developer_name, unblock_package,
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
