//! User passwords: argon2id with the crate's default (OWASP-recommended) parameters: 19 MiB,
//! 2 passes, 1 lane (RFC 9106 §4's second recommended option, OWASP's minimum).
//!
//! Each verification allocates its 19 MiB afresh. glibc's malloc would keep such blocks in its
//! per-thread arenas once freed (its mmap threshold grows to the size of the largest freed
//! block), so a sign-in flood left the process at about 1 GiB for good;
//! [`return_large_allocations_to_the_os`] pins the threshold so they are mapped and unmapped
//! each time. Concurrency is bounded by the caller (`oauth::login`).

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Constant-time by construction (argon2's verifier compares digests in constant time).
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Makes allocations of 1 MiB and more come straight from the OS and go back to it when
/// freed (glibc `mallopt(M_MMAP_THRESHOLD)`, which also stops the threshold from growing).
/// Process-wide; `tessera serve` calls it once at start-up. Elsewhere than glibc, nothing.
pub fn return_large_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 1 << 20;
        // SAFETY: mallopt only changes allocator tuning; it is safe to call at any time and
        // returns 0 (ignored) if the value is refused.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        }
    }
}

/// A hash of a random password, verified against when the username does not exist, so that
/// a failed sign-in takes as long whether or not the user exists.
pub fn decoy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::tokens::secret::random_base62(32)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify_and_are_salted() {
        let a = super::hash("correct horse").unwrap();
        let b = super::hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(super::verify("correct horse", &a));
        assert!(!super::verify("wrong horse", &a));
        assert!(!super::verify("x", "not a hash"));
    }
}
