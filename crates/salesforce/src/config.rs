//! Client settings, with defaults that suit a real org.

use std::time::Duration;

/// Default REST API version (Spring '26; every org in service late 2026 serves it).
pub const DEFAULT_API_VERSION: &str = "66.0";

/// Capped exponential backoff with full jitter: attempt `n` (0-based) sleeps a random duration
/// in `[0, min(cap, base * 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Retries after the first attempt; the call fails after `1 + retries` tries.
    pub retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            retries: 5,
        }
    }
}

impl Backoff {
    /// The ceiling for retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random delay in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// HTTP settings shared by the OAuth and the API clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Overall timeout of one request, body included.
    pub timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            user_agent: format!("oauth-cockpit/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Settings of an API session ([`crate::SalesforceClient`]).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub http: HttpSettings,
    /// Version without the `v`, e.g. `"66.0"`.
    pub api_version: String,
    /// Refuse calls once `used / max` of the daily API limit reaches this share.
    pub budget_share: f64,
    /// Retries for `REQUEST_LIMIT_EXCEEDED` and 5xx answers to idempotent calls.
    pub backoff: Backoff,
    /// Concurrent open query cursors (Salesforce allows 10 per user).
    pub max_cursors: usize,
    /// How often to poll a metadata deploy, and for how long at most.
    pub deploy_poll_interval: Duration,
    pub deploy_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            http: HttpSettings::default(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            budget_share: 0.75,
            backoff: Backoff::default(),
            max_cursors: 10,
            deploy_poll_interval: Duration::from_secs(2),
            deploy_timeout: Duration::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            retries: 3,
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(400));
        assert_eq!(b.ceiling(10), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
        for attempt in 0..8 {
            assert!(b.delay(attempt) <= b.ceiling(attempt));
        }
    }

    #[test]
    fn default_user_agent_names_the_product() {
        assert!(
            HttpSettings::default()
                .user_agent
                .starts_with("oauth-cockpit/")
        );
    }
}
