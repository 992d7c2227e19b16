//! Local account passwords: argon2id hashes, and a policy that refuses short
//! and common passwords (zxcvbn's dictionaries and pattern matching, rather
//! than a hand-kept list).

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

pub const MIN_LENGTH: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("this password is too common or too easy to guess; {0}")]
    TooWeak(String),
    #[error("a password may not be longer than 1024 characters")]
    TooLong,
}

/// Checks a new password. `context` holds words the password must not lean
/// on (the email address, the person's name).
pub fn check_policy(password: &str, context: &[&str]) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if chars > 1024 {
        return Err(PasswordError::TooLong);
    }
    let estimate = zxcvbn::zxcvbn(password, context);
    if u8::from(estimate.score()) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "add more unrelated words".to_owned());
        return Err(PasswordError::TooWeak(hint));
    }
    Ok(())
}

/// An argon2id hash in PHC string form.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        // Fails only for parameters out of range, which the defaults are not.
        .expect("argon2id with default parameters")
        .to_string()
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the account does not exist, so that a
/// failed sign-in takes as long either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a password anyone has"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", &[]), Err(PasswordError::TooShort));
        assert!(matches!(
            check_policy("password1234", &[]),
            Err(PasswordError::TooWeak(_))
        ));
        assert!(matches!(
            check_policy("qwertyuiop12", &[]),
            Err(PasswordError::TooWeak(_))
        ));
        assert!(matches!(
            check_policy("alice.smith@acme.com", &["alice.smith@acme.com"]),
            Err(PasswordError::TooWeak(_))
        ));
        assert_eq!(check_policy("correct horse battery staple", &[]), Ok(()));
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery staple");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapler", &h));
        assert!(!verify("anything", "not a hash"));
    }
}
