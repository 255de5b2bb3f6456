//! Users: create one with an argon2-hashed password and a role in an organization, list them.

use serde::Serialize;

use super::{AdminError, or_conflict};
use crate::roles::Role;
use crate::store::audit::{self, Actor};
use crate::store::users::User;
use crate::store::{DbConn, transaction};
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
