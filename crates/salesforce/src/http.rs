//! The HTTP layer: one reqwest client per use, error classification, body reading, logging.

use std::error::Error as StdError;
use std::time::Instant;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;

use crate::config::HttpSettings;
use crate::error::{ApiErrorItem, Error, Result, bounded};

/// Largest response snippet put into an error.
const SNIPPET_CHARS: usize = 200;

/// Build a reqwest client that never follows redirects.
pub(crate) fn build_client(settings: &HttpSettings) -> Result<reqwest::Client> {
    // Installing twice is harmless; the first provider wins.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .gzip(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(settings.user_agent.clone())
        .build()
        .map_err(|e| Error::Config(format!("cannot build HTTP client: {}", e.without_url())))
}

pub(crate) fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url
            .as_str()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// A response whose body has been read.
#[derive(Debug)]
pub(crate) struct Body {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub host: String,
}

impl Body {
    pub fn content_type(&self) -> String {
        content_type(&self.headers)
    }
}

pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Send a request, log it (no query string, no headers), classify transport failures.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> Result<reqwest::Response> {
    let method = request.method().clone();
    let host = host_of(request.url());
    let path = request.url().path().to_owned();
    let started = Instant::now();
    let result = client.execute(request).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(resp) => {
            tracing::debug!(
                %method, host = %host, path = %path, status = resp.status().as_u16(), elapsed_ms,
                "salesforce request"
            );
            Ok(resp)
        }
        Err(e) => {
            let err = classify(&e, &host);
            tracing::debug!(%method, host = %host, path = %path, elapsed_ms, error = %err, "salesforce request failed");
            Err(err)
        }
    }
}

/// Read the whole body of a response.
pub(crate) async fn read(resp: reqwest::Response) -> Result<Body> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let host = host_of(resp.url());
    let bytes = resp.bytes().await.map_err(|e| body_error(&e, &host))?;
    Ok(Body {
        status,
        headers,
        bytes: bytes.to_vec(),
        host,
    })
}

/// Map an error raised while reading a body.
pub(crate) fn body_error(e: &reqwest::Error, host: &str) -> Error {
    if e.is_timeout() || source_chain_has(e, |s| s.to_string().contains("timed out")) {
        Error::Timeout {
            host: host.to_owned(),
        }
    } else {
        Error::Truncated {
            host: host.to_owned(),
        }
    }
}

fn source_chain_has(
    e: &(dyn StdError + 'static),
    pred: impl Fn(&(dyn StdError + 'static)) -> bool,
) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = cur {
        if pred(s) {
            return true;
        }
        cur = s.source();
    }
    false
}

fn is_tls(e: &(dyn StdError + 'static)) -> bool {
    source_chain_has(e, |s| {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // io::Error hides custom payloads from `source()`; walk `get_ref()` instead.
        let mut io = s.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(|i| i.get_ref()) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        let text = s.to_string().to_ascii_lowercase();
        text.contains("tls") || text.contains("certificate") || text.contains("handshake")
    })
}

pub(crate) fn classify(e: &reqwest::Error, host: &str) -> Error {
    let host = host.to_owned();
    if e.is_timeout() {
        return Error::Timeout { host };
    }
    if is_tls(e) {
        return Error::Tls { host };
    }
    if e.is_connect() {
        return Error::Unreachable { host };
    }
    // The server closed the connection before the response was complete.
    if e.is_body()
        || e.is_decode()
        || source_chain_has(e, |s| {
            s.to_string()
                .contains("connection closed before message completed")
        })
    {
        return Error::Truncated { host };
    }
    let e = reqwest_detail(e);
    Error::Network { host, detail: e }
}

fn reqwest_detail(e: &reqwest::Error) -> String {
    // Never print the URL: a query string may carry a token.
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    if parts.is_empty() {
        "connection failed".to_owned()
    } else {
        bounded(&parts.join(": "), SNIPPET_CHARS)
    }
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

/// A bounded, secret-free snippet of a non-JSON body. JSON bodies are never quoted because a
/// mislabelled token response would put a token into the error.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    if looks_like_json(bytes) {
        return "[JSON body not shown]".to_owned();
    }
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    bounded(&text, SNIPPET_CHARS)
}

pub(crate) fn is_json_content_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    ct.contains("json")
}

/// Describe a serde error without echoing quoted input values.
pub(crate) fn json_error(e: &serde_json::Error, host: &str) -> Error {
    if e.is_eof() {
        return Error::Truncated {
            host: host.to_owned(),
        };
    }
    let mut out = String::new();
    let mut in_quotes = false;
    for c in e.to_string().chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            if in_quotes {
                out.push_str("\"…");
            } else {
                out.push('"');
            }
            continue;
        }
        if !in_quotes {
            out.push(c);
        }
    }
    Error::InvalidJson {
        detail: bounded(&out, SNIPPET_CHARS),
    }
}

