//! `oauth-cockpit sync [--org NAME]`.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use clap::Args;
use cockpit_worker::sync::{SyncProgress, SyncSettings, sync_org};

use crate::cli::{DbArgs, KeyArgs};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync only this org (by its name in the cockpit); default: every org.
    #[arg(long)]
    pub org: Option<String>,
    /// Print where the time went and this process's peak memory use at the
    /// end (for benchmarks).
    #[arg(long, hide = true)]
    pub report_peak_rss: bool,
}

/// Peak resident memory of this process in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds this process has used, all threads, user and system (Linux:
/// /proc counts in USER_HZ, 100 a second on every Linux ABI).
pub fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

pub async fn run(db: &DbArgs, keys: &KeyArgs, args: SyncArgs) -> anyhow::Result<()> {
    let keyring = keys.keyring()?;
    let pool = crate::serve::open_database(db).await?;
    // A sync killed mid-way left its run "running"; nothing of it was applied.
    cockpit_db::sync::fail_abandoned_runs(&pool).await?;
    let orgs = match &args.org {
        Some(name) => {
            vec![
                cockpit_db::orgs::find_by_name(&pool, name)
                    .await?
                    .with_context(|| format!("no org named {name:?}"))?,
            ]
        }
        None => cockpit_db::orgs::list(&pool)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect(),
    };
    if orgs.is_empty() {
        bail!("no org is connected; connect one with `oauth-cockpit org add`");
    }
    let mut failed = 0;
    for id in orgs {
        let name = cockpit_db::orgs::get(&pool, id)
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        match sync_with_progress(&pool, keyring.clone(), id, &name, "cli").await {
            Ok(o) => {
                println!(
                    "{name}: {} users, {} apps, {} tokens ({} parts), {} API calls; {} rows written, {} events",
                    o.users,
                    o.apps,
                    o.tokens,
                    o.token_parts,
                    o.api_calls,
                    o.merged.rows_written(),
                    o.merged.events
                );
                if args.report_peak_rss {
                    let phases: Vec<String> = o
                        .phases
                        .iter()
                        .map(|(phase, secs)| format!("{phase} {secs:.2} s"))
                        .collect();
                    println!("phases: {}", phases.join(", "));
                    println!("summaries: {} apps recounted", o.merged.apps_recounted);
                }
            }
            Err(e) => {
                failed += 1;
                println!("{name}: FAILED: {e}");
            }
        }
    }
    if args.report_peak_rss
        && let Some(kib) = peak_rss_kib()
    {
        println!("peak RSS: {} KiB", kib);
        if let Some(cpu) = cpu_secs() {
            println!("CPU: {cpu:.1} s");
        }
    }
    if failed > 0 {
        bail!("{failed} sync(s) failed; the previous data of those orgs is unchanged");
    }
    Ok(())
}

/// Runs a sync while drawing its progress on the terminal.
pub async fn sync_with_progress(
    pool: &cockpit_db::PgPool,
    keyring: std::sync::Arc<cockpit_domain::secret::Keyring>,
    org: uuid::Uuid,
    name: &str,
    trigger: &str,
) -> Result<cockpit_worker::sync::SyncOutcome, cockpit_worker::WorkerError> {
    let (tx, mut rx) = tokio::sync::watch::channel(SyncProgress::default());
    let settings = SyncSettings {
        progress: Some(tx),
        ..SyncSettings::default()
    };
    let started = std::time::Instant::now();
    let name_owned = name.to_owned();
    let draw = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let p = rx.borrow_and_update().clone();
            let of = p
                .tokens_expected
                .map(|e| format!(" of {e}"))
                .unwrap_or_default();
            eprint!(
                "\r  syncing {name_owned}: {:<7} {} users, {} tokens{of}  ({:.0}s)   ",
                p.phase,
                p.users,
                p.tokens,
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
        eprintln!();
    });
    let result = sync_org(pool, keyring, org, trigger, &settings).await;
    drop(settings);
    let _ = draw.await;
    result
}
