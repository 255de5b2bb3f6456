//! Consents: forget a user's consent for a client and revoke the grants it led to.

use serde::Serialize;

use super::{AdminError, or_not_found};
use crate::store::audit::{self, Actor};
use crate::store::grants::{AuthorizationCode, Grant};
use crate::store::users::User;
use crate::store::{DbConn, consents, transaction};
use crate::validate;

#[derive(Debug, Serialize)]
pub(crate) struct RevokedConsent {
    pub user: String,
    pub client_id: String,
    pub consents_removed: usize,
    pub grants_revoked: usize,
}

/// Forgets what a user approved for a client and revokes every grant (so every refresh and
/// access token) the client holds for that user.
pub(crate) fn revoke(
    conn: &mut DbConn,
    actor: &Actor,
    username: &str,
    client_id: &str,
) -> Result<RevokedConsent, AdminError> {
    let username = validate::username(username)?;
    let user = or_not_found(User::find_by_username(conn, &username), || {
        format!("user {username:?}")
    })?;
    let client = super::clients::find(conn, client_id)?;
    transaction(conn, |conn| {
        // Codes first: an exchange racing this revocation then either loses its code or has
        // committed its grant before the grants are revoked.
        AuthorizationCode::void_unused(conn, user.id, client.id)?;
        let consents_removed = consents::forget(conn, user.id, client.id)?;
        let grants =
            Grant::revoke_for_user_and_client(conn, user.id, client.id, "consent revoked")?;
        audit::record(
            conn,
            Some(client.org_id),
            actor,
            "consent.revoke",
            Some(client_id),
            Some(&format!("user={username} grants_revoked={}", grants.len())),
        )?;
        Ok(RevokedConsent {
            user: username.clone(),
            client_id: client_id.to_string(),
            consents_removed,
            grants_revoked: grants.len(),
        })
    })
}
