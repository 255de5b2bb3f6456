//! Members of an organization: list them; add an existing user; create a user and add them;
//! change a member's role; remove a member — shared by the CLI, the management API and the
//! console.
//!
//! The rules, checked here for every caller:
//! - the acting role must be `admin` or `owner` ([`AdminError::Forbidden`] otherwise);
//! - only an `owner` may grant the `owner` role, or change or remove an owner;
//! - an organization always keeps at least one owner: the last one can be neither demoted nor
//!   removed ([`AdminError::Conflict`]).
//!
//! Every change runs in one transaction that first takes the organization's member lock
//! (`store::lock_entity(…, "members-of", org)`): on PostgreSQL under READ COMMITTED two owners
//! demoting each other at once take turns, and the second then reads one owner left (and its
//! own role as it is now) and is refused. SQLite serialises every write already.
//!
//! Removing a member revokes, in the same transaction, their OAuth grants bound to the
//! organization (recorded in the revocation feed, so no instance serves their access tokens once
//! the caller's `Db::run` returns), voids their unused authorization codes there and forgets
//! their consents there; every console and API request checks the membership, so their sessions
//! reach the organization no more. Integrations they created keep working; listings mark them
//! "created by a former member" (`integrations::IntegrationView::created_by_former_member`).
//!
//! Audit events: `member.added`, `member.created`, `member.role_changed` (detail `from=… to=…`),
//! `member.removed`; the target is the username. A password is never audited or logged.

use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminError, or_conflict, or_not_found};
use crate::roles::Role;
use crate::store::audit::{self, Actor};
use crate::store::grants::{AuthorizationCode, Grant};
use crate::store::orgs::Organization;
use crate::store::users::{self, Member, User};
use crate::store::{DbConn, consents, lock_entity, transaction};
use crate::{passwords, validate};

/// An organization's members, by username.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberList {
    pub members: Vec<Member>,
}

/// A user created as a member: the member, and the initial password — shown only in this
/// answer, when it was generated (`null` never appears: absent when the password was given).
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedMember {
    #[serde(flatten)]
    pub member: Member,
    /// The generated initial password (20 base62 characters); shown once, never stored in
    /// plain text, logged or audited. Absent when the caller gave the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
}

impl std::fmt::Debug for CreatedMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedMember")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// What removing a member did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RemovedMember {
    pub username: String,
    /// The role they had.
    #[schema(value_type = String, example = "member")]
    pub role: Role,
    /// Their OAuth grants bound to the organization, revoked now (every refresh and access
    /// token of them stops working before the answer).
    pub grants_revoked: usize,
    /// Unused authorization codes of theirs there, voided.
    pub codes_voided: usize,
    /// Remembered consents of theirs there, forgotten.
    pub consents_forgotten: usize,
}

/// A new user's password, hashed before any connection is taken (argon2 is deliberately slow).
pub(crate) struct InitialPassword {
    /// The generated password, to be shown once; `None` when it was given.
    generated: Option<String>,
    hash: String,
}

/// Hashes `given`, or a generated password (20 base62 characters, like the first-run admin's)
/// when `None`. Run it on the blocking pool without a connection held. An invalid given
/// password is [`AdminError::Invalid`].
pub(crate) fn initial_password(given: Option<String>) -> Result<InitialPassword, AdminError> {
    let generated = given.is_none();
    let password = given.unwrap_or_else(|| crate::tokens::secret::random_base62(20));
    validate::password(&password)?;
    let hash = passwords::hash(&password)?;
    Ok(InitialPassword {
        generated: generated.then_some(password),
        hash,
    })
}

/// The organization's members, by username.
pub(crate) fn list(conn: &mut DbConn, org: &Organization) -> Result<MemberList, AdminError> {
    Ok(MemberList {
        members: users::members(conn, org.id)?,
    })
}

/// One member; [`AdminError::NotFound`] when `username` is not a member of `org`.
pub(crate) fn show(
    conn: &mut DbConn,
    org: &Organization,
    username: &str,
) -> Result<Member, AdminError> {
    let username = validate::username(username)?;
    find_member(conn, org, &username)
}

fn find_member(
    conn: &mut DbConn,
    org: &Organization,
    username: &str,
) -> Result<Member, AdminError> {
    users::member(conn, org.id, username)?
        .ok_or_else(|| AdminError::NotFound(format!("member {username:?} of {}", org.slug)))
}

/// The role the caller acts with now, inside the member lock: a signed-in user's role as it is
/// at this moment (a concurrent change may have lowered it), else `acting_role` (an integration
/// token, or the operator CLI acting as [`Role::Owner`]). Refuses anyone below `admin`.
fn acting_role_now(
    conn: &mut DbConn,
    org: &Organization,
    actor: &Actor,
    acting_role: Role,
) -> Result<Role, AdminError> {
    let role = match actor.user_id {
        Some(user_id) => User::role_in(conn, user_id, org.id)?.ok_or_else(|| {
            AdminError::Forbidden(format!("you are not a member of {}", org.slug))
        })?,
        None => acting_role,
    };
    if !role.allows(Role::Admin) {
        return Err(AdminError::Forbidden(format!(
            "managing members needs the role admin or higher in {}",
            org.slug
        )));
    }
    Ok(role)
}

fn owner_only(acting: Role, what: &str) -> Result<(), AdminError> {
    if acting == Role::Owner {
        Ok(())
    } else {
        Err(AdminError::Forbidden(format!("only an owner may {what}")))
    }
}

