#![recursion_limit = "256"]
//! sfsim: a Salesforce org simulator that speaks the real wire protocol.
//!
//! The org (users, connected apps, External Client Apps, OAuth tokens, login
//! history, audit trail, event logs) is generated deterministically from a seed
//! and served over HTTP with Salesforce's endpoints, JSON shapes, error codes and
//! quirks (see `docs/salesforce-api.md`). Items the reference marks as
//! inferred are flagged `[C]` in comments where they are implemented.
//!
//! One listener serves the login host, My Domain and instance URL; URLs in
//! responses are built from the request's `Host` header.
//!
//! Endpoints:
//! - OAuth: `GET|POST /services/oauth2/authorize` (login + consent pages, PKCE),
//!   `POST /services/oauth2/token` (authorization_code, refresh_token with optional
//!   rotation, JWT bearer, client_credentials, password), `GET|POST
//!   /services/oauth2/revoke`, `POST /services/oauth2/introspect`,
//!   `GET /services/oauth2/userinfo`, `GET /id/{org}/{user}`.
//! - SOAP: `POST /services/Soap/u/{v}` (login/logout), `POST /services/Soap/m/{v}`
//!   (listMetadata/readMetadata for ConnectedApp and BlacklistedConsumer).
//! - REST under `/services/data/vXX.X` (v59.0-v68.0): `query`, `queryAll` and their
//!   `nextRecordsUrl` locators, `limits`, `sobjects`, `sobjects/{o}/describe`,
//!   `sobjects/{o}/{id}` (GET; DELETE/PATCH rejected), `sobjects/EventLogFile/{id}/LogFile`,
//!   `metadata/deployRequest` (+ `/{id}`; BlacklistedConsumer and
//!   ExtlClntAppConfigurablePolicies components), and the Connect `apps/oauth/usage` family.
//!   `GET /services/data/` lists versions without auth.
//! - Control (only with `SimConfig::control`): `/_sim/status`, `/_sim/faults`,
//!   `/_sim/expire-access-tokens`, `/_sim/api-usage`, `/_sim/clock`, `/_sim/activity`,
//!   `/_sim/credentials`, `/_sim/apps`, `/_sim/tokens/{id}/refresh-token`, `/_sim/revocations`
//!   (revoke calls per token), `/_sim/traffic/{app name}` (an app's networks and user
//!   agent, [`Sim::app_traffic`]) and `POST /_sim/attack` (stages an attack with a
//!   stolen grant, [`Sim::stage_attack`]): body
//!   `{"app": "Drift", "from": "<RFC3339>", "to": "<RFC3339>", "ips": [..], "user_agents": [..],
//!   "requests": 400}` (the last three optional), answer an [`AttackSummary`];
//!   404 for an unknown app, 400 for a bad body. Faults include `revoke_latency`
//!   (slow revokes only) and `server_error_on_path` (503 wherever the path contains a text).
//!
//! Event logs: a daily `ApiTotalUsage` and `Login` EventLogFile per day (see
//! [`eventlog`]); integration apps call from 2-3 fixed networks with one user
//! agent of their own, people's apps from each user's home network
//! ([`traffic`]). Every API row follows a Login row of the same user from the
//! same IP on the same day, so Login rows (which name no app) can be
//! attributed to apps by user + SOURCE_IP + day.
//!
//! Use [`Sim::spawn`] in tests; the `sfsim` binary serves an org on a fixed port.

pub mod connect;
pub mod control;
pub mod error;
pub mod eventlog;
pub mod generate;
pub mod ids;
pub mod metadata;
pub mod model;
pub mod oauth;
pub mod query;
pub mod rest;
pub mod schema;
pub mod soap;
pub mod soql;
pub mod traffic;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::http::HeaderMap;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub use control::Fault;
use error::RestError;
use model::{OrgState, Secrets, Session, Ts};

/// The RSA private key whose certificate the cockpit's app trusts (JWT bearer flow).
/// A fixed test key: the simulator is not a security boundary.
pub const JWT_PRIVATE_KEY_PEM: &str = include_str!("keys/simkey.pem");
pub const JWT_PUBLIC_KEY_PEM: &str = include_str!("keys/simpub.pem");
pub const JWT_CERTIFICATE_PEM: &str = include_str!("keys/simcert.pem");

