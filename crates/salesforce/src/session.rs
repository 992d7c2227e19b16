//! Where API sessions get their access tokens.
//!
//! The cockpit implements [`TokenProvider`] over its database (refresh tokens encrypted, refreshes
//! serialised by a lock). The trait returns boxed futures so it can be used as
//! `Arc<dyn TokenProvider>`, which is what [`crate::SalesforceClient`] takes.

use std::fmt;

use futures::future::BoxFuture;
use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::auth::{AccessToken, OAuthClient, TokenResponse};
use crate::error::{Error, Result};

/// Source of access tokens for an API session.
///
/// A database-backed implementation should, in `refresh`: take the org's lock, re-read the
/// stored access token and return it if it differs from `rejected` (another worker already
/// refreshed); otherwise call [`OAuthClient::refresh`], store the new access token and, when
/// the response carries one (rotation), the new refresh token in the same transaction; map
/// [`Error::NeedsReauthorization`] to "org disconnected" and return it so callers stop.
pub trait TokenProvider: Send + Sync {
    /// The current access token (may fetch one if none is cached).
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>>;

    /// Called once when Salesforce rejected `rejected` with 401. Return a new token, or the
    /// current one if another task already replaced `rejected`. Return
    /// [`Error::NeedsReauthorization`] when the grant is gone.
    fn refresh<'a>(&'a self, rejected: &'a AccessToken) -> BoxFuture<'a, Result<AccessToken>>;
}

/// How [`InMemoryTokenProvider`] gets a new access token.
#[derive(Clone)]
pub enum Renewal {
    /// No renewal: a 401 ends the session.
    None,
    /// `refresh_token` grant; a rotated refresh token replaces this one.
    RefreshToken(SecretString),
    /// JWT bearer flow for `username`.
    JwtBearer {
        username: String,
        private_key_pem: SecretString,
    },
    /// Client credentials flow.
    ClientCredentials,
}

impl fmt::Debug for Renewal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Renewal::None => f.write_str("None"),
            Renewal::RefreshToken(_) => f.write_str("RefreshToken([redacted])"),
            Renewal::JwtBearer { username, .. } => {
                write!(f, "JwtBearer {{ username: {username:?}, .. }}")
            }
            Renewal::ClientCredentials => f.write_str("ClientCredentials"),
        }
    }
}

struct State {
    access: Option<AccessToken>,
    renewal: Renewal,
    refreshes: u64,
}

/// A token provider that keeps everything in memory (tests, CLI).
pub struct InMemoryTokenProvider {
    oauth: Option<OAuthClient>,
    state: Mutex<State>,
}

impl fmt::Debug for InMemoryTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTokenProvider")
            .finish_non_exhaustive()
    }
}

impl InMemoryTokenProvider {
    /// A fixed token that is never renewed.
    pub fn fixed(token: AccessToken) -> Self {
        Self {
            oauth: None,
            state: Mutex::new(State {
                access: Some(token),
                renewal: Renewal::None,
                refreshes: 0,
            }),
        }
    }

    /// Start from a token response (its refresh token, if any, is used for renewal).
    pub fn from_response(oauth: OAuthClient, response: &TokenResponse) -> Self {
        let renewal = match &response.refresh_token {
            Some(rt) => Renewal::RefreshToken(rt.clone()),
            None => Renewal::None,
        };
        Self::new(oauth, Some(response.access_token.clone()), renewal)
    }

    pub fn new(oauth: OAuthClient, access: Option<AccessToken>, renewal: Renewal) -> Self {
        Self {
            oauth: Some(oauth),
            state: Mutex::new(State {
                access,
                renewal,
                refreshes: 0,
            }),
        }
    }

    /// The refresh token currently held (after rotation, the newest).
    pub async fn refresh_token(&self) -> Option<SecretString> {
        match &self.state.lock().await.renewal {
            Renewal::RefreshToken(rt) => Some(rt.clone()),
            _ => None,
        }
    }

    /// How many renewals happened.
    pub async fn refresh_count(&self) -> u64 {
        self.state.lock().await.refreshes
    }

    async fn renew(&self, state: &mut State) -> Result<AccessToken> {
        let oauth = self.oauth.as_ref().ok_or(Error::InvalidSession)?;
        let response = match &state.renewal {
            Renewal::None => return Err(Error::InvalidSession),
            Renewal::RefreshToken(rt) => oauth.refresh(rt).await?,
            Renewal::JwtBearer {
                username,
                private_key_pem,
            } => oauth.jwt_bearer(username, private_key_pem).await?,
            Renewal::ClientCredentials => oauth.client_credentials().await?,
        };
        if let (Renewal::RefreshToken(_), Some(new_rt)) = (&state.renewal, response.refresh_token) {
            state.renewal = Renewal::RefreshToken(new_rt);
        }
        state.refreshes += 1;
        state.access = Some(response.access_token.clone());
        Ok(response.access_token)
    }
}

impl TokenProvider for InMemoryTokenProvider {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if let Some(t) = &state.access {
                return Ok(t.clone());
            }
            self.renew(&mut state).await
        })
    }

    fn refresh<'a>(&'a self, rejected: &'a AccessToken) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if let Some(current) = &state.access
                && current != rejected
            {
                return Ok(current.clone());
            }
            self.renew(&mut state).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_provider_cannot_refresh() {
        let p = InMemoryTokenProvider::fixed(AccessToken::new("T1"));
        let t = p.access_token().await.unwrap();
        assert_eq!(t.expose(), "T1");
        assert!(matches!(p.refresh(&t).await, Err(Error::InvalidSession)));
    }

    #[tokio::test]
    async fn refresh_returns_newer_token_without_renewing() {
        let p = InMemoryTokenProvider::fixed(AccessToken::new("T2"));
        let old = AccessToken::new("T1");
        assert_eq!(p.refresh(&old).await.unwrap().expose(), "T2");
        assert_eq!(p.refresh_count().await, 0);
    }

    #[test]
    fn renewal_debug_hides_secrets() {
        let r = Renewal::RefreshToken(SecretString::from("RT-SECRET"));
        assert!(!format!("{r:?}").contains("RT-SECRET"));
    }
}
