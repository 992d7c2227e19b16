//! `oauth-cockpit api-token create|list|revoke`: tokens for `/api/v1`.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use cockpit_domain::role::Role;
use uuid::Uuid;

use crate::cli::DbArgs;

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// The system that will use it, e.g. "soar".
        #[arg(long)]
        name: String,
        /// viewer, analyst or admin (admin may create actions).
        #[arg(long)]
        role: Role,
        /// Limit the token to the org of this name.
        #[arg(long)]
        org: Option<String>,
    },
    /// List tokens with their role, org and last use.
    List,
    /// Revoke a token by its id (from `list`).
    Revoke { id: Uuid },
}

pub async fn run(db: &DbArgs, cmd: ApiTokenCommand) -> anyhow::Result<()> {
    let pool = crate::serve::open_database(db).await?;
    match cmd {
        ApiTokenCommand::Create { name, role, org } => {
            let org = match org {
                None => None,
                Some(org_name) => {
                    let ids = sqlx::query_scalar!(
                        "SELECT id FROM orgs WHERE lower(name) = lower($1)",
                        org_name.trim()
                    )
                    .fetch_all(&pool)
                    .await?;
                    match ids.as_slice() {
                        [id] => Some(*id),
                        [] => bail!("no org is named {org_name:?}"),
                        _ => bail!("several orgs are named {org_name:?}"),
                    }
                }
            };
            let name = name.trim();
            if let Err(problem) =
                cockpit_web::pages::admin_tokens::check_new_token(&pool, name, role.as_str(), org)
                    .await
            {
                bail!("{problem}");
            }
            let token = cockpit_web::api::new_token();
            let id = cockpit_db::admin::create_api_token(
                &pool,
                "cli",
                name,
                &cockpit_web::auth::hash_token(&token),
                role,
                org,
                None,
            )
            .await
            .context("storing the token")?;
            println!("Created API token {name} ({role}), id {id}.");
            println!("Token (shown once): {token}");
        }
        ApiTokenCommand::List => {
            for t in cockpit_db::admin::api_tokens(&pool).await? {
                let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map_or_else(
                        || "never".to_owned(),
                        |t| t.format("%Y-%m-%d %H:%M").to_string(),
                    )
                };
                println!(
                    "{}  {:<24} {:<8} {:<20} last used {:<16} {}",
                    t.id,
                    t.name,
                    t.role,
                    t.org_name.as_deref().unwrap_or("every org"),
                    when(t.last_used_at),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        ApiTokenCommand::Revoke { id } => {
            if !cockpit_db::admin::revoke_api_token(&pool, "cli", id).await? {
                bail!("no active API token has the id {id}");
            }
            println!("Revoked API token {id}.");
        }
    }
    Ok(())
}
