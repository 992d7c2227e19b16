//! The API session: one org, one instance URL, one token provider.
//!
//! Every call goes through [`SalesforceClient::execute`], which checks the API budget, attaches
//! the bearer, records `Sforce-Limit-Info`, refreshes once on 401 and backs off on
//! `REQUEST_LIMIT_EXCEEDED` (and on 5xx for idempotent calls).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, watch};
use url::Url;

use crate::auth::{self, AccessToken};
use crate::budget::ApiUsage;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::http::{self, Body};
use crate::records::{ApiVersion, Limits, UserPermissionAccess};
use crate::session::TokenProvider;

/// Builds a SOAP envelope around the session id of the current attempt.
pub(crate) type SoapBuilder = Arc<dyn Fn(&AccessToken) -> String + Send + Sync>;

#[derive(Clone)]
pub(crate) enum CallBody {
    None,
    Form(Vec<(String, String)>),
    Multipart { json: String, zip: Vec<u8> },
    Soap(SoapBuilder),
}

/// One logical API call (retried as a whole).
#[derive(Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub body: CallBody,
    pub headers: Vec<(&'static str, String)>,
    /// Return non-2xx answers (other than 401 and limit errors) to the caller unparsed.
    pub passthrough: bool,
}

impl Call {
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            body: CallBody::None,
            headers: Vec::new(),
            passthrough: false,
        }
    }

    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            ..Self::get(url)
        }
    }

    fn idempotent(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD)
    }
}

struct Inner {
    http: reqwest::Client,
    instance_url: Url,
    config: ClientConfig,
    tokens: Arc<dyn TokenProvider>,
    usage: watch::Sender<Option<ApiUsage>>,
    pub(crate) cursors: Arc<Semaphore>,
    requests: AtomicU64,
    /// Answers telling the client to slow down (`REQUEST_LIMIT_EXCEEDED`,
    /// 429, 5xx), retried or not.
    pushbacks: AtomicU64,
}

/// A session against one org's REST, Connect and Metadata APIs. Cheap to clone.
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("instance_url", &self.inner.instance_url.as_str())
            .field("api_version", &self.inner.config.api_version)
            .finish_non_exhaustive()
    }
}

