//! JWT signing keys. The private key is stored as PKCS#8 DER; the public half is derived.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::{DbConn, StoreResult};

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    pub fn insert(conn: &mut DbConn, key: &StoredKey) -> StoreResult<()> {
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::kid.eq(&key.kid),
                signing_keys::alg.eq(&key.alg),
                signing_keys::private_key.eq(&key.private_key),
                signing_keys::created_at.eq(key.created_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Keys that still matter: the current one and those retired less than `keep` ago.
    /// Newest first, so the first unretired key is the one to sign with.
    pub fn load(conn: &mut DbConn, retired_after: NaiveDateTime) -> StoreResult<Vec<StoredKey>> {
        signing_keys::table
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::retired_at.gt(retired_after)),
            )
            .order(signing_keys::created_at.desc())
            .select(StoredKey::as_select())
            .load(conn)
            .map_err(Into::into)
    }

    pub fn retire_all(conn: &mut DbConn, at: NaiveDateTime) -> StoreResult<usize> {
        Ok(
            diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
                .set(signing_keys::retired_at.eq(Some(at)))
                .execute(conn)?,
        )
    }

    pub fn purge_retired(conn: &mut DbConn, retired_before: NaiveDateTime) -> StoreResult<usize> {
        Ok(
            diesel::delete(signing_keys::table.filter(signing_keys::retired_at.lt(retired_before)))
                .execute(conn)?,
        )
    }
}
