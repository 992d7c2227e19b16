//! Start-up: reach Postgres with bounded retries, create the database when it
//! is missing, apply migrations, and tell whether the database is ready.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions as _, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::MIGRATOR;

/// Where the database is, without the password: safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTarget {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
}

impl std::fmt::Display for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "database \"{}\" on {}:{} as user \"{}\"",
            self.database, self.host, self.port, self.user
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    BadUrl(String),
    #[error(
        "Cannot reach PostgreSQL at {host}:{port} (database \"{database}\") after {attempts} attempts: {cause}. \
         Is PostgreSQL running and listening there? Start it (on Debian: \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; with Docker: \
         `docker compose up -d db`) or point DATABASE_URL at a running server, then try again.",
        host = .target.host, port = .target.port, database = .target.database
    )]
    Unreachable {
        target: DbTarget,
        attempts: u32,
        cause: String,
    },
    #[error("PostgreSQL at {}:{} refused the cockpit: {cause}", .target.host, .target.port)]
    Refused { target: DbTarget, cause: String },
    #[error("could not create {target}: {cause}")]
    CreateDatabase { target: DbTarget, cause: String },
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How hard to try at start-up.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_millis(250),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

fn parse(url: &str) -> Result<PgConnectOptions, ConnectError> {
    // The parse error text never contains the password; sqlx reports the part it failed on.
    PgConnectOptions::from_str(url).map_err(|e| ConnectError::BadUrl(e.to_string()))
}

fn target_of(opts: &PgConnectOptions) -> DbTarget {
    DbTarget {
        host: opts.get_host().to_owned(),
        port: opts.get_port(),
        database: opts.get_database().unwrap_or("postgres").to_owned(),
        user: opts.get_username().to_owned(),
    }
}

/// The printable target of a URL (no password), for messages.
pub fn target(url: &str) -> Result<DbTarget, ConnectError> {
    parse(url).map(|o| target_of(&o))
}

fn is_missing_database(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000"))
}

fn is_transient(err: &sqlx::Error) -> bool {
    crate::is_unavailable(err)
        // "the database system is starting up" / "shutting down"
        || matches!(err, sqlx::Error::Database(db) if db.code().as_deref().is_some_and(|c| c == "57P03"))
}

async fn create_database(opts: &PgConnectOptions, target: &DbTarget) -> Result<(), ConnectError> {
    let admin = opts.clone().database("postgres");
    let mut conn =
        PgConnection::connect_with(&admin)
            .await
            .map_err(|e| ConnectError::CreateDatabase {
                target: target.clone(),
                cause: e.to_string(),
            })?;
    // An identifier cannot be a bind parameter; quote it the way Postgres does.
    let quoted = format!("\"{}\"", target.database.replace('"', "\"\""));
    let sql = format!("CREATE DATABASE {quoted}");
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %target.database, "created database");
            Ok(())
        }
        // Another process created it between our check and now.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(ConnectError::CreateDatabase {
            target: target.clone(),
            cause: e.to_string(),
        }),
    }
}

/// Connects with bounded retries, creating the database if it is missing.
/// Does not migrate: call [`migrate`] after.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<PgPool, ConnectError> {
    let opts = parse(url)?.log_statements(tracing::log::LevelFilter::Trace);
    let target = target_of(&opts);
    let mut delay = options.first_delay;
    let mut last_cause = String::new();
    for attempt in 1..=options.attempts.max(1) {
        match PgConnection::connect_with(&opts).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(pool_options(options).connect_lazy_with(opts));
            }
            Err(e) if is_missing_database(&e) => {
                create_database(&opts, &target).await?;
                continue;
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(attempt, %target, error = %e, "database not reachable yet");
                last_cause = e.to_string();
            }
            Err(e) => {
                return Err(ConnectError::Refused {
                    target,
                    cause: e.to_string(),
                });
            }
        }
        if attempt < options.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    Err(ConnectError::Unreachable {
        target,
        attempts: options.attempts.max(1),
        cause: last_cause,
    })
}

/// How long a pooled connection may sit idle before it is checked on acquire.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

fn pool_options(options: &ConnectOptions) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        // A connection that sat idle is pinged before use, so one broken by a
        // database restart is replaced instead of failing a request. One in
        // steady use is not: a ping per query would be a round trip per query.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < IDLE_BEFORE_PING {
                    return Ok(true);
                }
                // A failed ping discards the connection; the pool opens another.
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
        .idle_timeout(Duration::from_secs(300))
}

/// Applies pending migrations. Safe to run from several processes at once:
/// sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), ConnectError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Ready means: the database answers and every embedded migration is applied.
pub async fn readiness(pool: &PgPool) -> Result<(), String> {
    let applied: Vec<(i64, Vec<u8>, bool)> =
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(pool)
            .await
            .map_err(|e| {
                if crate::is_unavailable(&e) {
                    "database unreachable".to_owned()
                } else {
                    e.to_string()
                }
            })?;
    for m in MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
    {
        let ok = applied
            .iter()
            .any(|(v, sum, success)| *v == m.version && *success && sum[..] == m.checksum[..]);
        if !ok {
            return Err(format!(
                "migration {} ({}) is not applied",
                m.version, m.description
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_never_contains_the_password() {
        let t = target("postgres://alice:s3cret-pw@db.example:6543/cockpit").unwrap();
        assert_eq!(
            t,
            DbTarget {
                host: "db.example".into(),
                port: 6543,
                database: "cockpit".into(),
                user: "alice".into()
            }
        );
        let msg = ConnectError::Unreachable {
            target: t,
            attempts: 3,
            cause: "connection refused".into(),
        }
        .to_string();
        assert!(msg.contains("db.example:6543"), "{msg}");
        assert!(msg.contains("\"cockpit\""), "{msg}");
        assert!(msg.contains("pg_ctlcluster"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[sqlx::test(migrations = false)]
    async fn migrate_then_ready(pool: PgPool) {
        assert!(
            readiness(&pool).await.is_err(),
            "not ready before migrations"
        );
        migrate(&pool).await.unwrap();
        readiness(&pool).await.unwrap();
    }
}