impl SalesforceClient {
    /// `tokens` is shared with the caller; see [`TokenProvider`].
    pub fn new(
        config: ClientConfig,
        instance_url: Url,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<Self> {
        if !(instance_url.scheme() == "https" || instance_url.scheme() == "http") {
            return Err(Error::Config("the instance URL must be http(s)".into()));
        }
        if !(0.0..=1.0).contains(&config.budget_share) {
            return Err(Error::Config("budget_share must be between 0 and 1".into()));
        }
        let version = config.api_version.trim_start_matches('v').to_owned();
        if version.parse::<f32>().is_err() {
            return Err(Error::Config(format!(
                "bad API version {}",
                config.api_version
            )));
        }
        let config = ClientConfig {
            api_version: version,
            ..config
        };
        let http = http::build_client(&config.http)?;
        let (usage, _) = watch::channel(None);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                instance_url,
                cursors: Arc::new(Semaphore::new(config.max_cursors.max(1))),
                config,
                tokens,
                usage,
                requests: AtomicU64::new(0),
                pushbacks: AtomicU64::new(0),
            }),
        })
    }

    pub fn instance_url(&self) -> &Url {
        &self.inner.instance_url
    }

    pub fn api_version(&self) -> &str {
        &self.inner.config.api_version
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// HTTP requests sent by this client so far (retries included).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Answers so far that asked for less: `REQUEST_LIMIT_EXCEEDED`, 429 or
    /// a 5xx, including those the client retried by itself. A caller that
    /// adapts how many calls it keeps in flight watches this grow.
    pub fn pushback_count(&self) -> u64 {
        self.inner.pushbacks.load(Ordering::Relaxed)
    }

    /// The latest `Sforce-Limit-Info` seen, if any.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.inner.usage.borrow().clone()
    }

    /// Watch API usage as it is reported (to persist it).
    pub fn subscribe_usage(&self) -> watch::Receiver<Option<ApiUsage>> {
        self.inner.usage.subscribe()
    }

    /// Seed the usage (e.g. from the database) before the first call.
    pub fn set_api_usage(&self, usage: ApiUsage) {
        self.inner.usage.send_replace(Some(usage));
    }

    pub(crate) fn cursors(&self) -> Arc<Semaphore> {
        self.inner.cursors.clone()
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        auth::endpoint(&self.inner.instance_url, path)
    }

    /// `{instance}/services/data/v{version}/{path}`.
    pub(crate) fn data_url(&self, path: &str) -> Result<Url> {
        self.url(&format!(
            "services/data/v{}/{}",
            self.inner.config.api_version,
            path.trim_start_matches('/')
        ))
    }

    /// Resolve a server-provided relative URL (nextRecordsUrl, LogFile) on this instance only.
    pub(crate) fn same_instance_url(&self, candidate: &str) -> Result<Url> {
        let foreign = || Error::ForeignNextRecordsUrl {
            url: crate::error::bounded(candidate.split('?').next().unwrap_or_default(), 200),
        };
        if candidate.starts_with('/') && !candidate.starts_with("//") {
            let base = &self.inner.instance_url;
            let mut url = base.clone();
            let (path, query) = match candidate.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (candidate, None),
            };
            let prefix = base.path().trim_end_matches('/');
            url.set_path(&format!("{prefix}{path}"));
            url.set_query(query);
            return Ok(url);
        }
        match Url::parse(candidate) {
            Ok(u) if u.origin() == self.inner.instance_url.origin() => Ok(u),
            _ => Err(foreign()),
        }
    }

    fn check_budget(&self) -> Result<()> {
        let share = self.inner.config.budget_share;
        if let Some(u) = self.inner.usage.borrow().as_ref()
            && u.exceeds(share)
        {
            // Report the cap that tripped: the org's, or this app's own.
            let (used, max) = match &u.per_app {
                Some(p) if !ApiUsage::over(u.used, u.max, share) => (p.used, p.max),
                _ => (u.used, u.max),
            };
            return Err(Error::BudgetPaused { used, max });
        }
        Ok(())
    }

    fn record_usage(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(u) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiUsage::parse)
        {
            self.inner.usage.send_replace(Some(u));
        }
    }

    fn build(&self, call: &Call, token: &AccessToken) -> Result<reqwest::Request> {
        let mut b = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose())
            // Shows up as CLIENT_NAME in event logs, so the cockpit can tell its own calls apart.
            .header("Sforce-Call-Options", "client=oauth-cockpit");
        for (k, v) in &call.headers {
            b = b.header(*k, v);
        }
        b = match &call.body {
            CallBody::None => b,
            CallBody::Form(f) => b.form(f),
            CallBody::Multipart { json, zip } => {
                let json_part = reqwest::multipart::Part::text(json.clone())
                    .mime_str("application/json")
                    .map_err(|e| Error::Config(format!("bad multipart: {}", e.without_url())))?;
                let zip_part = reqwest::multipart::Part::bytes(zip.clone())
                    .file_name("deploy.zip")
                    .mime_str("application/zip")
                    .map_err(|e| Error::Config(format!("bad multipart: {}", e.without_url())))?;
                b.multipart(
                    reqwest::multipart::Form::new()
                        .part("json", json_part)
                        .part("file", zip_part),
                )
            }
            CallBody::Soap(build) => b
                .header(CONTENT_TYPE, "text/xml; charset=utf-8")
                .header("SOAPAction", "\"\"")
                .body(build(token)),
        };
        b.build()
            .map_err(|e| Error::Config(format!("bad request: {}", e.without_url())))
    }

    /// Run a call with budget, refresh-once and backoff. Returns a 2xx response with its body
    /// unread (or, with `passthrough`, any answer except 401 and limit errors).
    pub(crate) async fn execute(&self, call: &Call) -> Result<reqwest::Response> {
        let backoff = self.inner.config.backoff;
        // The budget is checked once per logical call: retries of a call already admitted
        // (refresh, REQUEST_LIMIT_EXCEEDED backoff) must end in their own typed outcome.
        self.check_budget()?;
        let mut token = self.inner.tokens.access_token().await?;
        let mut refreshed = false;
        let mut limit_retries = 0u32;
        let mut server_retries = 0u32;
        loop {
            let request = self.build(call, &token)?;
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let resp = http::send(&self.inner.http, request).await?;
            self.record_usage(resp.headers());
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(resp);
            }
            let is_soap = matches!(call.body, CallBody::Soap(_));
            // A SOAP fault is a 500 whatever its cause: not a pushback.
            if status == 429 || (status >= 500 && !(is_soap && status == 500)) {
                self.inner.pushbacks.fetch_add(1, Ordering::Relaxed);
            }
            if status != 401 && status != 403 && !(is_soap && status == 500) && status < 500 {
                if call.passthrough {
                    return Ok(resp);
                }
                let body = http::read(resp).await?;
                return Err(http::status_error(&body));
            }
            let body = http::read(resp).await?;
            let session_fault = status == 401
                || (is_soap && String::from_utf8_lossy(&body.bytes).contains("INVALID_SESSION_ID"));
            if session_fault {
                if refreshed {
                    return Err(Error::InvalidSession);
                }
                refreshed = true;
                tracing::debug!("session rejected; refreshing the access token once");
                token = self.inner.tokens.refresh(&token).await?;
                continue;
            }
            if status == 403 && is_limit_exceeded(&body) {
                self.inner.pushbacks.fetch_add(1, Ordering::Relaxed);
                if limit_retries >= backoff.retries {
                    return Err(Error::RequestLimitExceeded {
                        attempts: limit_retries,
                    });
                }
                let delay = backoff.delay(limit_retries);
                limit_retries += 1;
                tracing::debug!(
                    retry = limit_retries,
                    delay_ms = delay.as_millis() as u64,
                    "REQUEST_LIMIT_EXCEEDED; backing off"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            if status >= 500 && call.idempotent() && !is_soap && server_retries < backoff.retries {
                let delay = backoff.delay(server_retries);
                server_retries += 1;
                tracing::debug!(status, retry = server_retries, "server error; backing off");
                tokio::time::sleep(delay).await;
                continue;
            }
            if call.passthrough && !is_soap {
                return Err(http::status_error(&body));
            }
            if is_soap {
                return Err(crate::metadata::soap_fault(&body));
            }
            return Err(http::status_error(&body));
        }
    }

    /// Execute and read the whole body.
    pub(crate) async fn execute_body(&self, call: &Call) -> Result<Body> {
        let resp = self.execute(call).await?;
        http::read(resp).await
    }

    /// Execute and parse JSON. A read (GET) whose answer is cut off (the
    /// connection dropped mid-body, or the JSON ends early) is sent again
    /// after the same backoff as a 5xx, a bounded number of times: the cut is
    /// the network's, not Salesforce's answer.
    pub(crate) async fn execute_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let mut call = call.clone();
        call.headers
            .push((ACCEPT.as_str(), "application/json".to_owned()));
        let backoff = self.inner.config.backoff;
        let mut cut_retries = 0u32;
        loop {
            let answer = match self.execute_body(&call).await {
                Ok(body) => http::parse_json(&body),
                Err(e) => Err(e),
            };
            match answer {
                Err(Error::Truncated { .. } | Error::Network { .. })
                    if call.idempotent() && cut_retries < backoff.retries =>
                {
                    let delay = backoff.delay(cut_retries);
                    cut_retries += 1;
                    tracing::debug!(retry = cut_retries, "answer cut off; asking again");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// GET a path under `/services/data/vXX.X/` and parse JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.execute_json(&Call::get(self.data_url(path)?)).await
    }

    /// `GET /services/data/` (no auth needed, not counted against limits).
    pub async fn versions(&self) -> Result<Vec<ApiVersion>> {
        let url = self.url("services/data/")?;
        let req = self
            .inner
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .build()
            .map_err(|e| Error::Config(format!("bad request: {}", e.without_url())))?;
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let resp = http::send(&self.inner.http, req).await?;
        let body = http::read(resp).await?;
        if body.status >= 300 {
            return Err(http::status_error(&body));
        }
        http::parse_json(&body)
    }

    /// `GET /limits`.
    pub async fn limits(&self) -> Result<Limits> {
        self.get_json("limits").await
    }

    /// Permissions of the running (integration) user. Check
    /// [`UserPermissionAccess::sees_all_tokens`] before trusting an OauthToken count.
    pub async fn user_permissions(&self) -> Result<UserPermissionAccess> {
        let soql = format!(
            "SELECT {} FROM UserPermissionAccess",
            UserPermissionAccess::FIELDS
        );
        let rows: Vec<UserPermissionAccess> = self.query_vec(&soql).await?;
        rows.into_iter()
            .next()
            .ok_or_else(|| Error::Protocol("UserPermissionAccess returned no row".into()))
    }

    /// Revoke a DeleteToken (or any token) at this instance, authenticated with the session.
    pub async fn revoke_token(&self, token: &secrecy::SecretString) -> Result<()> {
        let url = self.url("services/oauth2/revoke")?;
        let mut call = Call::new(Method::POST, url);
        call.body = CallBody::Form(vec![(
            "token".to_owned(),
            secrecy::ExposeSecret::expose_secret(token).to_owned(),
        )]);
        call.passthrough = true;
        let body = self.execute_body(&call).await?;
        auth::revoke_outcome(&body)
    }

    /// Revoke one OauthToken row by its DeleteToken.
    pub async fn revoke_delete_token(&self, token: &crate::records::DeleteToken) -> Result<()> {
        self.revoke_token(token.secret()).await
    }
}

fn is_limit_exceeded(body: &Body) -> bool {
    http::parse_error_items(&body.bytes)
        .iter()
        .any(|e| e.error_code == "REQUEST_LIMIT_EXCEEDED")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::InMemoryTokenProvider;

    fn client(instance: &str) -> SalesforceClient {
        SalesforceClient::new(
            ClientConfig::default(),
            Url::parse(instance).unwrap(),
            Arc::new(InMemoryTokenProvider::fixed(AccessToken::new("t"))),
        )
        .unwrap()
    }

    #[test]
    fn next_records_url_must_stay_on_instance() {
        let c = client("https://acme.my.salesforce.com");
        let u = c
            .same_instance_url("/services/data/v66.0/query/01g-500")
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://acme.my.salesforce.com/services/data/v66.0/query/01g-500"
        );
        assert!(
            c.same_instance_url("https://acme.my.salesforce.com/services/data/v66.0/query/x")
                .is_ok()
        );
        for bad in [
            "https://evil.example/services/data/v66.0/query/x",
            "//evil.example/services/data",
            "http://acme.my.salesforce.com/services/data",
        ] {
            assert!(
                matches!(
                    c.same_instance_url(bad),
                    Err(Error::ForeignNextRecordsUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn data_url_uses_version() {
        let c = client("https://acme.my.salesforce.com/");
        assert_eq!(
            c.data_url("limits").unwrap().as_str(),
            "https://acme.my.salesforce.com/services/data/v66.0/limits"
        );
    }

    #[test]
    fn budget_pauses_at_share() {
        let c = client("https://acme.my.salesforce.com/");
        c.set_api_usage(ApiUsage::parse("api-usage=749/1000").unwrap());
        assert!(c.check_budget().is_ok());
        c.set_api_usage(ApiUsage::parse("api-usage=750/1000").unwrap());
        assert!(matches!(
            c.check_budget(),
            Err(Error::BudgetPaused {
                used: 750,
                max: 1000
            })
        ));
    }

    #[test]
    fn budget_reports_the_per_app_cap() {
        let c = client("https://acme.my.salesforce.com/");
        c.set_api_usage(
            ApiUsage::parse("api-usage=10/1000; per-app-api-usage=200/250(appName=cockpit)")
                .unwrap(),
        );
        assert!(matches!(
            c.check_budget(),
            Err(Error::BudgetPaused {
                used: 200,
                max: 250
            })
        ));
    }

    #[test]
    fn rejects_bad_config() {
        let bad = SalesforceClient::new(
            ClientConfig {
                api_version: "latest".into(),
                ..ClientConfig::default()
            },
            Url::parse("https://x.example").unwrap(),
            Arc::new(InMemoryTokenProvider::fixed(AccessToken::new("t"))),
        );
        assert!(matches!(bad, Err(Error::Config(_))));
    }
}
