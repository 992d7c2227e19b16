//! Domain types of the cockpit. No I/O here.

pub mod ids;
pub mod indicators;
pub mod inventory;
pub mod notify;
pub mod password;
pub mod role;
pub mod secret;
