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
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/oauth_cockpit",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

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
    Serve(ServeArgs),
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
        Command::Serve(args) => crate::serve::serve(&cli.db, &cli.keys, args).await,
        Command::Migrate => {
            let pool = crate::serve::open_database(&cli.db).await?;
            tracing::info!("migrations applied");
            pool.close().await;
            Ok(())
        }
        Command::Org(cmd) => crate::org::run(&cli.db, &cli.keys, cmd).await,
        Command::Sync(args) => crate::sync::run(&cli.db, &cli.keys, args).await,
        Command::Keys(cmd) => crate::keys::run(&cli.db, &cli.keys, cmd).await,
        Command::Demo(args) => crate::demo::run(&cli.db, args).await,
        Command::User(cmd) => crate::user::run(&cli.db, cmd).await,
        Command::Audit(cmd) => crate::audit::run(&cli.db, cmd).await,
        Command::ApiToken(cmd) => crate::api_token::run(&cli.db, cmd).await,
    }
}