/// Supported REST API versions (inclusive).
pub const MIN_API_VERSION: u32 = 59;
pub const MAX_API_VERSION: u32 = 68;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub users: usize,
    pub apps: usize,
    pub tokens: usize,
    /// Enables the `/_sim/` control API.
    pub control: bool,
    pub daily_api_limit: u64,
    pub my_domain: String,
    pub sandbox: bool,
    /// Refresh-token rotation on the cockpit's own app.
    pub rotate_refresh_tokens: bool,
    /// Redirect URIs the cockpit app accepts besides any http loopback URI.
    pub extra_redirect_uris: Vec<String>,
    /// Custom attributes of the cockpit's app, put in its id_tokens and
    /// userinfo as `custom_attributes` (name, formula). Formulas understood:
    /// `$User.Department`, `$User.Title`, `$User.Username`, `$Profile.Name`;
    /// anything else is a literal. Empty by default, as in a new org.
    pub custom_attributes: Vec<(String, String)>,
    /// ApiTotalUsage rows per daily event log file (Login files get a
    /// fraction: one row per sign-in session, plus UI logins). `None`: the
    /// org's size decides, `(50 + tokens / 50).min(1500)`. Every generated
    /// day (7 at start, one more per simulated day) gets this many.
    pub log_rows_per_day: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            users: 200,
            apps: 20,
            tokens: 2_000,
            control: false,
            daily_api_limit: 100_000,
            my_domain: "acme".into(),
            sandbox: false,
            rotate_refresh_tokens: false,
            extra_redirect_uris: Vec::new(),
            custom_attributes: Vec::new(),
            log_rows_per_day: None,
        }
    }
}

/// An attack with a stolen grant of `app` ([`Sim::stage_attack`]; the JSON
/// body of `POST /_sim/attack`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttackSpec {
    /// The app's exact name.
    pub app: String,
    /// The window `[from, to)` the attack's rows fall in.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Attacker IPs; empty: [`DEFAULT_ATTACK_IPS`].
    #[serde(default)]
    pub ips: Vec<std::net::IpAddr>,
    /// Attacker user agents; empty: [`DEFAULT_ATTACK_USER_AGENTS`].
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// ApiTotalUsage rows; `None`: 400.
    #[serde(default)]
    pub requests: Option<usize>,
}

/// Tor-exit-like and hosting addresses, as in published indicators.
pub const DEFAULT_ATTACK_IPS: &[&str] = &[
    "185.220.101.33",
    "185.220.101.143",
    "192.42.116.20",
    "208.68.36.90",
    "44.215.108.109",
];
pub const DEFAULT_ATTACK_USER_AGENTS: &[&str] = &[
    "Salesforce-Multi-Org-Fetcher/1.0",
    "python-requests/2.32.4",
    "Python/3.11 aiohttp/3.12.15",
];

/// What [`Sim::stage_attack`] added.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttackSummary {
    pub app: String,
    /// Usernames whose grants the attacker used.
    pub users: Vec<String>,
    pub ips: Vec<String>,
    pub user_agents: Vec<String>,
    /// Rows of the `Login` event type (one per attacker sign-in).
    pub login_rows: usize,
    /// Rows of the `ApiTotalUsage` event type.
    pub api_total_usage_rows: usize,
    /// LoginHistory records added.
    pub login_history_rows: usize,
    /// Day files already generated that now hold the attack's rows (days
    /// not generated yet will hold them when they are).
    pub files_updated: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Credentials {
    pub login_url: String,
    pub instance_url: String,
    pub org_id: String,
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub client_secret: String,
    pub jwt_private_key_pem: String,
    pub jwt_key_path: Option<String>,
    pub jwt_certificate_path: Option<String>,
    pub sandbox: bool,
}

pub(crate) struct ActiveFault {
    pub fault: Fault,
    /// Request count when the fault was set; `nth` counts from here.
    pub start: u64,
    pub fired: bool,
}

pub(crate) struct Inner {
    pub config: SimConfig,
    pub state: RwLock<OrgState>,
    pub secrets: Secrets,
    pub org_id: String,
    pub clock_offset: AtomicI64,
    pub api_used: AtomicU64,
    pub requests: AtomicU64,
    /// Requests being answered right now (for [`Fault::MaxInFlight`]).
    pub in_flight: AtomicU64,
    pub faults: Mutex<Vec<ActiveFault>>,
    pub cursors: Mutex<query::Cursors>,
    /// Calls to the revoke endpoint that named each OauthToken (by sequence),
    /// answered `200` or not: tests check "revoked at most once" with it.
    pub revoke_calls: Mutex<std::collections::BTreeMap<u32, u32>>,
}

