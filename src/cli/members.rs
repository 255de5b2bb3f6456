//! `tessera member …`: the same actions as `/v1/orgs/{org}/members…`
//! ([`crate::admin::members`]), with the same JSON answers. The operator acts as an owner.

use super::MemberCommand;
use super::input::parse_role;
use super::output::{CliError, emit};
use crate::admin::{self, members};
use crate::roles::Role;
use crate::store::DbConn;
use crate::store::audit::Actor;
use crate::store::users::Member;

/// What the operator may do: anything an owner may.
const OPERATOR_ROLE: Role = Role::Owner;

fn line(m: &Member) -> String {
    format!(
        "{}\t{}\t{}",
        m.username,
        m.role,
        crate::clock::rfc3339(m.since)
    )
}

pub(super) fn run(
    conn: &mut DbConn,
    actor: &Actor,
    json: bool,
    cmd: MemberCommand,
) -> Result<(), CliError> {
    match cmd {
        MemberCommand::List { org } => {
            let org = admin::orgs::find(conn, &org)?;
            let all = members::list(conn, &org)?;
            emit(json, &all, || {
                all.members.iter().map(line).collect::<Vec<_>>().join("\n")
            })
        }
        MemberCommand::Add {
            username,
            org,
            role,
        } => {
            let role = parse_role(&role)?;
            let org = admin::orgs::find(conn, &org)?;
            let member = members::add(conn, actor, OPERATOR_ROLE, &org, &username, role)?;
            // The same answer as POST /v1/orgs/{org}/members.
            let added = members::CreatedMember {
                member,
                initial_password: None,
            };
            emit(json, &added, || {
                format!(
                    "added {} to {} as {}",
                    added.member.username, org.slug, added.member.role
                )
            })
        }
        MemberCommand::Create {
            username,
            org,
            role,
            password_stdin,
        } => {
            let role = parse_role(&role)?;
            let given = if password_stdin {
                Some(super::input::read_password_line()?)
            } else {
                None
            };
            let org = admin::orgs::find(conn, &org)?;
            let password = members::initial_password(given)?;
            let created =
                members::create(conn, actor, OPERATOR_ROLE, &org, &username, role, password)?;
            emit(json, &created, || {
                let mut text = format!(
                    "created {} in {} as {}",
                    created.member.username, org.slug, created.member.role
                );
                if let Some(p) = &created.initial_password {
                    text.push_str(&format!(
                        "\ninitial password: {p}\n(shown only now; give it to {} to sign in)",
                        created.member.username
                    ));
                }
                text
            })
        }
        MemberCommand::SetRole {
            username,
            org,
            role,
        } => {
            let role = parse_role(&role)?;
            let org = admin::orgs::find(conn, &org)?;
            let member = members::set_role(conn, actor, OPERATOR_ROLE, &org, &username, role)?;
            emit(json, &member, || line(&member))
        }
        MemberCommand::Remove { username, org } => {
            let org = admin::orgs::find(conn, &org)?;
            let removed = members::remove(conn, actor, OPERATOR_ROLE, &org, &username)?;
            emit(json, &removed, || {
                format!(
                    "removed {} ({}) from {}: {} grant(s) revoked",
                    removed.username, removed.role, org.slug, removed.grants_revoked
                )
            })
        }
    }
}
