//! Argon2id password hashing.
//!
//! Parameters follow the OWASP Password Storage Cheat Sheet's first argon2id option:
//! m = 19 MiB, t = 2, p = 1. A hash takes tens of milliseconds of CPU and 19 MiB of
//! memory, so it runs on the blocking pool (never on an async worker) and a semaphore
//! bounds how many run at once: a login flood queues instead of exhausting memory.
//!
//! The 19 MiB are allocated once per permit and reused. Left to the crate, every hash
//! allocates and frees its own block; glibc then raises its mmap threshold past that
//! size and keeps the freed blocks in per-thread arenas, and the process grew from
//! 26 MB to 860 MB in four seconds of registrations (the load test; with
//! `MALLOC_MMAP_THRESHOLD_` fixed it stayed at 44 MB). Reusing the blocks keeps the
//! hashing memory at permits x 19 MiB, however long the server runs.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Shared by every request: the bound on concurrent hashing, and the memory each
/// hash in progress works in.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// At most one set of blocks per permit: a hash takes one, and gives it back.
    memory: Arc<std::sync::Mutex<Vec<Blocks>>>,
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

/// Memory for one hash: `Params::DEFAULT.block_count()` blocks of 1 KiB.
type Blocks = Vec<Block>;

fn fresh_blocks(params: &Params) -> Blocks {
    vec![Block::default(); params.block_count()]
}

fn hash_blocking(password: &str) -> DomainResult<String> {
    hash_with(password, &mut fresh_blocks(&Params::DEFAULT))
}

/// Hashes into a PHC string with the caller's memory (what the crate's
/// `hash_password` does, minus its allocation).
fn hash_with(password: &str, blocks: &mut Blocks) -> DomainResult<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(DomainError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(DomainError::internal)?;
    let mut salt_bytes = [0u8; 16];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(DomainError::internal)?;
    let hasher = argon2();
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *blocks)
            .map_err(password_hash::Error::from)
    })
    .map_err(DomainError::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(hasher.params()).map_err(DomainError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string with the caller's memory. A hash made with
/// other parameters (larger memory, say, after a policy change) gets memory of its
/// own. The comparison is `Output`'s, which takes constant time.
fn verify_with(password: &str, phc: &str, blocks: &mut Blocks) -> DomainResult<bool> {
    let parsed = PasswordHash::new(phc).map_err(DomainError::internal)?;
    let expected = parsed
        .hash
        .ok_or_else(|| DomainError::internal(password_hash::Error::Password))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(DomainError::internal)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(DomainError::internal)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(DomainError::internal)?;
    let salt = parsed.salt.ok_or_else(|| {
        DomainError::internal(password_hash::Error::SaltInvalid(
            password_hash::errors::InvalidValue::Malformed,
        ))
    })?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(DomainError::internal)?;
    let mut own;
    let memory = if blocks.len() == params.block_count() {
        blocks
    } else {
        own = fresh_blocks(&params);
        &mut own
    };
    let hasher = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *memory)
            .map_err(password_hash::Error::from)
    })
    .map_err(DomainError::internal)?;
    Ok(computed == expected)
}

impl Passwords {
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            memory: Arc::default(),
        }
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: &str) -> DomainResult<String> {
        let password = password.to_owned();
        self.run(move |blocks| hash_with(&password, blocks)).await
    }

    /// Checks `password` against a stored PHC string.
    pub async fn verify(&self, password: &str, phc: &str) -> DomainResult<bool> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move |blocks| verify_with(&password, &phc, blocks))
            .await
    }

    /// Spends the same work as `verify` and always fails; for unknown emails.
    pub async fn verify_dummy(&self, password: &str) -> DomainResult<bool> {
        let password = password.to_owned();
        self.run(move |blocks| {
            let dummy = DUMMY_HASH
                .as_deref()
                .ok_or_else(|| DomainError::internal(std::io::Error::other("no dummy hash")))?;
            verify_with(&password, dummy, blocks).map(|_| false)
        })
        .await
    }

    /// Runs `work` on the blocking pool under a permit, with a set of blocks taken
    /// from the shared memory (made on first use) and returned afterwards.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Blocks) -> DomainResult<T> + Send + 'static,
    ) -> DomainResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(DomainError::internal)?;
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = memory
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let mut blocks = taken.unwrap_or_else(|| fresh_blocks(&Params::DEFAULT));
            let result = work(&mut blocks);
            memory
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(blocks);
            result
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    /// Our hashing with reused memory and the crate's own API agree both ways.
    #[test]
    fn hashes_with_reused_memory_are_standard_argon2id() {
        let mut blocks = fresh_blocks(&Params::DEFAULT);
        let ours = hash_with("a fine password", &mut blocks).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2()
                .verify_password(b"a fine password", &parsed)
                .is_ok()
        );
        assert!(argon2().verify_password(b"another one", &parsed).is_err());

        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = argon2()
            .hash_password(b"a fine password", &salt)
            .unwrap()
            .to_string();
        // The same blocks, used again: stale contents must not matter.
        assert!(verify_with("a fine password", &theirs, &mut blocks).unwrap());
        assert!(!verify_with("a fine passworD", &theirs, &mut blocks).unwrap());
        // Other parameters get memory of their own.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"x password", &salt)
        .unwrap()
        .to_string();
        assert!(verify_with("x password", &small, &mut blocks).unwrap());
    }
}
