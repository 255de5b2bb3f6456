//! Access-token signing keys over time: loading them from the store into the signer, re-reading
//! them after a rotation made elsewhere, and rotating.
//!
//! This sits above both leaves: [`crate::store::keys`] persists key rows, [`crate::tokens::jwt`]
//! signs and verifies with key material and never touches storage.

use std::time::Duration;

use thiserror::Error;

use crate::store::keys::StoredKey;
use crate::store::{DbConn, StoreError, transaction};
use crate::tokens::jwt::{AccessTokenSigner, JwtError, KeyMaterial, SigningAlg};
use crate::{clock, duration};

#[derive(Debug, Error)]
pub enum KeyError {
    #[error(transparent)]
    Key(#[from] JwtError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Keys retired longer ago than a token lifetime (plus a margin) verify nothing still alive.
fn retired_after(access_token_ttl: Duration) -> chrono::NaiveDateTime {
    clock::now() - duration::to_chrono(access_token_ttl) - chrono::TimeDelta::minutes(5)
}

/// The keys that still matter, newest first: the current one and those that may have signed a
/// token that has not expired yet.
pub(crate) fn in_force(
    conn: &mut DbConn,
    access_token_ttl: Duration,
) -> Result<Vec<StoredKey>, StoreError> {
    StoredKey::load(conn, retired_after(access_token_ttl))
}

/// Keys retired long enough ago may go (housekeeping).
pub(crate) fn purge_retired(
    conn: &mut DbConn,
    access_token_ttl: Duration,
) -> Result<usize, StoreError> {
    StoredKey::purge_retired(conn, retired_after(access_token_ttl))
}

fn material(stored: &[StoredKey]) -> Vec<KeyMaterial<'_>> {
    stored
        .iter()
        .map(|k| KeyMaterial {
            kid: &k.kid,
            alg: &k.alg,
            pkcs8: &k.private_key,
            retired: k.retired_at.is_some(),
        })
        .collect()
}

/// The signer for `tessera serve`, creating the first key (of `alg`) on a fresh database.
pub(crate) fn load_signer(
    conn: &mut DbConn,
    alg: SigningAlg,
    issuer: &str,
    audience: &str,
    ttl: Duration,
) -> Result<AccessTokenSigner, KeyError> {
    let mut stored = in_force(conn, ttl)?;
    if !stored.iter().any(|k| k.retired_at.is_none()) {
        tracing::info!(
            alg = alg.as_str(),
            "generating the first access-token signing key"
        );
        rotate(conn, alg)?;
        stored = in_force(conn, ttl)?;
    }
    Ok(AccessTokenSigner::new(
        &material(&stored),
        issuer,
        audience,
        ttl,
    )?)
}

/// Re-reads the keys into `signer`, so that a rotation made by the CLI or another instance
/// takes effect here.
pub(crate) fn reload(conn: &mut DbConn, signer: &AccessTokenSigner) -> Result<(), KeyError> {
    let stored = in_force(conn, signer.ttl())?;
    signer.replace_keys(&material(&stored))?;
    Ok(())
}

/// Retires the current key and creates a new one of `alg`, in one transaction; returns its
/// `kid`.
pub(crate) fn rotate(conn: &mut DbConn, alg: SigningAlg) -> Result<String, KeyError> {
    let pkcs8 = alg.generate_pkcs8()?;
    let now = clock::now();
    let kid = format!(
        "{}-{}",
        now.format("%Y%m%d"),
        crate::tokens::secret::random_base62(8)
    );
    transaction(conn, |conn| -> Result<(), StoreError> {
        // Concurrent rotations take turns: afterwards exactly one key signs.
        crate::store::lock_entity(conn, "signing_keys", "current")?;
        StoredKey::retire_all(conn, now)?;
        StoredKey::insert(
            conn,
            &StoredKey {
                kid: kid.clone(),
                alg: alg.as_str().to_string(),
                private_key: pkcs8,
                created_at: now,
                retired_at: None,
            },
        )
    })?;
    Ok(kid)
}