/// A simulated org. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

/// A simulator serving on a local port; shuts down when dropped.
pub struct RunningSim {
    pub base_url: String,
    pub credentials: Credentials,
    pub sim: Sim,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(feature = "testing")]
impl RunningSim {
    /// What an attacker holding a stolen refresh token of `app_name` does:
    /// asks the token endpoint for a new access token with it, as the app.
    pub async fn replay_refresh(
        &self,
        http: &reqwest::Client,
        app_name: &str,
        refresh_token: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let (client_id, client_secret) = self.sim.app_credentials(app_name).unwrap_or_default();
        http.post(format!("{}/services/oauth2/token", self.base_url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
            ])
            .send()
            .await
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Authenticated REST call context.
pub(crate) struct Ctx {
    pub user: u32,
    pub version: String,
    pub base: String,
}

impl Sim {
    /// Generates the org deterministically from `config.seed`.
    pub fn new(config: SimConfig) -> Sim {
        let now = Utc::now().timestamp_millis();
        let anchor = generate::anchor_for(now);
        let state = generate::generate(&config, anchor);
        let secrets = Secrets::new(config.seed);
        let org_id = ids::org_id(config.seed);
        Sim {
            inner: Arc::new(Inner {
                config,
                state: RwLock::new(state),
                secrets,
                org_id,
                clock_offset: AtomicI64::new(0),
                api_used: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
                revoke_calls: Mutex::default(),
                faults: Mutex::new(Vec::new()),
                cursors: Mutex::new(query::Cursors::default()),
            }),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Every endpoint (control routes only if `config.control`).
    pub fn router(&self) -> Router {
        control::router(self.clone())
    }

    pub async fn spawn(config: SimConfig) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Sim::spawn_on(config, listener).await
    }

    pub async fn spawn_on(
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<RunningSim> {
        Sim::new(config).serve_on(listener)
    }

    /// Serves an already generated org on a listener, in the background.
    pub fn serve_on(self, listener: tokio::net::TcpListener) -> std::io::Result<RunningSim> {
        let addr = listener.local_addr()?;
        let sim = self;
        let base_url = format!("http://{addr}");
        let app = sim.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("sfsim server stopped: {e}");
            }
        });
        let credentials = sim.credentials(&base_url);
        Ok(RunningSim {
            base_url,
            credentials,
            sim,
            task,
        })
    }

    /// Credentials of the admin integration user and the cockpit's app, for a base URL.
    pub fn credentials(&self, base_url: &str) -> Credentials {
        let st = self.read();
        let app = &st.apps[0];
        Credentials {
            login_url: base_url.to_string(),
            instance_url: base_url.to_string(),
            org_id: self.inner.org_id.clone(),
            username: st.users[0].username.clone(),
            password: self.inner.secrets.password(0),
            client_id: app.consumer_key.clone(),
            client_secret: app.consumer_secret.clone(),
            jwt_private_key_pem: JWT_PRIVATE_KEY_PEM.to_string(),
            jwt_key_path: None,
            jwt_certificate_path: None,
            sandbox: self.inner.config.sandbox,
        }
    }

    /// Username and password of an ordinary user without admin permissions.
    pub fn ordinary_user(&self) -> (String, String) {
        (
            self.read().users[1].username.clone(),
            self.inner.secrets.password(1),
        )
    }

    /// Password of any user (sim convenience for tests and demos).
    pub fn password_for(&self, username: &str) -> Option<String> {
        let u = self.read().user_by_username(username)?;
        Some(self.inner.secrets.password(u))
    }

    /// Consumer key and secret of an app by name (third-party apps included).
    pub fn app_credentials(&self, app_name: &str) -> Option<(String, String)> {
        let st = self.read();
        let a = st.app_by_name(app_name)?;
        let app = &st.apps[a as usize];
        Some((app.consumer_key.clone(), app.consumer_secret.clone()))
    }

    /// Every connected app's consumer key by its `ConnectedApplication` id.
    pub fn connected_app_keys(&self) -> std::collections::BTreeMap<String, String> {
        let st = self.read();
        st.apps
            .iter()
            .enumerate()
            .filter(|(_, a)| a.kind == model::AppKind::Connected)
            .map(|(i, a)| (a.sobject_id(i as u32), a.consumer_key.clone()))
            .collect()
    }

    /// The current refresh token of an OauthToken (by its `0CQ` id), so tests can act
    /// as the third-party app that holds it.
    pub fn refresh_token_of(&self, token_id: &str) -> Option<String> {
        let seq = ids::parse_id(ids::OAUTH_TOKEN, token_id)? as u32;
        let st = self.read();
        let t = st.tokens.get(seq as usize).filter(|t| !t.revoked)?;
        Some(self.inner.secrets.refresh_token(seq, t.generation))
    }

    /// How many revoke calls named each token (by its `0CQ` id), whatever
    /// the answer was.
    pub fn revoke_calls(&self) -> std::collections::BTreeMap<String, u32> {
        self.inner
            .revoke_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(seq, n)| (ids::make_id(ids::OAUTH_TOKEN, u64::from(*seq)), *n))
            .collect()
    }

