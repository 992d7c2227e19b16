//! The web layer: router, pages, errors.

mod chart;
mod csv_export;
mod error;
mod filters;
mod layout;
pub mod pages;
mod router;
mod serve;
#[cfg(test)]
mod testutil;

pub use error::{ApiError, AppError};
pub use router::router;
pub use serve::{ServeConfig, serve, shutdown_signal};

use sqlx::PgPool;

/// Everything a handler may need, handed out through `State`.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
}

impl axum::extract::FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}