/// Parse a successful JSON body; anything else is `NotJson`, `Truncated` or `InvalidJson`.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &Body) -> Result<T> {
    let ct = body.content_type();
    if !is_json_content_type(&ct) {
        return Err(not_json(body));
    }
    serde_json::from_slice(&body.bytes).map_err(|e| json_error(&e, &body.host))
}

pub(crate) fn not_json(body: &Body) -> Error {
    let ct = body.content_type();
    Error::NotJson {
        status: body.status,
        content_type: if ct.is_empty() {
            "no content type".to_owned()
        } else {
            bounded(&ct, 80)
        },
        snippet: snippet(&body.bytes),
    }
}

/// Error for a REST answer with status >= 300.
pub(crate) fn status_error(body: &Body) -> Error {
    if (300..400).contains(&body.status) {
        let location = body
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| bounded(l.split('?').next().unwrap_or_default(), SNIPPET_CHARS))
            .unwrap_or_else(|| "an unknown location".to_owned());
        return Error::UnexpectedRedirect {
            status: body.status,
            location,
        };
    }
    let ct = body.content_type();
    if !is_json_content_type(&ct) {
        if body.bytes.is_empty() {
            return Error::Http {
                status: body.status,
                errors: Vec::new(),
            };
        }
        return not_json(body);
    }
    Error::Http {
        status: body.status,
        errors: parse_error_items(&body.bytes),
    }
}

/// Salesforce errors are usually an array, sometimes a single object, and OAuth-style
/// `{"error": ..., "error_description": ...}` on some endpoints.
pub(crate) fn parse_error_items(bytes: &[u8]) -> Vec<ApiErrorItem> {
    if let Ok(items) = serde_json::from_slice::<Vec<ApiErrorItem>>(bytes) {
        return items
            .into_iter()
            .map(|i| ApiErrorItem {
                error_code: bounded(&i.error_code, 80),
                message: bounded(&i.message, 300),
            })
            .collect();
    }
    #[derive(serde::Deserialize)]
    struct OAuthStyle {
        error: String,
        #[serde(default)]
        error_description: String,
    }
    if let Ok(one) = serde_json::from_slice::<ApiErrorItem>(bytes)
        && !one.error_code.is_empty()
    {
        return vec![one];
    }
    if let Ok(o) = serde_json::from_slice::<OAuthStyle>(bytes) {
        return vec![ApiErrorItem {
            error_code: bounded(&o.error, 80),
            message: bounded(&o.error_description, 300),
        }];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_hides_json_and_bounds_html() {
        assert_eq!(
            snippet(br#"{"access_token":"secret"}"#),
            "[JSON body not shown]"
        );
        let html = format!("<html><body>{}</body></html>", "x".repeat(1000));
        let s = snippet(html.as_bytes());
        assert!(s.starts_with("<html>"));
        assert!(s.chars().count() <= SNIPPET_CHARS + 1);
    }

    #[test]
    fn json_error_does_not_echo_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: u64,
        }
        let e = serde_json::from_str::<T>(r#"{"n":"00Dsecret!token"}"#).unwrap_err();
        let msg = json_error(&e, "h").to_string();
        assert!(!msg.contains("secret"), "{msg}");
        let eof = serde_json::from_str::<T>(r#"{"n":1"#).unwrap_err();
        assert!(matches!(json_error(&eof, "h"), Error::Truncated { .. }));
    }

    #[test]
    fn error_items_in_all_shapes() {
        let a = parse_error_items(
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert_eq!(a[0].error_code, "INVALID_SESSION_ID");
        let b = parse_error_items(br#"{"error":"invalid_token","error_description":"bad"}"#);
        assert_eq!(b[0].error_code, "invalid_token");
        assert!(parse_error_items(b"<html>").is_empty());
    }
}
