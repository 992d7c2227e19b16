//! The web layer: router, pages, errors.

pub mod api;
pub mod auth;
mod chart;
mod csv_export;
mod error;
mod filters;
pub mod form;
mod input;
mod layout;
pub mod metrics;
pub mod oidc;
pub mod page_cache;
pub mod pages;
#[cfg(test)]
mod proptests;
pub mod router;
mod salesforce_url;
mod serve;
#[cfg(test)]
mod testutil;

pub use error::{ApiError, AppError};
pub use router::router;
pub use serve::{serve, shutdown_signal};

use cockpit_db::actions::ActionKind;
use std::sync::Arc;

use cockpit_domain::secret::Keyring;
use sqlx::PgPool;

/// Everything a handler may need, handed out through `State`.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// The URL people use to reach the cockpit (no trailing slash).
    pub public_url: String,
    pub auth: auth::AuthConfig,
    /// Seals org secrets; `None` when COCKPIT_MASTER_KEY is not set (then
    /// orgs cannot be connected from the web).
    pub keyring: Option<Arc<Keyring>>,
    /// Printed at start while no account exists; creates the first admin.
    pub setup_token: Option<String>,
    /// Single sign-on, when set up.
    pub sso: Option<Arc<oidc::Sso>>,
    /// Hosts besides Salesforce's own that "Connect an org" accepts
    /// (`host` or `host:port`; http allowed for them), such as sfsim.
    pub salesforce_hosts: Vec<String>,
    /// Wakes the job runner when a button enqueues work.
    pub wake: Arc<tokio::sync::Notify>,
    /// What the busiest pages read, kept until the data changes; off until
    /// [`AppState::with_page_cache`].
    pub pages: page_cache::PageCache,
    /// Which requests wait for a second admin.
    pub two_person: TwoPersonRule,
    /// The bearer token `/metrics` takes; `None`: no metrics (404).
    pub metrics_token: Option<String>,
    /// Request durations this process counted.
    pub http_metrics: metrics::HttpMetrics,
}

/// The two-person rule, an install setting: which requests wait for a
/// second admin (not the requester, with rights in every org concerned) to
/// approve them, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoPersonRule {
    /// Containing an incident. On unless the operator turns it off.
    pub contain: bool,
    /// Blocking and unblocking an app.
    pub block: bool,
    /// Revoking all of an app's, or all of a user's, authorizations.
    pub revoke_all: bool,
    /// Revoking more than this many selected (or stale) authorizations at once.
    pub bulk_above: Option<u32>,
    /// A request not decided within this expires.
    pub expires_after: std::time::Duration,
}

impl Default for TwoPersonRule {
    fn default() -> Self {
        TwoPersonRule {
            contain: true,
            block: false,
            revoke_all: false,
            bulk_above: None,
            expires_after: std::time::Duration::from_secs(4 * 3600),
        }
    }
}

impl TwoPersonRule {
    /// Parses the operator's setting of what the rule covers: `off`, or a
    /// comma-separated list of `contain`, `block`, `revoke_all` and `bulk:N`
    /// (more than N authorizations at once). The expiry is the default; the
    /// operator sets it apart.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let mut rule = TwoPersonRule {
            contain: false,
            ..TwoPersonRule::default()
        };
        for part in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "off" => {}
                "contain" => rule.contain = true,
                "block" => rule.block = true,
                "revoke_all" => rule.revoke_all = true,
                bulk if bulk.starts_with("bulk:") => {
                    let n = bulk["bulk:".len()..].parse::<u32>().map_err(|_| {
                        format!("{bulk:?}: bulk takes a number of authorizations, as in bulk:500")
                    })?;
                    rule.bulk_above = Some(n);
                }
                other => {
                    return Err(format!(
                        "{other:?} is not one of off, contain, block, revoke_all, bulk:N"
                    ));
                }
            }
        }
        Ok(rule)
    }

    /// What the rule covers, in words (`None` when it is off).
    pub fn describe(&self) -> Option<String> {
        let mut kinds: Vec<String> = [
            (self.contain, "containments"),
            (self.block, "blocks and unblocks"),
            (self.revoke_all, "Revoke All"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| what.to_owned())
        .collect();
        if let Some(n) = self.bulk_above {
            kinds.push(format!("revocations of more than {n} authorizations"));
        }
        (!kinds.is_empty()).then(|| kinds.join(", "))
    }

    /// How long an action of `kind` covering `authorizations` waits for a
    /// second admin, if the rule applies to it.
    pub fn wait_for(&self, kind: ActionKind, authorizations: i64) -> Option<chrono::Duration> {
        let applies = match kind {
            ActionKind::BlockApp | ActionKind::UnblockApp => self.block,
            ActionKind::RevokeAppAll | ActionKind::RevokeUserAll => self.revoke_all,
            ActionKind::BulkRevoke | ActionKind::RevokeAppStale => self
                .bulk_above
                .is_some_and(|n| authorizations > i64::from(n)),
            ActionKind::RevokeToken | ActionKind::RevokeUserApp => false,
        };
        applies.then(|| {
            chrono::Duration::from_std(self.expires_after).unwrap_or(chrono::Duration::hours(4))
        })
    }
}

impl AppState {
    pub fn new(pool: PgPool, public_url: &str) -> AppState {
        AppState {
            pool,
            public_url: public_url.trim_end_matches('/').to_owned(),
            auth: auth::AuthConfig::for_public_url(public_url),
            keyring: None,
            setup_token: None,
            sso: None,
            salesforce_hosts: Vec::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
            pages: page_cache::PageCache::off(),
            two_person: TwoPersonRule::default(),
            metrics_token: None,
            http_metrics: metrics::HttpMetrics::default(),
        }
    }

    /// Keeps page data in memory between requests, following the database's
    /// change notifications (see [`page_cache`]); needs a Tokio runtime.
    pub fn with_page_cache(mut self) -> AppState {
        self.pages = page_cache::PageCache::listening(self.pool.clone());
        self
    }

    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }
}

impl axum::extract::FromRef<AppState> for page_cache::PageCache {
    fn from_ref(state: &AppState) -> Self {
        state.pages.clone()
    }
}

impl axum::extract::FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}
