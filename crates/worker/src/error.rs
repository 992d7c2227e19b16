use cockpit_domain::secret::SecretError;

/// What can stop work on an org. Every message is fit to show on the org's
/// page: Salesforce errors carry no secrets, database errors are summarised.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Salesforce(#[from] cockpit_salesforce::Error),
    #[error("the cockpit's database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("no such org")]
    NotFound,
    #[error("another process is syncing this org right now")]
    Busy,
    #[error("{0}")]
    Invalid(String),
}

impl WorkerError {
    /// The org status this error calls for, if any.
    pub fn org_status(&self) -> Option<&'static str> {
        match self {
            WorkerError::Salesforce(e) if e.needs_reauthorization() => Some("needs_reauth"),
            WorkerError::Salesforce(
                cockpit_salesforce::Error::BudgetPaused { .. }
                | cockpit_salesforce::Error::RequestLimitExceeded { .. },
            ) => Some("paused_budget"),
            _ => None,
        }
    }
}
