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
    /// What was being done when the error came: the run's reason names it.
    #[error("while {phase}: {source}")]
    During {
        phase: &'static str,
        source: Box<WorkerError>,
    },
}

impl WorkerError {
    /// Names what was being done when `self` happened.
    pub fn during(phase: &'static str) -> impl FnOnce(WorkerError) -> WorkerError {
        move |source| match source {
            // The innermost phase is the most precise; keep it.
            e @ WorkerError::During { .. } => e,
            e => WorkerError::During {
                phase,
                source: Box::new(e),
            },
        }
    }

    /// The error itself, without the phase it happened in.
    pub fn cause(&self) -> &WorkerError {
        match self {
            WorkerError::During { source, .. } => source.cause(),
            e => e,
        }
    }

    /// The org status this error calls for, if any.
    pub fn org_status(&self) -> Option<&'static str> {
        match self.cause() {
            WorkerError::Salesforce(e) if e.needs_reauthorization() => Some("needs_reauth"),
            WorkerError::Salesforce(
                cockpit_salesforce::Error::BudgetPaused { .. }
                | cockpit_salesforce::Error::RequestLimitExceeded { .. },
            ) => Some("paused_budget"),
            _ => None,
        }
    }
}
