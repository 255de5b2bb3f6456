//! Remembered consent: which scopes a user approved for a client, per organization.

use diesel::prelude::*;

use super::schema::consents;
use super::{DbConn, StoreResult};

#[derive(Debug, Clone)]
pub struct Consent {
    pub org_id: i64,
    pub scopes: Vec<String>,
}

/// The user's remembered consents for a client, most recent first.
pub fn for_user_and_client(
    conn: &mut DbConn,
    user_id: i64,
    client_pk: i64,
) -> StoreResult<Vec<Consent>> {
    let rows: Vec<(i64, String)> = consents::table
        .filter(consents::user_id.eq(user_id))
        .filter(consents::client_id.eq(client_pk))
        .order(consents::updated_at.desc())
        .select((consents::org_id, consents::scope))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(org_id, scope)| Consent {
            org_id,
            scopes: scope.split_ascii_whitespace().map(str::to_string).collect(),
        })
        .collect())
}

/// Records an approval. Scopes accumulate: approving `b` after `a` remembers `a b`.
/// Call inside a transaction.
pub fn remember(
    conn: &mut DbConn,
    user_id: i64,
    client_pk: i64,
    org_id: i64,
    scopes: &[String],
) -> StoreResult<()> {
    // Two approvals at once (a double click, two tabs) take turns: otherwise both could read
    // "none" and the second insert fail, or both update and one lose the other's scopes.
    super::lock_entity(conn, "consent", &format!("{user_id}:{client_pk}:{org_id}"))?;
    let now = crate::clock::now();
    let key = consents::table
        .filter(consents::user_id.eq(user_id))
        .filter(consents::client_id.eq(client_pk))
        .filter(consents::org_id.eq(org_id));
    let existing: Option<String> = key.select(consents::scope).get_result(conn).optional()?;
    match existing {
        Some(previous) => {
            let mut all: Vec<String> = previous
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect();
            for s in scopes {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            diesel::update(key)
                .set((
                    consents::scope.eq(all.join(" ")),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(consents::table)
                .values((
                    consents::user_id.eq(user_id),
                    consents::client_id.eq(client_pk),
                    consents::org_id.eq(org_id),
                    consents::scope.eq(scopes.join(" ")),
                    consents::created_at.eq(now),
                    consents::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

pub fn forget(conn: &mut DbConn, user_id: i64, client_pk: i64) -> StoreResult<usize> {
    Ok(diesel::delete(
        consents::table
            .filter(consents::user_id.eq(user_id))
            .filter(consents::client_id.eq(client_pk)),
    )
    .execute(conn)?)
}

/// Forgets what `user_id` approved for any client in organization `org_id` (the user left it).
pub fn forget_in_org(conn: &mut DbConn, user_id: i64, org_id: i64) -> StoreResult<usize> {
    Ok(diesel::delete(
        consents::table
            .filter(consents::user_id.eq(user_id))
            .filter(consents::org_id.eq(org_id)),
    )
    .execute(conn)?)
}