    pub fn org_id(&self) -> String {
        self.inner.org_id.clone()
    }

    pub fn token_count(&self) -> usize {
        self.read().tokens.iter().filter(|t| !t.revoked).count()
    }

    pub fn tokens_for_app(&self, app_name: &str) -> usize {
        let st = self.read();
        let Some(a) = st.app_by_name(app_name) else {
            return 0;
        };
        st.tokens
            .iter()
            .filter(|t| !t.revoked && t.app == a)
            .count()
    }

    pub fn tokens_for_user(&self, user_id: &str) -> usize {
        let Some(u) = ids::parse_id(ids::USER, user_id) else {
            return 0;
        };
        self.read().user_tokens(u as u32).count()
    }

    pub fn is_blocked(&self, consumer_key: &str) -> bool {
        self.read().is_blocked_key(consumer_key)
    }

    /// Whether an External Client App's plugins are disabled by policy.
    /// Whether only admin-approved users may use the app (its OAuth policy).
    pub fn is_admin_approved_only(&self, consumer_key: &str) -> bool {
        let st = self.read();
        st.app_by_key(consumer_key)
            .is_some_and(|a| st.apps[a as usize].admin_approved_only)
    }

    pub fn is_disabled(&self, consumer_key: &str) -> bool {
        let st = self.read();
        st.app_by_key(consumer_key)
            .is_some_and(|a| st.app_disabled(a))
    }

