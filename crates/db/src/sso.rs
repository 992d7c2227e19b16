//! Accounts linked to an identity at the single sign-on provider: the
//! provider's issuer and its subject for the person, which never change
//! (unlike an email address).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::accounts::Account;

pub async fn by_identity(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<Option<Account>> {
    sqlx::query_as!(
        Account,
        "SELECT id, email, display_name, password_hash, role, disabled_at, created_at
         FROM accounts WHERE sso_issuer = $1 AND sso_subject = $2",
        issuer,
        subject
    )
    .fetch_optional(db)
    .await
}

/// Links an account that has no identity yet; false if it already has one.
pub async fn link(
    db: impl PgExecutor<'_>,
    account: Uuid,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE accounts SET sso_issuer = $2, sso_subject = $3, updated_at = now()
         WHERE id = $1 AND sso_subject IS NULL",
        account,
        issuer,
        subject
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The (issuer, subject) an account is linked to.
pub async fn identity_of(
    db: impl PgExecutor<'_>,
    account: Uuid,
) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query!(
        "SELECT sso_issuer, sso_subject FROM accounts WHERE id = $1",
        account
    )
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|r| Some((r.sso_issuer?, r.sso_subject?))))
}
