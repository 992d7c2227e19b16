//! Command-line interface: every option has an environment fallback.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cockpit_domain::secret::{Keyring, MasterKey};
use secrecy::{ExposeSecret as _, SecretString};

#[derive(Debug, Parser)]
#[command(
    name = "oauth-cockpit",
    version,
    about = "See and control which apps hold OAuth access to your Salesforce orgs.",
    long_about = "OAuth Cockpit syncs connected apps, OAuth tokens, users and usage from one or many \
                  Salesforce orgs into PostgreSQL and serves pages to review them, revoke and block \
                  apps, and keep an audit trail."
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,

    #[command(flatten)]
    pub keys: KeyArgs,

    /// Log format: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "COCKPIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL. The database is created if it does not exist.
    /// Default: postgres://postgres@127.0.0.1:5432/oauth_cockpit; `demo`
    /// without one runs its own PostgreSQL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// How many times to try reaching PostgreSQL at start-up before giving up
    /// (the wait doubles between attempts, up to 5 s).
    #[arg(
        long,
        env = "COCKPIT_DB_CONNECT_ATTEMPTS",
        default_value_t = 6,
        global = true
    )]
    pub db_connect_attempts: u32,
}

impl DbArgs {
    pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/oauth_cockpit";

    /// The URL named, or the default.
    pub fn url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(Self::DEFAULT_URL)
    }
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Base64 of 32 random bytes that encrypts stored secrets (refresh tokens,
    /// client secrets, private keys). Generate one with `oauth-cockpit keys generate`
    /// or `openssl rand -base64 32`. Keep it safe: without it the stored secrets
    /// cannot be read.
    #[arg(
        long,
        env = "COCKPIT_MASTER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub master_key: Option<SecretString>,

    /// Earlier master keys, comma-separated, still accepted to read secrets
    /// sealed before a rotation (`oauth-cockpit keys rotate` re-seals them).
    #[arg(
        long,
        env = "COCKPIT_PREVIOUS_MASTER_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub previous_master_keys: Option<SecretString>,
}