    pub fn set_fault(&self, fault: Fault) {
        match fault {
            Fault::ExhaustBudget => self
                .inner
                .api_used
                .store(self.inner.config.daily_api_limit, Ordering::SeqCst),
            Fault::ExpireSessions => self.expire_access_tokens(),
            Fault::SlowDeploys(d) => {
                self.write().deploy_delay_ms = d.as_millis().min(i64::MAX as u128) as Ts;
            }
            _ => {}
        }
        let start = self.inner.requests.load(Ordering::SeqCst);
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ActiveFault {
                fault,
                start,
                fired: false,
            });
    }

    pub fn clear_faults(&self) {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.write().deploy_delay_ms = 0;
    }

    /// Every issued access token now answers 401 INVALID_SESSION_ID.
    pub fn expire_access_tokens(&self) {
        self.write().sessions.clear();
    }

    pub fn set_api_usage(&self, used: u64) {
        self.inner.api_used.store(used, Ordering::SeqCst);
    }

    pub fn api_usage(&self) -> u64 {
        self.inner.api_used.load(Ordering::SeqCst)
    }

    pub fn advance_clock(&self, by: chrono::Duration) {
        self.inner
            .clock_offset
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    pub fn set_clock(&self, at: DateTime<Utc>) {
        let real = Utc::now().timestamp_millis();
        self.inner
            .clock_offset
            .store(at.timestamp_millis() - real, Ordering::SeqCst);
    }

    /// The simulator's clock: wall time plus any offset set through the control API.
    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms())
            .single()
            .unwrap_or_default()
    }

    pub(crate) fn now_ms(&self) -> Ts {
        Utc::now().timestamp_millis() + self.inner.clock_offset.load(Ordering::SeqCst)
    }

    /// `username` authorizes `app_name` now, as the consent page would
    /// record it; the new authorization's id (`0CQ…`). `None` when either
    /// is unknown. Blocking is not checked: this is the org's state changing
    /// (a test stages what a person did after an admin lifted a block).
    pub fn grant(&self, app_name: &str, username: &str) -> Option<String> {
        let now = self.now_ms();
        let mut st = self.write();
        let app = st.app_by_name(app_name)?;
        let user = st.user_by_username(username)?;
        let seq = st.add_token(user, app, now);
        Some(ids::make_id(ids::OAUTH_TOKEN, u64::from(seq)))
    }

    /// Users authorize apps, tokens get used, users get deactivated, apps appear.
    pub fn simulate_activity(&self, steps: usize) {
        let now = self.now_ms();
        let mut st = self.write();
        control::activity(&mut st, now, steps);
    }

    /// Daily event log files appear for days the clock has moved past (the last 30 days
    /// at most), generated deterministically from the seed and the day.
    pub(crate) fn ensure_event_logs(&self) {
        const DAY: Ts = 86_400_000;
        let today = generate::anchor_for(self.now_ms());
        let latest = self.read().event_logs.iter().map(|e| e.log_date).max();
        if latest.is_some_and(|l| l + DAY >= today) {
            return;
        }
        let mut st = self.write();
        let latest = st
            .event_logs
            .iter()
            .map(|e| e.log_date)
            .max()
            .unwrap_or(today - 2 * DAY);
        let mut day = (latest + DAY).max(today - 30 * DAY);
        let cfg = &self.inner.config;
        let api_rows = cfg
            .log_rows_per_day
            .unwrap_or_else(|| eventlog::default_rows_per_day(st.tokens.len()));
        while day < today {
            let logs = eventlog::generate_day(&eventlog::DayInput {
                seed: cfg.seed,
                org15: &self.inner.org_id[..15],
                day,
                users: &st.users,
                apps: &st.apps,
                tokens: &st.tokens,
                integration: &st.integration,
                attacks: &st.attacks,
                api_rows,
            });
            st.event_logs.extend(logs);
            day += DAY;
        }
    }

    /// What a consumer can expect of an app's traffic in the event logs:
    /// integration or people's app, its networks and user agent. `None` for
    /// an unknown app.
    pub fn app_traffic(&self, app_name: &str) -> Option<traffic::AppTraffic> {
        let st = self.read();
        let a = st.app_by_name(app_name)?;
        Some(eventlog::app_traffic(
            self.inner.config.seed,
            &st.integration,
            a,
            app_name,
        ))
    }

    /// Stages an attack with stolen grants of `spec.app` in `[from, to)`: for
    /// up to three users holding live grants of the app, sign-ins with their
    /// refresh tokens from the attacker's IPs and user agents (`Login` log
    /// rows `OauthRefreshToken`, and LoginHistory records `Remote Access 2.0`
    /// / `OauthRefreshToken` / Success naming the app), each followed by the
    /// recon pattern of the 2025 Drift campaign in `ApiTotalUsage`
    /// (`sobjects/`, `sobjects/Case/describe/`, COUNT queries on Account,
    /// Contact, User, Case and Opportunity, `limits/`, a Bulk query job on
    /// Case and its DELETE), `requests` rows in all. Day files already
    /// generated get the rows merged in (by time; their own rows unchanged);
    /// later days include them when generated.
    ///
    /// Errors: `unknown app: …` (the control API answers 404), an empty
    /// window, or an app nobody holds a live grant of.
    pub fn stage_attack(&self, spec: AttackSpec) -> Result<AttackSummary, String> {
        const DAY: Ts = eventlog::DAY;
        let (from, to) = (spec.from.timestamp_millis(), spec.to.timestamp_millis());
        if from >= to {
            return Err("empty window: from must be before to".into());
        }
        let ips: Vec<std::net::IpAddr> = if spec.ips.is_empty() {
            DEFAULT_ATTACK_IPS
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect()
        } else {
            spec.ips.clone()
        };
        let uas: Vec<String> = if spec.user_agents.is_empty() {
            DEFAULT_ATTACK_USER_AGENTS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            spec.user_agents.clone()
        };
        let requests = spec.requests.unwrap_or(400).clamp(1, 10_000_000);
        let seed = self.inner.config.seed;
        let mut st = self.write();
        let app = st
            .app_by_name(&spec.app)
            .ok_or_else(|| format!("unknown app: {}", spec.app))?;
        let mut holders: Vec<u32> = st
            .tokens
            .iter()
            .filter(|t| !t.revoked && t.app == app)
            .map(|t| t.user)
            .collect();
        holders.sort_unstable();
        holders.dedup();
        if holders.is_empty() {
            return Err(format!("nobody holds a live grant of {}", spec.app));
        }
        let id = st.attacks.len() as u64;
        holders.sort_by_key(|&u| traffic::h(seed, traffic::TAG_ATTACK, id, u64::from(u)));
        holders.truncate(3);
        let attack = eventlog::StagedAttack {
            id,
            app,
            from,
            to,
            ips: ips.clone(),
            user_agents: uas.clone(),
            requests,
            users: holders.clone(),
        };
        let (sessions, api_rows) = eventlog::attack_sessions(seed, &attack);
        // LoginHistory, kept in time order.
        for &(user, time, ip) in &sessions {
            let pos = st.logins.partition_point(|l| l.time <= time);
            st.logins.insert(
                pos,
                model::Login {
                    user,
                    time,
                    app,
                    subtype: 2,
                    status: 0,
                    ip,
                },
            );
        }
        // Day files already generated.
        let mut files_updated = 0;
        let first_day = from - from.rem_euclid(DAY);
        let mut day = first_day;
        while day < to {
            let has = st.event_logs.iter().any(|e| e.log_date == day);
            if has {
                let rows = {
                    let inp = eventlog::DayInput {
                        seed,
                        org15: &self.inner.org_id[..15],
                        day,
                        users: &st.users,
                        apps: &st.apps,
                        tokens: &st.tokens,
                        integration: &st.integration,
                        attacks: &[],
                        api_rows: 0,
                    };
                    eventlog::attack_day_rows(&inp, &attack)
                };
                if let Some(rows) = rows {
                    for e in st.event_logs.iter_mut().filter(|e| e.log_date == day) {
                        let add = if e.event_type == eventlog::LOGIN {
                            &rows.login_csv
                        } else {
                            &rows.api_csv
                        };
                        e.csv = eventlog::merge_rows(&e.csv, add);
                        files_updated += 1;
                    }
                }
            }
            day += DAY;
        }
        st.attacks.push(attack);
        Ok(AttackSummary {
            app: spec.app,
            users: holders
                .iter()
                .map(|&u| st.users[u as usize].username.clone())
                .collect(),
            ips: ips.iter().map(|i| i.to_string()).collect(),
            user_agents: uas,
            login_rows: sessions.len(),
            api_total_usage_rows: api_rows,
            login_history_rows: sessions.len(),
            files_updated,
        })
    }

    /// API requests served (every HTTP request except `/_sim/` control calls).
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, OrgState> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, OrgState> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn org15(&self) -> &str {
        &self.inner.org_id[..15]
    }

    /// Looks up the session behind `Authorization: Bearer|OAuth <token>`.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = bearer(headers)?;
        self.read().sessions.get(token).cloned()
    }

    /// Version check, authentication and API budget for a REST call.
    pub(crate) fn rest_begin(&self, headers: &HeaderMap, version: &str) -> Result<Ctx, RestError> {
        let version = api_version(version).ok_or_else(RestError::not_found)?;
        let s = self
            .session(headers)
            .ok_or_else(RestError::invalid_session)?;
        if self.read().users[s.user as usize].perms() & model::perm::API_ENABLED == 0 {
            return Err(RestError::new(
                403,
                "API_CURRENTLY_DISABLED",
                "API is disabled for this User",
            ));
        }
        self.charge_api()?;
        Ok(Ctx {
            user: s.user,
            version,
            base: base_url(headers),
        })
    }

    /// Counts one API call against the daily limit.
    pub(crate) fn charge_api(&self) -> Result<(), RestError> {
        let limit = self.inner.config.daily_api_limit;
        let r = self
            .inner
            .api_used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                (u < limit).then_some(u + 1)
            });
        r.map(|_| ()).map_err(|_| RestError::limit_exceeded())
    }

    pub(crate) fn env<'a>(&'a self, ctx: &'a Ctx) -> schema::Env<'a> {
        schema::Env {
            secrets: &self.inner.secrets,
            org_id: &self.inner.org_id,
            version: &ctx.version,
            running_user: ctx.user,
            sandbox: self.inner.config.sandbox,
            base_url: &ctx.base,
        }
    }

    pub(crate) fn limit_info(&self) -> String {
        format!(
            "api-usage={}/{}",
            self.api_usage(),
            self.inner.config.daily_api_limit
        )
    }
}

/// `vNN.0` for NN in the supported range, returned as `NN.0`.
pub fn api_version(v: &str) -> Option<String> {
    let n = v.strip_prefix('v')?.strip_suffix(".0")?;
    let n: u32 = n.parse().ok()?;
    (MIN_API_VERSION..=MAX_API_VERSION)
        .contains(&n)
        .then(|| format!("{n}.0"))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, tok) = h.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then_some(tok.trim())
}

/// The base URL the client used (login host, My Domain and instance are all the
/// same listener).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}
