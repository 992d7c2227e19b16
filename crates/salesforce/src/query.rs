//! SOQL queries streamed page by page, holding one cursor permit while open.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::OwnedSemaphorePermit;
use url::Url;

use crate::client::{Call, SalesforceClient};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(rename = "totalSize")]
    total_size: u64,
    done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    next_records_url: Option<String>,
    records: Vec<T>,
}

/// One page of query results.
#[derive(Debug, Clone)]
pub struct QueryPage<T> {
    /// `totalSize` as reported by Salesforce for the whole query.
    pub total_size: u64,
    pub records: Vec<T>,
    /// True on the last page.
    pub done: bool,
}

enum PageState {
    Start,
    Next {
        url: Url,
        received: u64,
        _permit: OwnedSemaphorePermit,
    },
    /// Deliver this error after the last page's records.
    Failed(Error),
    Finished,
}

/// Options of a paged query.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageOptions {
    /// `queryAll` (includes deleted/archived rows).
    pub all: bool,
    /// Rows the caller asked for with `LIMIT`; Salesforce's `totalSize` is compared against
    /// `min(totalSize, limit)`.
    pub limit: Option<u64>,
}

impl SalesforceClient {
    /// Stream the pages of a SOQL query. Errors with [`Error::Incomplete`] if Salesforce stops
    /// (`done: true`) before delivering `totalSize` rows, as OauthToken does at 2,500.
    pub fn query_pages<T>(&self, soql: &str) -> BoxStream<'static, Result<QueryPage<T>>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.query_pages_with(soql, PageOptions::default())
    }

    /// Like [`Self::query_pages`] over `queryAll`.
    pub fn query_all_pages<T>(&self, soql: &str) -> BoxStream<'static, Result<QueryPage<T>>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.query_pages_with(
            soql,
            PageOptions {
                all: true,
                limit: None,
            },
        )
    }

    pub(crate) fn query_pages_with<T>(
        &self,
        soql: &str,
        options: PageOptions,
    ) -> BoxStream<'static, Result<QueryPage<T>>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let soql = soql.to_owned();
        stream::try_unfold(PageState::Start, move |state| {
            let client = client.clone();
            let soql = soql.clone();
            async move {
                let (url, received, permit) = match state {
                    PageState::Finished => return Ok(None),
                    PageState::Failed(e) => return Err(e),
                    PageState::Start => {
                        let permit = client
                            .cursors()
                            .acquire_owned()
                            .await
                            .map_err(|_| Error::Config("cursor pool closed".into()))?;
                        let mut url =
                            client.data_url(if options.all { "queryAll" } else { "query" })?;
                        url.query_pairs_mut().append_pair("q", &soql);
                        (url, 0u64, permit)
                    }
                    PageState::Next {
                        url,
                        received,
                        _permit,
                    } => (url, received, _permit),
                };
                let raw: RawPage<T> = client.execute_json(&Call::get(url)).await?;
                let received = received + raw.records.len() as u64;
                let expected = options
                    .limit
                    .map_or(raw.total_size, |l| raw.total_size.min(l));
                let next = match (&raw.next_records_url, raw.done) {
                    (Some(next), false) => Some(client.same_instance_url(next)?),
                    (None, false) => {
                        return Err(Error::Protocol(
                            "query page not done but has no nextRecordsUrl".into(),
                        ));
                    }
                    (_, true) => None,
                };
                let page = QueryPage {
                    total_size: raw.total_size,
                    records: raw.records,
                    done: next.is_none(),
                };
                let state = match next {
                    Some(url) => PageState::Next {
                        url,
                        received,
                        _permit: permit,
                    },
                    // Salesforce's silent cap: done with fewer rows than it counted. The rows
                    // already read are delivered, then the stream fails.
                    None if received < expected => PageState::Failed(Error::Incomplete {
                        expected,
                        got: received,
                    }),
                    None => PageState::Finished,
                };
                Ok(Some((page, state)))
            }
        })
        .boxed()
    }

    /// Stream the records of a SOQL query, one page in memory at a time.
    pub fn query<T>(&self, soql: &str) -> BoxStream<'static, Result<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        flatten(self.query_pages(soql))
    }

    /// Stream the records of a `queryAll`.
    pub fn query_all<T>(&self, soql: &str) -> BoxStream<'static, Result<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        flatten(self.query_all_pages(soql))
    }

    /// Collect a (small) query into a vector.
    pub async fn query_vec<T>(&self, soql: &str) -> Result<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.query(soql).try_collect().await
    }

    /// `totalSize` of a `SELECT COUNT() FROM …` query.
    pub async fn count(&self, soql: &str) -> Result<u64> {
        let mut url = self.data_url("query")?;
        url.query_pairs_mut().append_pair("q", soql);
        let raw: RawPage<serde_json::Value> = self.execute_json(&Call::get(url)).await?;
        Ok(raw.total_size)
    }
}

fn flatten<T: Send + 'static>(
    pages: BoxStream<'static, Result<QueryPage<T>>>,
) -> BoxStream<'static, Result<T>> {
    pages
        .map_ok(|p| stream::iter(p.records.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}
