//! `oauth-cockpit serve`.

use anyhow::Context as _;
use cockpit_db::{ConnectOptions, PgPool};
use cockpit_web::AppState;
use secrecy::ExposeSecret as _;

use crate::cli::{DbArgs, ServeArgs};

/// Reaches PostgreSQL (creating the database if needed) and applies migrations.
pub async fn open_database(db: &DbArgs) -> anyhow::Result<PgPool> {
    let options = ConnectOptions {
        attempts: db.db_connect_attempts,
        ..ConnectOptions::default()
    };
    let pool = cockpit_db::connect(&db.database_url, &options).await?;
    cockpit_db::migrate(&pool)
        .await
        .context("the database is reachable but its migrations could not be applied")?;
    Ok(pool)
}

pub async fn serve(db: &DbArgs, args: ServeArgs) -> anyhow::Result<()> {
    if args
        .master_key
        .as_ref()
        .is_none_or(|k| k.expose_secret().is_empty())
    {
        tracing::warn!("COCKPIT_MASTER_KEY is not set: orgs cannot be connected until it is");
    }
    let pool = open_database(db).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another process using it? set COCKPIT_LISTEN)",
                args.listen
            )
        })?;
    let public = args
        .public_url
        .map(|u| u.to_string())
        .unwrap_or_else(|| format!("http://{}", args.listen));
    tracing::info!(listen = %args.listen, public_url = %public, "serving");
    cockpit_web::serve(AppState { pool }, listener, cockpit_web::shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}
