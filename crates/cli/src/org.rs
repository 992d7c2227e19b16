//! `oauth-cockpit org add|list|remove`: scripted and headless set-ups.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use cockpit_worker::connect::{ConnectRequest, Credentials, connect, disconnect};
use secrecy::SecretString;

use crate::cli::{DbArgs, KeyArgs};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Connect an org with the JWT bearer flow (--jwt-key and --username) or
    /// the client credentials flow (--client-secret without --jwt-key).
    Add(Box<AddArgs>),
    /// List connected orgs with their status.
    List,
    /// Disconnect an org: revoke the cockpit's own token at Salesforce and
    /// delete its stored secrets and synced data.
    Remove {
        /// The org's name in the cockpit.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A name for the org in the cockpit (e.g. "Production EU").
    #[arg(long)]
    pub name: String,
    /// Login URL: https://login.salesforce.com, https://test.salesforce.com
    /// (sandbox), or the org's My Domain URL.
    #[arg(long)]
    pub login_url: url::Url,
    /// Consumer key of the cockpit's External Client App in that org.
    #[arg(long)]
    pub client_id: String,
    /// Consumer secret (prefer the environment variable: command lines are visible to other users).
    #[arg(long, env = "COCKPIT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<SecretString>,
    /// PEM private key whose certificate the app trusts (JWT bearer flow).
    #[arg(long, requires = "username")]
    pub jwt_key: Option<PathBuf>,
    /// The integration user's username (JWT bearer flow).
    #[arg(long)]
    pub username: Option<String>,
    /// The org is a sandbox.
    #[arg(long)]
    pub sandbox: bool,
    /// Salesforce API version.
    #[arg(long, default_value = cockpit_salesforce::DEFAULT_API_VERSION)]
    pub api_version: String,
}

pub async fn run(db: &DbArgs, keys: &KeyArgs, cmd: OrgCommand) -> anyhow::Result<()> {
    let pool = crate::serve::open_database(db).await?;
    match cmd {
        OrgCommand::Add(args) => {
            let args = *args;
            let keyring = keys.keyring()?;
            let credentials = match (&args.jwt_key, &args.client_secret) {
                (Some(path), _) => {
                    let pem = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read the private key {}", path.display())
                    })?;
                    Credentials::JwtBearer {
                        private_key_pem: SecretString::from(pem),
                        username: args.username.clone().unwrap_or_default(),
                    }
                }
                (None, Some(_)) => Credentials::ClientCredentials,
                (None, None) => bail!(
                    "give --jwt-key and --username (JWT bearer flow) or --client-secret (client credentials flow); \
                     the web server flow is in the web interface under Orgs"
                ),
            };
            let connected = connect(
                &pool,
                &keyring,
                ConnectRequest {
                    name: args.name.clone(),
                    login_url: args.login_url,
                    client_id: args.client_id,
                    client_secret: args.client_secret,
                    sandbox: args.sandbox,
                    api_version: args.api_version,
                    credentials,
                },
            )
            .await?;
            println!(
                "Connected {:?}: Salesforce org {} at {} as {}.",
                args.name, connected.sf_org_id, connected.instance_url, connected.username
            );
            if !connected.sees_all_tokens {
                println!(
                    "WARNING: {} lacks \"Customize Application\" (or \"View All Data\"): Salesforce will show it only its own \
                     tokens, not every user's. Grant it, or the cockpit's view of this org is incomplete.",
                    connected.username
                );
            }
            println!(
                "A first sync is queued; run `oauth-cockpit sync --org {:?}` to sync now.",
                args.name
            );
        }
        OrgCommand::List => {
            let orgs = cockpit_db::orgs::list(&pool).await?;
            if orgs.is_empty() {
                println!("No org is connected. Connect one with `oauth-cockpit org add --help`.");
            }
            for org in orgs {
                let last = org
                    .last_sync_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<24} {:<14} {:<18} last sync {} ({}){}",
                    org.name,
                    org.status,
                    org.sf_org_id.as_deref().unwrap_or("-"),
                    last,
                    org.last_sync_status.as_deref().unwrap_or("-"),
                    if org.sees_all_tokens == Some(false) {
                        "  [sees only its own tokens]"
                    } else {
                        ""
                    }
                );
                if let Some(detail) = org.status_detail {
                    println!("{:<24} {detail}", "");
                }
            }
        }
        OrgCommand::Remove { name } => {
            let keyring = keys.keyring()?;
            let id = cockpit_db::orgs::find_by_name(&pool, &name)
                .await?
                .with_context(|| format!("no org named {name:?}"))?;
            let revoked = disconnect(&pool, &keyring, id).await?;
            println!(
                "Removed {name:?}{}.",
                if revoked {
                    "; the cockpit's refresh token was revoked at Salesforce"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