impl KeyArgs {
    /// The keyring, or a clear error saying how to provide the key.
    pub fn keyring(&self) -> anyhow::Result<Arc<Keyring>> {
        let key = self
            .master_key
            .as_ref()
            .filter(|k| !k.expose_secret().trim().is_empty())
            .context("COCKPIT_MASTER_KEY is not set. Generate one with `oauth-cockpit keys generate`, keep it safe, and set it in the environment")?;
        let current = MasterKey::from_base64(key.expose_secret()).context("COCKPIT_MASTER_KEY")?;
        let mut previous = Vec::new();
        if let Some(list) = &self.previous_master_keys {
            for part in list
                .expose_secret()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                previous
                    .push(MasterKey::from_base64(part).context("COCKPIT_PREVIOUS_MASTER_KEYS")?);
            }
        }
        Ok(Arc::new(Keyring::new(current, previous)))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, run scheduled syncs and serve the web interface until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Create the database if needed, apply migrations, and exit.
    Migrate,
    /// Connect, list and remove Salesforce orgs.
    #[command(subcommand)]
    Org(crate::org::OrgCommand),
    /// Sync orgs once, print a summary, and exit (non-zero if any sync failed).
    Sync(crate::sync::SyncArgs),
    /// Generate and rotate the master key.
    #[command(subcommand)]
    Keys(crate::keys::KeysCommand),
    /// Run the whole product against two simulated orgs, with nothing to configure.
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
    /// Manage local accounts.
    #[command(subcommand)]
    User(crate::user::UserCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Manage API tokens for /api/v1.
    #[command(subcommand)]
    ApiToken(crate::api_token::ApiTokenCommand),
    /// Load the table of address ranges to autonomous systems (iptoasn.com's format).
    #[command(subcommand)]
    Asn(crate::asn::AsnCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COCKPIT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The URL people use to reach the cockpit (e.g. https://cockpit.example.com).
    /// Used for OAuth callbacks and to decide on HSTS. Defaults to http://<listen>.
    #[arg(long, env = "COCKPIT_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Do not run syncs and background jobs in this process (run them elsewhere).
    #[arg(long, env = "COCKPIT_NO_WORKER")]
    pub no_worker: bool,

    /// Read the database for every page instead of keeping page data in
    /// memory until it changes. Needed where LISTEN/NOTIFY does not reach
    /// this process (PostgreSQL behind a transaction-pooling PgBouncer):
    /// there the cache would miss changes for up to 30 s.
    #[arg(long, env = "COCKPIT_NO_PAGE_CACHE")]
    pub no_page_cache: bool,

    /// Hosts besides Salesforce's own (*.salesforce.com, *.force.com) that
    /// "Connect an org" accepts as a My Domain URL, as `host` or
    /// `host:port`, comma-separated; http is allowed for them. For a test
    /// org such as sfsim; never needed for real orgs.
    #[arg(
        long = "allow-salesforce-host",
        env = "COCKPIT_ALLOW_SALESFORCE_HOSTS",
        value_delimiter = ','
    )]
    pub allow_salesforce_hosts: Vec<String>,

    /// The two-person rule: which requests wait for a second admin's
    /// approval. A comma-separated list of `contain` (an incident's
    /// containment; the default), `block` (blocking or unblocking an app),
    /// `revoke_all` (all of an app's or a user's authorizations) and
    /// `bulk:N` (more than N selected or stale authorizations at once); or
    /// `off`.
    #[arg(long, env = "COCKPIT_TWO_PERSON_RULE", default_value = "contain", value_parser = cockpit_web::TwoPersonRule::parse)]
    pub two_person_rule: cockpit_web::TwoPersonRule,

    /// Jobs (syncs, actions) this process runs at once. One org's actions
    /// still run one at a time.
    #[arg(long, env = "COCKPIT_WORKER_JOBS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub worker_jobs: u16,

    /// The most calls an action keeps in flight at one org. Within it the
    /// number adapts: it starts at two, grows while answers are fast and
    /// clean, and halves when the org pushes back.
    #[arg(long, env = "COCKPIT_MAX_IN_FLIGHT", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max_in_flight: u16,

    /// Minutes a request waits for its second admin before it expires.
    #[arg(long, env = "COCKPIT_APPROVAL_EXPIRES_MINUTES", default_value_t = 240, value_parser = clap::value_parser!(u32).range(5..=10080))]
    pub approval_expires_minutes: u32,

    /// Days the archive of Salesforce's logs (Login, ApiTotalUsage, OAuth
    /// logins) is kept; older days are dropped after each sync.
    #[arg(long, env = "COCKPIT_LOG_RETENTION_DAYS", default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub log_retention_days: u32,

    /// Days notifications and their delivery log are kept; older ones are
    /// removed once an hour (those still being retried stay).
    #[arg(long, env = "COCKPIT_NOTIFICATION_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub notification_retention_days: u32,

    /// People holding an app outside the inventory at which the sync that
    /// sees it reach them sends `app.outside_inventory` (once per app).
    #[arg(long, env = "COCKPIT_OUTSIDE_INVENTORY_PEOPLE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub outside_inventory_people: u32,

    /// A PEM file of the certificate authorities a SIEM collector's TLS
    /// certificate may chain to (`syslog+tls://`, `jsonl+tls://`); unset,
    /// the system's trust store.
    #[arg(long, env = "COCKPIT_SIEM_CA_FILE")]
    pub siem_ca_file: Option<std::path::PathBuf>,

    /// Serve Prometheus metrics at /metrics to requests that carry this
    /// bearer token (`Authorization: Bearer <token>`); unset, /metrics
    /// answers 404.
    #[arg(long, env = "COCKPIT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    #[command(flatten)]
    pub sso: SsoArgs,
}

impl ServeArgs {
    pub fn two_person(&self) -> cockpit_web::TwoPersonRule {
        cockpit_web::TwoPersonRule {
            expires_after: std::time::Duration::from_secs(
                u64::from(self.approval_expires_minutes) * 60,
            ),
            ..self.two_person_rule
        }
    }
}

/// OpenID Connect single sign-on (off unless an issuer is given).
#[derive(Debug, Clone, clap::Args)]
pub struct SsoArgs {
    /// Issuer URL of the identity provider (its discovery document is read
    /// from ISSUER/.well-known/openid-configuration), e.g.
    /// https://example.okta.com, https://login.microsoftonline.com/TENANT/v2.0,
    /// https://accounts.google.com or https://login.salesforce.com.
    #[arg(long, env = "COCKPIT_OIDC_ISSUER")]
    pub oidc_issuer: Option<url::Url>,

