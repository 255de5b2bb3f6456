//! Users: create one with an argon2-hashed password and a role in an organization, list them;
//! unlock one locked out after failed sign-ins.

use serde::Serialize;

use super::{AdminError, or_conflict};
use crate::roles::Role;
use crate::store::audit::{self, Actor};
use crate::store::sign_in_failures;
use crate::store::users::User;
use crate::store::{DbConn, lock_entity, transaction};
use crate::{passwords, validate};

#[derive(Debug, Serialize)]
pub(crate) struct CreatedUser {
    pub id: i64,
    pub username: String,
    pub org: String,
    pub role: Role,
}

/// Creates a user as a member of one organization. The password is hashed before the
/// transaction opens (argon2 is deliberately slow) and never leaves this function.
pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    username: &str,
    org_slug: &str,
    role: Role,
    password: &str,
) -> Result<CreatedUser, AdminError> {
    let username = validate::username(username)?;
    validate::password(password)?;
    let org = super::orgs::find(conn, org_slug)?;
    let hash = passwords::hash(password)?;
    transaction(conn, |conn| {
        let user = or_conflict(User::create(conn, &username, &hash), || {
            format!("user {username:?} already exists")
        })?;
        User::add_membership(conn, user.id, org.id, role)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "user.create",
            Some(&username),
            Some(&format!("role={role}")),
        )?;
        Ok(CreatedUser {
            id: user.id,
            username: user.username,
            org: org.slug.clone(),
            role,
        })
    })
}

/// What `tessera user set-password` did.
#[derive(Debug, Serialize)]
pub(crate) struct PasswordSet {
    pub username: String,
    /// The user's sign-in sessions ended (the console's and the authorization pages').
    pub sessions_ended: usize,
}

/// An operator sets a user's password (a forgotten one; the user changes their own in the
/// console's Account page). The user's sessions end everywhere; audited `user.password_set` in
/// each of their organizations. The password never leaves this function.
pub(crate) fn set_password(
    conn: &mut DbConn,
    actor: &Actor,
    username: &str,
    password: &str,
) -> Result<PasswordSet, AdminError> {
    let username = validate::username(username)?;
    validate::password(password)?;
    let user = super::or_not_found(User::find_by_username(conn, &username), || {
        format!("user {username:?}")
    })?;
    let hash = passwords::hash(password)?;
    transaction(conn, |conn| {
        User::set_password_hash(conn, user.id, &hash)?;
        let sessions_ended = crate::store::sessions::Session::delete_for_user(conn, user.id)?;
        for org in User::memberships(conn, user.id)? {
            audit::record(
                conn,
                Some(org.org_id),
                actor,
                "user.password_set",
                Some(&username),
                Some(&format!("sessions_ended={sessions_ended}")),
            )?;
        }
        Ok(PasswordSet {
            username: username.clone(),
            sessions_ended,
        })
    })
}

/// What `tessera user unlock` found.
#[derive(Debug, Serialize)]
pub(crate) struct Unlocked {
    pub username: String,
    /// Whether sign-ins were being refused (waiting or locked) until now.
    pub was_locked: bool,
    /// The consecutive failed sign-ins forgotten.
    pub failures: i32,
}

/// Forgets `username`'s failed sign-ins, ending a wait or a lockout at once (NIST SP 800-63B
/// §5.2.2 lets the account's owner back in; here an operator does it). Audited as
/// `user.unlocked` in each of the user's organizations when it ended a refusal. An unknown
/// username is an error, and changes nothing.
pub(crate) fn unlock(
    conn: &mut DbConn,
    actor: &Actor,
    username: &str,
) -> Result<Unlocked, AdminError> {
    let username = validate::username(username)?;
    transaction(conn, |conn| {
        lock_entity(conn, "sign_in", &username)?;
        let before = sign_in_failures::clear(conn, &username)?;
        let user = super::or_not_found(User::find_by_username(conn, &username), || {
            format!("user {username:?}")
        })?;
        let was_locked = before
            .as_ref()
            .is_some_and(|f| f.refuses_at(crate::clock::now()).is_some());
        let failures = before.map_or(0, |f| f.failures);
        if was_locked {
            let detail = format!("{failures} consecutive failed sign-ins forgotten");
            for org in User::memberships(conn, user.id)? {
                audit::record(
                    conn,
                    Some(org.org_id),
                    actor,
                    "user.unlocked",
                    Some(&username),
                    Some(&detail),
                )?;
            }
        }
        Ok(Unlocked {
            username: username.clone(),
            was_locked,
            failures,
        })
    })
}
