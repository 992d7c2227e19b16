//! Database access: the pool, the migrator and the query functions.
//!
//! Query functions are free functions over `impl PgExecutor<'_>` so the same
//! query runs on the pool or inside a caller's transaction.

pub mod accounts;
pub mod action_approvals;
pub mod actions;
pub mod admin;
pub mod admin_grants;
pub mod app_keys;
pub mod app_search;
pub mod audit;
mod connect;
pub mod copy;
pub mod eca_usage;
pub mod hunts;
pub mod incident_tasks;
pub mod incidents;
pub mod inventory;
pub mod ip_asn;
pub mod jobs;
pub mod log_archive;
pub mod notify;
pub mod orgs;
pub mod reviews;
pub mod sources;
pub mod sso;
mod stored_tokens;
pub mod sync;
pub mod watch;

pub use connect::{ConnectError, ConnectOptions, DbTarget, connect, migrate, readiness, target};
pub use sqlx::{PgPool, Postgres, Transaction};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Whether an error means the database could not be reached (as opposed to a
/// bad query). The web layer answers these with 503 and the pool recovers by
/// itself once the database is back.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            // A server that hangs up mid-handshake (stopping, or a proxy in
            // front of it losing its upstream) is unavailable, not broken.
            | sqlx::Error::Protocol(_)
    ) || matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")))
}
