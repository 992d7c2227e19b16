//! Connect REST "OAuth Usage" for External Client Apps (`/apps/oauth/usage…`).

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::{Call, SalesforceClient};
use crate::error::{Error, Result};
use crate::records::{EcaAppUsage, EcaTokenUsage, EcaUserUsage};

/// Guard against a server that never returns a short page.
const MAX_PAGES: u32 = 100_000;

#[derive(Deserialize)]
struct AppsPage {
    #[serde(default)]
    apps: Vec<EcaAppUsage>,
}

#[derive(Deserialize)]
struct UsersPage {
    #[serde(default)]
    users: Vec<EcaUserUsage>,
}

#[derive(Deserialize)]
struct TokensPage {
    #[serde(default)]
    tokens: Vec<EcaTokenUsage>,
}

/// Ids go into URL paths: allow only Salesforce id characters.
fn check_id(id: &str) -> Result<&str> {
    if !id.is_empty() && id.len() <= 18 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(Error::Config(format!(
            "{:?} is not a Salesforce id",
            crate::error::bounded(id, 40)
        )))
    }
}

impl SalesforceClient {
    async fn eca_get<P: DeserializeOwned>(&self, path: &str, page: u32, size: u32) -> Result<P> {
        let mut url = self.data_url(path)?;
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("pageSize", &size.to_string());
        self.execute_json(&Call::get(url)).await
    }

    fn eca_paged<T, P, F>(
        &self,
        path: String,
        page_size: u32,
        items: F,
    ) -> BoxStream<'static, Result<T>>
    where
        T: Send + 'static,
        P: DeserializeOwned + Send + 'static,
        F: Fn(P) -> Vec<T> + Send + Sync + Copy + 'static,
    {
        let client = self.clone();
        let page_size = page_size.clamp(1, 1000);
        stream::try_unfold(Some(0u32), move |page| {
            let client = client.clone();
            let path = path.clone();
            async move {
                let Some(page) = page else {
                    return Ok(None);
                };
                if page >= MAX_PAGES {
                    return Err(Error::Protocol("Connect paging did not end".into()));
                }
                let p: P = client.eca_get(&path, page, page_size).await?;
                let batch = items(p);
                // `nextPageUrl` is present even on the last page; a short page ends it.
                let next = if (batch.len() as u32) < page_size {
                    None
                } else {
                    Some(page + 1)
                };
                Ok(Some((stream::iter(batch.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    /// ECAs with OAuth usage.
    pub fn eca_apps(&self, page_size: u32) -> BoxStream<'static, Result<EcaAppUsage>> {
        self.eca_paged("apps/oauth/usage".into(), page_size, |p: AppsPage| p.apps)
    }

    /// Users of one ECA.
    pub fn eca_app_users(
        &self,
        app_id: &str,
        page_size: u32,
    ) -> BoxStream<'static, Result<EcaUserUsage>> {
        match check_id(app_id) {
            Ok(id) => self.eca_paged(
                format!("apps/oauth/usage/{id}/users"),
                page_size,
                |p: UsersPage| p.users,
            ),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    /// A user's tokens for one ECA.
    pub async fn eca_user_tokens(&self, app_id: &str, user_id: &str) -> Result<Vec<EcaTokenUsage>> {
        let path = format!(
            "apps/oauth/usage/{}/{}/tokens",
            check_id(app_id)?,
            check_id(user_id)?
        );
        self.eca_paged(path, 100, |p: TokensPage| p.tokens)
            .try_collect()
            .await
    }

    async fn eca_delete(&self, path: String) -> Result<()> {
        let call = Call::new(Method::DELETE, self.data_url(&path)?);
        let body = self.execute_body(&call).await?;
        if body.status == 204 || body.status == 200 {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "revoke answered HTTP {} instead of 204",
                body.status
            )))
        }
    }

    /// Revoke one ECA token (id from [`EcaTokenUsage::token_id`]).
    pub async fn eca_revoke_token(&self, token_id: &str) -> Result<()> {
        self.eca_delete(format!("apps/oauth/usage/tokens/{}", check_id(token_id)?))
            .await
    }

    /// Revoke all of one user's tokens for an ECA.
    pub async fn eca_revoke_user_tokens(&self, app_id: &str, user_id: &str) -> Result<()> {
        self.eca_delete(format!(
            "apps/oauth/usage/{}/{}/tokens",
            check_id(app_id)?,
            check_id(user_id)?
        ))
        .await
    }

    /// Revoke every token of an ECA.
    pub async fn eca_revoke_all_tokens(&self, app_id: &str) -> Result<()> {
        self.eca_delete(format!("apps/oauth/usage/{}/tokens", check_id(app_id)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("0xI5g000000AbcdEAC").is_ok());
        assert!(check_id("../tokens").is_err());
        assert!(check_id("").is_err());
    }
}
