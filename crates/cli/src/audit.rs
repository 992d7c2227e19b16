//! `oauth-cockpit audit verify`.

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::cli::DbArgs;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; report any edited, removed or reordered
    /// entry. Give the head you recorded earlier to also catch entries cut
    /// off the end.
    Verify {
        /// `SEQ:HASH` as shown on the audit page or printed by an earlier verify.
        #[arg(long)]
        head: Option<String>,
    },
}

pub async fn run(db: &DbArgs, cmd: AuditCommand) -> anyhow::Result<()> {
    let pool = crate::serve::open_database(db).await?;
    match cmd {
        AuditCommand::Verify { head } => {
            let expected = match &head {
                Some(h) => {
                    let (seq, hash) = h.split_once(':').context("--head is SEQ:HASH")?;
                    Some((
                        seq.parse::<i64>().context("--head SEQ is a number")?,
                        hash.to_owned(),
                    ))
                }
                None => None,
            };
            let v =
                cockpit_db::audit::verify(&pool, expected.as_ref().map(|(s, h)| (*s, h.as_str())))
                    .await?;
            for (seq, problem) in &v.problems {
                println!("entry {seq}: {problem}");
            }
            match &v.head {
                Some((seq, hash)) => println!("{} entries; head {seq}:{hash}", v.entries),
                None => println!("the audit log is empty"),
            }
            if !v.problems.is_empty() {
                bail!(
                    "the audit log does not verify: {} problem(s)",
                    v.problems.len()
                );
            }
            println!("OK: the chain is intact.");
        }
    }
    Ok(())
}
