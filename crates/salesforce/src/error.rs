//! The one error type of the crate.
//!
//! Every message is safe to show to a user and to log: no variant carries an access token, a
//! refresh token, a client secret, a DeleteToken or a private key. Response snippets are bounded
//! and are never taken from token-endpoint answers.

use serde::Deserialize;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One entry of a Salesforce REST error body (`[{"errorCode": "...", "message": "..."}]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorItem {
    #[serde(rename = "errorCode", default)]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
}

/// One component that failed in a metadata deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFailure {
    pub component_type: String,
    pub full_name: String,
    pub problem: String,
}

/// Everything that can go wrong talking to Salesforce.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot reach Salesforce at {host}")]
    Unreachable { host: String },

    #[error("secure connection (TLS) to {host} failed")]
    Tls { host: String },

    #[error("request to {host} timed out")]
    Timeout { host: String },

    #[error("Salesforce answered HTTP {status}{}", format_items(.errors))]
    Http {
        status: u16,
        errors: Vec<ApiErrorItem>,
    },

    #[error("the Salesforce session is invalid or expired, even after a refresh")]
    InvalidSession,

    #[error("the org's API request limit is exceeded (retried {attempts} times)")]
    RequestLimitExceeded { attempts: u32 },

    #[error("API calls are paused: {used} of {max} daily requests used")]
    BudgetPaused { used: u64, max: u64 },

    #[error("the org must be reconnected ({description})")]
    NeedsReauthorization { description: String },

    #[error("the connected app is blocked in this org ({description})")]
    AppBlocked { description: String },

    #[error("the client id or client secret was rejected ({code}: {description})")]
    InvalidClient { code: String, description: String },

    #[error("the user is not allowed to use this app ({description})")]
    AppAccessDenied { description: String },

    #[error("OAuth error {code}: {description}")]
    OAuth { code: String, description: String },

    #[error("expected JSON from Salesforce but got {content_type} (HTTP {status}): {snippet}")]
    NotJson {
        status: u16,
        content_type: String,
        snippet: String,
    },

    #[error("Salesforce redirected (HTTP {status}) to {location}; check the My Domain URL")]
    UnexpectedRedirect { status: u16, location: String },

    #[error("the response from {host} was cut off")]
    Truncated { host: String },

    #[error("Salesforce sent a response that could not be read: {detail}")]
    InvalidJson { detail: String },

    #[error("refusing to follow nextRecordsUrl to another host: {url}")]
    ForeignNextRecordsUrl { url: String },

    #[error("incomplete answer from Salesforce: expected {expected} rows, got {got}")]
    Incomplete { expected: u64, got: u64 },

    #[error("metadata deploy {id} ended with status {status}{}", format_failures(.failures))]
    DeployFailed {
        id: String,
        status: String,
        failures: Vec<ComponentFailure>,
    },

    #[error("metadata deploy {id} did not finish in time")]
    DeployTimeout { id: String },

    #[error("SOAP fault {code}: {message}")]
    SoapFault { code: String, message: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("unexpected answer from Salesforce: {0}")]
    Protocol(String),

    #[error("network error talking to {host}: {detail}")]
    Network { host: String, detail: String },
}

impl Error {
    /// The error codes of an [`Error::Http`] answer, empty otherwise.
    pub fn error_codes(&self) -> Vec<&str> {
        match self {
            Error::Http { errors, .. } => errors.iter().map(|e| e.error_code.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// True when the caller should stop retrying and ask a human to reconnect the org.
    pub fn needs_reauthorization(&self) -> bool {
        matches!(
            self,
            Error::NeedsReauthorization { .. }
                | Error::AppBlocked { .. }
                | Error::InvalidClient { .. }
        )
    }
}

fn format_items(items: &[ApiErrorItem]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = items
        .iter()
        .map(|i| format!("{}: {}", i.error_code, bounded(&i.message, 300)))
        .collect();
    format!(" ({})", parts.join("; "))
}

fn format_failures(failures: &[ComponentFailure]) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = failures
        .iter()
        .map(|f| format!("{} {}: {}", f.component_type, f.full_name, f.problem))
        .collect();
    format!(" ({})", parts.join("; "))
}

/// Cut `s` to at most `max` characters, collapsing whitespace.
pub(crate) fn bounded(s: &str, max: usize) -> String {
    let collapsed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let mut out: String = collapsed.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_message_lists_codes() {
        let e = Error::Http {
            status: 400,
            errors: vec![ApiErrorItem {
                error_code: "MALFORMED_QUERY".into(),
                message: "bad   soql".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "Salesforce answered HTTP 400 (MALFORMED_QUERY: bad soql)"
        );
        assert_eq!(e.error_codes(), vec!["MALFORMED_QUERY"]);
    }

    #[test]
    fn bounded_cuts_long_text() {
        let s = "a".repeat(500);
        let b = bounded(&s, 10);
        assert_eq!(b.chars().count(), 11);
        assert!(b.ends_with('…'));
    }
}
