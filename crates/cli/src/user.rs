//! `oauth-cockpit user add|list|disable|enable`.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use cockpit_db::audit::{self, NewEntry};
use cockpit_domain::{password, role::Role};

use crate::cli::DbArgs;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local account. The password is read from standard input
    /// (--password-stdin) or generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        /// viewer (managers: pages, reports, audit), analyst (also exports,
        /// inventory, reviews) or admin (also revoke, block, orgs, accounts).
        #[arg(long)]
        role: Role,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
    },
}

/// A passphrase of five words from zxcvbn-unrelated random letters: long,
/// and easy to type once.
pub fn generate_password() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub async fn run(db: &DbArgs, cmd: UserCommand) -> anyhow::Result<()> {
    let pool = crate::serve::open_database(db).await?;
    match cmd {
        UserCommand::Add {
            email,
            role,
            password_stdin,
        } => {
            let email = email.trim().to_owned();
            if !email.contains('@') {
                bail!("{email:?} is not an email address");
            }
            if cockpit_db::accounts::by_email(&pool, &email)
                .await?
                .is_some()
            {
                bail!("an account for {email} exists already");
            }
            let (pw, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from standard input")?;
                (s.trim_end_matches(['\n', '\r']).to_owned(), false)
            } else {
                (generate_password(), true)
            };
            password::check_policy(&pw, &[&email])?;
            let hash = password::hash(&pw);
            let mut tx = pool.begin().await?;
            cockpit_db::accounts::create(&mut *tx, &email, None, Some(&hash), Some(role)).await?;
            audit::append(
                &mut tx,
                &NewEntry {
                    actor: "cli",
                    action: "account.created",
                    org_id: None,
                    target: serde_json::json!({ "email": email, "role": role.as_str() }),
                    reason: None,
                    outcome: Some("succeeded"),
                    detail: serde_json::json!({}),
                },
            )
            .await?;
            tx.commit().await?;
            println!("Created {email} ({role}).");
            if generated {
                println!("Password (shown once): {pw}");
            }
        }
        UserCommand::List => {
            for a in cockpit_db::accounts::list(&pool).await? {
                println!(
                    "{:<40} {:<8} {}",
                    a.email,
                    a.role.as_deref().unwrap_or("per-org"),
                    if a.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
        UserCommand::Disable { email } => set_disabled(&pool, &email, true).await?,
        UserCommand::Enable { email } => set_disabled(&pool, &email, false).await?,
    }
    Ok(())
}

async fn set_disabled(
    pool: &cockpit_db::PgPool,
    email: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let account = cockpit_db::accounts::by_email(pool, email)
        .await?
        .with_context(|| format!("no account {email}"))?;
    cockpit_db::accounts::set_disabled(pool, account.id, disabled).await?;
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        &NewEntry {
            actor: "cli",
            action: if disabled {
                "account.disabled"
            } else {
                "account.enabled"
            },
            org_id: None,
            target: serde_json::json!({ "email": account.email }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    println!(
        "{} {}.",
        account.email,
        if disabled {
            "disabled; its sessions are ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}
