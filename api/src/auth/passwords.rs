//! Argon2id password hashing.
//!
//! Parameters follow the OWASP Password Storage Cheat Sheet's first argon2id option:
//! m = 19 MiB, t = 2, p = 1. A hash takes tens of milliseconds of CPU and 19 MiB of
//! memory, so it runs on the blocking pool (never on an async worker) and a semaphore
//! bounds how many run at once: a login flood queues instead of exhausting memory.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{DomainError, DomainResult};

/// Longest password anyone may set: long passphrases welcome, argon2's input bounded.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A new password must be `min_chars` to [`MAX_PASSWORD_CHARS`] characters; `field`
/// names the argument in the error.
pub fn check_length(password: &str, field: &str, min_chars: usize) -> DomainResult<()> {
    let chars = password.chars().count();
    if !(min_chars..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(DomainError::bad_input(
            field,
            format!("must be {min_chars} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The 30,000 most common passwords, lower-cased, one per line: the "passwords"
/// frequency list of zxcvbn (Dropbox, MIT licence; compiled from leaked password
/// sets), as shipped in the `zxcvbn` 4.5.0 package. ASVS V6.2.4 and NIST SP 800-63B
/// both ask that a new password be checked against such a list.
static COMMON_PASSWORDS: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

/// How many passwords [`is_common`] knows.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// Whether `password` is on the common-passwords list, in any letter case.
pub fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// Shared by every request: the bound on concurrent hashing.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: OWASP's recommended minimum for argon2id, and the
    // crate's defaults.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// A real hash of a random password. Verifying against it when an email is unknown
/// makes "no such user" take as long as "wrong password", so timing does not reveal
/// which emails have accounts.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).ok()?;
    hash_blocking(&base64_secret(&secret)).ok()
});

fn base64_secret(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_blocking(password: &str) -> DomainResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(DomainError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(DomainError::internal)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(DomainError::internal)
}

fn verify_blocking(password: &str, phc: &str) -> DomainResult<bool> {
    let parsed = PasswordHash::new(phc).map_err(DomainError::internal)?;
    match argon2().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(other) => Err(DomainError::internal(other)),
    }
}

impl Passwords {
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: &str) -> DomainResult<String> {
        let password = password.to_owned();
        self.run(move || hash_blocking(&password)).await
    }

    /// Checks `password` against a stored PHC string.
    pub async fn verify(&self, password: &str, phc: &str) -> DomainResult<bool> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move || verify_blocking(&password, &phc)).await
    }

    /// Spends the same work as `verify` and always fails; for unknown emails.
    pub async fn verify_dummy(&self, password: &str) -> DomainResult<bool> {
        let password = password.to_owned();
        self.run(move || {
            let dummy = DUMMY_HASH
                .as_deref()
                .ok_or_else(|| DomainError::internal(std::io::Error::other("no dummy hash")))?;
            verify_blocking(&password, dummy).map(|_| false)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> DomainResult<T> + Send + 'static,
    ) -> DomainResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(DomainError::internal)?;
        tokio::task::spawn_blocking(work).await?
    }
}
