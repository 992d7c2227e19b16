//! Everything that calls Salesforce on the cockpit's behalf: connecting orgs,
//! the database-backed token provider, the sync, the job runner, and the
//! delivery of notifications.

pub mod actions;
pub mod admin_grants;
pub mod app_keys;
pub mod connect;
pub mod deliver;
pub mod eca_usage;
mod error;
pub mod log_archive;
pub mod provider;
pub mod runner;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod watch;
pub mod window;

pub use error::WorkerError;