/// Refuses when `member` is the organization's last owner and is about to stop being one.
fn keeps_an_owner(
    conn: &mut DbConn,
    org: &Organization,
    member: &Member,
) -> Result<(), AdminError> {
    if member.role == Role::Owner && users::count_owners(conn, org.id)? <= 1 {
        return Err(AdminError::Conflict(format!(
            "{} is the last owner of {}: make another member owner first",
            member.username, org.slug
        )));
    }
    Ok(())
}

/// Adds the existing user `username` to `org` with `role`. [`AdminError::NotFound`] for an
/// unknown user, [`AdminError::Conflict`] when they are a member already,
/// [`AdminError::Forbidden`] when the caller may not grant `role`.
pub(crate) fn add(
    conn: &mut DbConn,
    actor: &Actor,
    acting_role: Role,
    org: &Organization,
    username: &str,
    role: Role,
) -> Result<Member, AdminError> {
    let username = validate::username(username)?;
    transaction(conn, |conn| {
        lock_entity(conn, "members-of", &org.id.to_string())?;
        let acting = acting_role_now(conn, org, actor, acting_role)?;
        if role == Role::Owner {
            owner_only(acting, "grant the owner role")?;
        }
        let user = or_not_found(User::find_by_username(conn, &username), || {
            format!("user {username:?}")
        })?;
        if User::role_in(conn, user.id, org.id)?.is_some() {
            return Err(AdminError::Conflict(format!(
                "{username} is a member of {} already",
                org.slug
            )));
        }
        User::add_membership(conn, user.id, org.id, role)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "member.added",
            Some(&username),
            Some(&format!("role={role}")),
        )?;
        find_member(conn, org, &username)
    })
}

/// Creates the user `username` with `password` (from [`initial_password`]) and adds them to
/// `org` with `role`. [`AdminError::Conflict`] when the username is taken (by anyone: add an
/// existing user with [`add`]).
pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    acting_role: Role,
    org: &Organization,
    username: &str,
    role: Role,
    password: InitialPassword,
) -> Result<CreatedMember, AdminError> {
    let username = validate::username(username)?;
    let member = transaction(conn, |conn| {
        lock_entity(conn, "members-of", &org.id.to_string())?;
        let acting = acting_role_now(conn, org, actor, acting_role)?;
        if role == Role::Owner {
            owner_only(acting, "grant the owner role")?;
        }
        let user = or_conflict(User::create(conn, &username, &password.hash), || {
            format!("user {username:?} already exists (add them instead)")
        })?;
        User::add_membership(conn, user.id, org.id, role)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "member.created",
            Some(&username),
            Some(&format!("role={role}")),
        )?;
        find_member(conn, org, &username)
    })?;
    Ok(CreatedMember {
        member,
        initial_password: password.generated,
    })
}

/// Changes `username`'s role in `org`. Setting the role they have already changes nothing and
/// records nothing.
pub(crate) fn set_role(
    conn: &mut DbConn,
    actor: &Actor,
    acting_role: Role,
    org: &Organization,
    username: &str,
    role: Role,
) -> Result<Member, AdminError> {
    let username = validate::username(username)?;
    transaction(conn, |conn| {
        lock_entity(conn, "members-of", &org.id.to_string())?;
        let acting = acting_role_now(conn, org, actor, acting_role)?;
        let member = find_member(conn, org, &username)?;
        if member.role == role {
            return Ok(member);
        }
        if member.role == Role::Owner {
            owner_only(acting, "change an owner's role")?;
            keeps_an_owner(conn, org, &member)?;
        }
        if role == Role::Owner {
            owner_only(acting, "grant the owner role")?;
        }
        User::set_role(conn, member.user_id, org.id, role)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "member.role_changed",
            Some(&username),
            Some(&format!("from={} to={role}", member.role)),
        )?;
        find_member(conn, org, &username)
    })
}

/// Removes `username` from `org`: the membership, their OAuth grants bound to it (revoked and
/// recorded in the revocation feed), their unused codes and consents there, and the audit
/// event — in one transaction.
pub(crate) fn remove(
    conn: &mut DbConn,
    actor: &Actor,
    acting_role: Role,
    org: &Organization,
    username: &str,
) -> Result<RemovedMember, AdminError> {
    let username = validate::username(username)?;
    transaction(conn, |conn| {
        lock_entity(conn, "members-of", &org.id.to_string())?;
        let acting = acting_role_now(conn, org, actor, acting_role)?;
        let member = find_member(conn, org, &username)?;
        if member.role == Role::Owner {
            owner_only(acting, "remove an owner")?;
            keeps_an_owner(conn, org, &member)?;
        }
        User::remove_membership(conn, member.user_id, org.id)?;
        // Codes first: an exchange racing this removal then either loses its code or has
        // committed its grant before the grants are revoked (as for a revoked consent).
        let codes_voided = AuthorizationCode::void_unused_in_org(conn, member.user_id, org.id)?;
        let consents_forgotten = consents::forget_in_org(conn, member.user_id, org.id)?;
        let grants = Grant::revoke_for_user_in_org(conn, member.user_id, org.id, "member removed")?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "member.removed",
            Some(&username),
            Some(&format!(
                "role={} grants_revoked={}",
                member.role,
                grants.len()
            )),
        )?;
        Ok(RemovedMember {
            username: username.clone(),
            role: member.role,
            grants_revoked: grants.len(),
            codes_voided,
            consents_forgotten,
        })
    })
}

/// Parses a role given as text; [`AdminError::Invalid`] (field `role`) otherwise.
pub(crate) fn parse_role(raw: &str) -> Result<Role, AdminError> {
    raw.parse().map_err(|e: crate::roles::UnknownRole| {
        validate::Invalid {
            field: "role",
            message: e.to_string(),
        }
        .into()
    })
}