    /// Client id of the cockpit's app at the provider. Its redirect URI is
    /// PUBLIC_URL/signin/sso/callback.
    #[arg(long, env = "COCKPIT_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,

    /// Client secret of that app (omit for a public client using PKCE only).
    #[arg(long, env = "COCKPIT_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretString>,

    /// Scopes asked for besides `openid`.
    #[arg(
        long,
        env = "COCKPIT_OIDC_SCOPES",
        default_value = "email profile",
        value_delimiter = ' '
    )]
    pub oidc_scopes: Vec<String>,

    /// Claim that carries groups or the role; a dotted path reaches into
    /// objects (`custom_attributes.cockpit_role` with Salesforce).
    #[arg(long, env = "COCKPIT_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,

    /// Claim value to role, e.g. `secops=analyst,it-admins=admin`. With
    /// neither a map nor a default role, roles are granted in the cockpit.
    #[arg(long, env = "COCKPIT_OIDC_ROLE_MAP")]
    pub oidc_role_map: Option<String>,

    /// Role for people whose claim maps to no role (default: refused).
    #[arg(long, env = "COCKPIT_OIDC_DEFAULT_ROLE")]
    pub oidc_default_role: Option<String>,

    /// Name on the sign-in button ("Sign in with …").
    #[arg(long, env = "COCKPIT_OIDC_LABEL", default_value = "single sign-on")]
    pub oidc_label: String,
}

impl SsoArgs {
    pub fn config(&self) -> anyhow::Result<Option<cockpit_web::oidc::SsoConfig>> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let client_id = self.oidc_client_id.clone().ok_or_else(|| {
            anyhow::anyhow!("COCKPIT_OIDC_ISSUER is set: set COCKPIT_OIDC_CLIENT_ID too")
        })?;
        let role_map = cockpit_web::oidc::SsoConfig::parse_role_map(
            self.oidc_role_map.as_deref().unwrap_or(""),
        )
        .map_err(|e| anyhow::anyhow!("COCKPIT_OIDC_ROLE_MAP: {e}"))?;
        let default_role = match self.oidc_default_role.as_deref() {
            None | Some("") => None,
            Some(r) => Some(cockpit_domain::role::Role::parse(r).ok_or_else(|| {
                anyhow::anyhow!("COCKPIT_OIDC_DEFAULT_ROLE: {r:?} is not viewer, analyst or admin")
            })?),
        };
        Ok(Some(cockpit_web::oidc::SsoConfig {
            issuer: issuer.as_str().trim_end_matches('/').to_owned(),
            client_id,
            client_secret: self.oidc_client_secret.clone(),
            scopes: self
                .oidc_scopes
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
            role_claim: self.oidc_role_claim.clone(),
            role_map,
            default_role,
            label: self.oidc_label.chars().take(60).collect(),
        }))
    }
}

pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.compact().init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve::serve(&cli.db, &cli.keys, *args).await,
        Command::Migrate => {
            let pool = crate::serve::open_database(&cli.db).await?;
            tracing::info!("migrations applied");
            pool.close().await;
            Ok(())
        }
        Command::Org(cmd) => crate::org::run(&cli.db, &cli.keys, cmd).await,
        Command::Sync(args) => crate::sync::run(&cli.db, &cli.keys, args).await,
        Command::Keys(cmd) => crate::keys::run(&cli.db, &cli.keys, cmd).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => crate::demo::run(&cli.db, args).await,
        Command::User(cmd) => crate::user::run(&cli.db, cmd).await,
        Command::Audit(cmd) => crate::audit::run(&cli.db, cmd).await,
        Command::Asn(cmd) => crate::asn::run(&cli.db, cmd).await,
        Command::ApiToken(cmd) => crate::api_token::run(&cli.db, cmd).await,
    }
}
