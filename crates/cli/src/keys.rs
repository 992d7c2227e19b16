//! `oauth-cockpit keys generate|rotate`.

use anyhow::Context as _;
use clap::Subcommand;
use cockpit_domain::secret::{MasterKey, SecretField, SecretScope};
use secrecy::ExposeSecret as _;

use crate::cli::{DbArgs, KeyArgs};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random master key (base64 of 32 bytes).
    Generate,
    /// Re-seal every stored secret under the current COCKPIT_MASTER_KEY. Put the
    /// old key in COCKPIT_PREVIOUS_MASTER_KEYS. Safe to interrupt and run again:
    /// each secret is re-sealed in its own transaction and the run resumes with
    /// what is left.
    Rotate,
}

fn field(name: &str) -> Option<SecretField> {
    match name {
        "refresh_token" => Some(SecretField::RefreshToken),
        "client_secret" => Some(SecretField::ClientSecret),
        "private_key" => Some(SecretField::PrivateKey),
        _ => None,
    }
}

pub async fn run(db: &DbArgs, keys: &KeyArgs, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate => {
            println!("{}", MasterKey::generate_base64());
            Ok(())
        }
        KeysCommand::Rotate => {
            let keyring = keys.keyring()?;
            let pool = crate::serve::open_database(db).await?;
            let current = keyring.current_id();
            let mut done = 0u64;
            loop {
                let batch = cockpit_db::orgs::secrets_to_rotate(&pool, &current, 100).await?;
                if batch.is_empty() {
                    break;
                }
                for (org, name, sealed) in batch {
                    let f = field(&name).with_context(|| format!("unknown secret field {name}"))?;
                    let scope = SecretScope::org(org, f);
                    let plain = keyring
                        .open(scope, &sealed)
                        .with_context(|| format!("cannot open the {name} of org {org}; is its key in COCKPIT_PREVIOUS_MASTER_KEYS?"))?;
                    let resealed = keyring.seal(scope, plain.expose_secret());
                    cockpit_db::orgs::put_secret(&pool, org, &name, &resealed, &current).await?;
                    done += 1;
                }
            }
            // Notification channels: their URL and signing secret.
            loop {
                let batch = cockpit_db::notify::channels_to_rotate(&pool, &current, 100).await?;
                if batch.is_empty() {
                    break;
                }
                for (id, target, secret) in batch {
                    let record = id.to_string();
                    let scope = |field| cockpit_domain::notify::channel_scope(&record, field);
                    let reseal = |field, sealed: &[u8]| -> anyhow::Result<Vec<u8>> {
                        let plain = keyring.open(scope(field), sealed).with_context(|| {
                            format!("cannot open a secret of notification channel {id}; is its key in COCKPIT_PREVIOUS_MASTER_KEYS?")
                        })?;
                        Ok(keyring.seal(scope(field), plain.expose_secret()))
                    };
                    let target = reseal(SecretField::ChannelTarget, &target)?;
                    let secret = secret
                        .map(|s| reseal(SecretField::ChannelSecret, &s))
                        .transpose()?;
                    cockpit_db::notify::reseal_channel(&pool, id, &target, secret.as_deref())
                        .await?;
                    done += 1;
                }
            }
            println!(
                "{done} secret(s) re-sealed under key {current}. The previous key can now be retired."
            );
            Ok(())
        }
    }
}
