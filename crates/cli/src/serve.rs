//! `oauth-cockpit serve`: the web server and, unless told otherwise, the job
//! runner (scheduled syncs) in the same process.

use std::sync::Arc;

use anyhow::Context as _;
use cockpit_db::{ConnectOptions, PgPool};
use cockpit_domain::secret::Keyring;
use cockpit_web::AppState;
use tokio::sync::watch;

use crate::cli::{DbArgs, KeyArgs, ServeArgs};

/// Reaches PostgreSQL (creating the database if needed) and applies migrations.
pub async fn open_database(db: &DbArgs) -> anyhow::Result<PgPool> {
    open_database_url(db.url(), db.db_connect_attempts).await
}

pub async fn open_database_url(url: &str, attempts: u32) -> anyhow::Result<PgPool> {
    let options = ConnectOptions {
        attempts,
        ..ConnectOptions::default()
    };
    let pool = cockpit_db::connect(url, &options).await?;
    cockpit_db::migrate(&pool)
        .await
        .context("the database is reachable but its migrations could not be applied")?;
    // The indicator sets of published advisories, installed or brought up
    // to date with this version's files (every command that syncs matches
    // them against new logs).
    if let Err(e) = cockpit_db::hunts::install_shipped(&pool).await {
        tracing::warn!(error = %e, "shipped indicator sets not installed this time");
    }
    Ok(pool)
}

pub async fn serve(db: &DbArgs, keys: &KeyArgs, args: ServeArgs) -> anyhow::Result<()> {
    let keyring = match keys.keyring() {
        Ok(k) => Some(k),
        Err(e) if keys.master_key.is_none() => {
            tracing::warn!("{e:#}; syncs and connections are off until it is set");
            None
        }
        Err(e) => return Err(e),
    };
    let pool = open_database(db).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another process using it? set COCKPIT_LISTEN)",
                args.listen
            )
        })?;
    let two_person = args.two_person();
    let public = args
        .public_url
        .map(|u| u.to_string())
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let sso = args.sso.config()?;
    if sso.is_some() && keys.master_key.is_none() {
        anyhow::bail!("single sign-on needs COCKPIT_MASTER_KEY (it seals sign-ins in progress)");
    }
    run_server(
        pool,
        keyring.filter(|_| !args.no_worker),
        listener,
        Site {
            public_url: public,
            sso,
            page_cache: !args.no_page_cache,
            salesforce_hosts: args.allow_salesforce_hosts,
            two_person,
            worker_jobs: usize::from(args.worker_jobs),
            max_in_flight: usize::from(args.max_in_flight),
            log_retention_days: args.log_retention_days,
            notification_retention_days: args.notification_retention_days,
            outside_inventory_people: args.outside_inventory_people,
            siem_roots: match &args.siem_ca_file {
                Some(path) => cockpit_worker::deliver::load_roots(path)
                    .map_err(|e| anyhow::anyhow!("COCKPIT_SIEM_CA_FILE: {e}"))?,
                None => Vec::new(),
            },
            metrics_token: args.metrics_token,
        },
    )
    .await
}

/// How the web server behaves, from `serve`'s settings (or the demo's).
pub struct Site {
    /// The URL people use.
    pub public_url: String,
    pub sso: Option<cockpit_web::oidc::SsoConfig>,
    /// Keep page data in memory until it changes.
    pub page_cache: bool,
    /// Hosts besides Salesforce's own that "Connect an org" accepts.
    pub salesforce_hosts: Vec<String>,
    pub two_person: cockpit_web::TwoPersonRule,
    /// Jobs the worker runs at once.
    pub worker_jobs: usize,
    /// The most calls an action keeps in flight at one org.
    pub max_in_flight: usize,
    /// Days of Salesforce's logs the archive keeps.
    pub log_retention_days: u32,
    /// Days notifications and their delivery log are kept.
    pub notification_retention_days: u32,
    /// People holding an app outside the inventory at which it is reported
    /// when it reaches them.
    pub outside_inventory_people: u32,
    /// Certificate authorities for SIEM collectors (empty: the system's).
    pub siem_roots: Vec<cockpit_worker::deliver::Certificate>,
    /// The bearer token of /metrics (none: no metrics).
    pub metrics_token: Option<String>,
}

/// Serves (and works jobs when a keyring is given) until SIGTERM or Ctrl-C.
pub async fn run_server(
    pool: PgPool,
    keyring: Option<Arc<Keyring>>,
    listener: tokio::net::TcpListener,
    site: Site,
) -> anyhow::Result<()> {
    let Site {
        public_url,
        sso,
        page_cache,
        salesforce_hosts,
        two_person,
        worker_jobs,
        max_in_flight,
        log_retention_days,
        notification_retention_days,
        outside_inventory_people,
        siem_roots,
        metrics_token,
    } = site;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut state = AppState::new(pool.clone(), &public_url);
    if page_cache {
        state = state.with_page_cache();
    } else {
        tracing::info!("page cache off: every page reads the database");
    }
    state.keyring = keyring.clone();
    state.salesforce_hosts = salesforce_hosts;
    state.two_person = two_person;
    state.metrics_token = metrics_token.filter(|t| !t.is_empty());
    if let Some(config) = sso {
        tracing::info!(issuer = %config.issuer, "single sign-on is on");
        let sso = cockpit_web::oidc::Sso::new(config, &state.public_url)?;
        tokio::spawn({
            let sso = sso.clone();
            async move { sso.warm().await }
        });
        state.sso = Some(sso);
    }
    if cockpit_db::accounts::count(&pool).await? == 0 {
        let token = cockpit_web::auth::random_token();
        tracing::warn!(
            "no account exists yet: open {public_url}/setup and enter the setup token {token} to create the first \
             admin (or run `oauth-cockpit user add --email you@example.com --role admin`)"
        );
        state.setup_token = Some(token);
    }
    let wake = state.wake.clone();
    let runner = keyring.map(|keyring| {
        tokio::spawn(cockpit_worker::runner::run(
            pool.clone(),
            keyring,
            cockpit_worker::runner::RunnerConfig {
                jobs: worker_jobs,
                max_in_flight,
                sync: cockpit_worker::sync::SyncSettings {
                    log_retention_days: Some(log_retention_days as i32),
                    outside_inventory_people: i64::from(outside_inventory_people),
                    ..Default::default()
                },
                delivery: cockpit_worker::deliver::DeliverySettings {
                    public_url: Some(public_url.clone()),
                    keep_days: Some(notification_retention_days as i32),
                    siem_roots,
                    ..Default::default()
                },
                ..Default::default()
            },
            wake.clone(),
            stop_rx.clone(),
        ))
    });
    tracing::info!(listen = %listener.local_addr()?, public_url, worker = runner.is_some(), "serving");
    let shutdown = async move {
        cockpit_web::shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    cockpit_web::serve(state, listener, shutdown)
        .await
        .context("server failed")?;
    if let Some(runner) = runner {
        // The runner stops between jobs; a sync in flight is abandoned
        // safely (nothing is merged) and the next start runs it again.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), runner).await;
    }
    Ok(())
}
