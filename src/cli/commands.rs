//! Each CLI command: open the database, call the domain, print the result.

use serde_json::json;

use super::input::{parse_duration, parse_role, read_password_line, words};
use super::output::{CliError, emit};
use super::{
    AuditCommand, Cli, ClientCommand, Command, ConsentCommand, IntegrationCommand, KeysCommand,
    OrgCommand, ScopeCommand, UserCommand,
};
use crate::admin;
use crate::config::Config;
use crate::store::Db;
use crate::store::audit::Actor;
use crate::store::orgs::Organization;
use crate::store::scopes::ScopeDef;

/// Opens the configured database and applies pending migrations, so that every command works
/// on a fresh file without a separate `migrate` step.
fn open(config: &Config) -> Result<Db, CliError> {
    let db = Db::connect(&config.database_url, 2)?;
    db.migrate()?;
    Ok(db)
}

/// Runs one command: each has a function of its own below.
pub(super) fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    let config = Config::from_env()?;
    let actor = Actor::cli();
    let database_url = config.database_url.clone();
    let outcome = dispatch(json, config, &actor, cli.command);
    // A command that revoked something returns once every running instance has read it
    // (`store::revocations`): the very next request anywhere is refused. Also after a failure,
    // which may have come after the revocation committed.
    if crate::store::revocations::recorded_pending() {
        let mut conn = Db::connect(&database_url, 1)?.conn()?;
        crate::store::revocations::settle_recorded(&mut conn)?;
    }
    outcome
}

fn dispatch(json: bool, config: Config, actor: &Actor, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve => serve(config),
        Command::Migrate => migrate(json, &config),
        Command::Org(cmd) => org(json, &config, actor, cmd),
        Command::Scope(cmd) => scope(json, &config, actor, cmd),
        Command::User(UserCommand::Create {
            username,
            org,
            role,
            password_stdin: _,
        }) => create_user(json, &config, actor, &username, &org, &role),
        Command::User(UserCommand::Unlock { username }) => {
            unlock_user(json, &config, actor, &username)
        }
        Command::User(UserCommand::SetPassword {
            username,
            password_stdin: _,
        }) => {
            let password = read_password_line()?;
            let db = open(&config)?;
            let mut conn = db.conn()?;
            let set = admin::users::set_password(&mut conn, actor, &username, &password)?;
            emit(json, &set, || {
                format!(
                    "password of {} set; {} session(s) ended",
                    set.username, set.sessions_ended
                )
            })
        }
        Command::Client(cmd) => client(json, &config, actor, cmd),
        Command::Consent(ConsentCommand::Revoke { user, client }) => {
            revoke_consent(json, &config, actor, &user, &client)
        }
        Command::Keys(KeysCommand::Rotate { alg }) => rotate_keys(json, &config, actor, alg),
        Command::Keys(KeysCommand::List) => list_keys(json, &config),
        Command::Purge => purge(json, &config),
        Command::Integration(cmd) => {
            let db = open(&config)?;
            let mut conn = db.conn()?;
            integration(&mut conn, &config, actor, json, cmd)
        }
        Command::Audit(AuditCommand::List {
            org,
            limit,
            before,
            target,
            actor,
            action,
        }) => {
            let filter = crate::store::audit::AuditFilter {
                target,
                actor,
                action,
                before,
                limit,
            };
            list_audit(json, &config, &org, filter)
        }
        Command::Member(cmd) => {
            let db = open(&config)?;
            let mut conn = db.conn()?;
            super::members::run(&mut conn, actor, json, cmd)
        }
        Command::Webhook(cmd) => {
            let db = open(&config)?;
            super::webhooks::run(&db, &config, actor, json, cmd)
        }
    }
}

/// `tessera serve`.
fn serve(config: Config) -> Result<(), CliError> {
    crate::web::serve(config).map_err(|e| CliError::Failure(e.to_string()))?;
    Ok(())
}

fn migrate(json: bool, config: &Config) -> Result<(), CliError> {
    let db = Db::connect(&config.database_url, 1)?;
    let applied = db.migrate()?;
    emit(json, &json!({ "applied": applied }), || {
        if applied.is_empty() {
            "database is up to date".to_string()
        } else {
            format!(
                "applied {} migration(s): {}",
                applied.len(),
                applied.join(", ")
            )
        }
    })
}

fn org(json: bool, config: &Config, actor: &Actor, cmd: OrgCommand) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    match cmd {
        OrgCommand::Create { slug, name, plan } => {
            let plan = match plan {
                Some(p) => p
                    .parse()
                    .map_err(|e: crate::plans::UnknownPlan| CliError::Input(e.to_string()))?,
                None => config.default_plan,
            };
            let org = admin::orgs::create(&mut conn, actor, &slug, name.as_deref(), plan)?;
            emit(json, &org, || {
                format!("created organization {} ({})", org.slug, org.name)
            })
        }
        OrgCommand::Plan { slug } => {
            let org = admin::orgs::find(&mut conn, &slug)?;
            let e = admin::plans::entitlements(&mut conn, &org)?;
            emit(json, &e, || show_entitlements(&e))
        }
        OrgCommand::SetPlan { slug, plan } => {
            let e = admin::plans::set_plan(&mut conn, actor, &slug, &plan)?;
            emit(json, &e, || show_entitlements(&e))
        }
        OrgCommand::Feature {
            slug,
            feature,
            state,
            lasts,
        } => {
            let enabled = match state.as_str() {
                "on" => Some(true),
                "off" => Some(false),
                "default" => None,
                other => {
                    return Err(CliError::Input(format!(
                        "{other:?}: the state is on, off or default"
                    )));
                }
            };
            let until = lasts
                .map(|d| crate::duration::parse(&d).map_err(|e| CliError::Input(e.to_string())))
                .transpose()?
                .map(|d| crate::clock::now() + d);
            let e = admin::plans::set_override(&mut conn, actor, &slug, &feature, enabled, until)?;
            emit(json, &e, || show_entitlements(&e))
        }
        OrgCommand::List => {
            let orgs = Organization::list(&mut conn)?;
            emit(json, &orgs, || {
                orgs.iter()
                    .map(|o| format!("{}\t{}\t{}", o.slug, o.plan, o.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn show_entitlements(e: &admin::plans::Entitlements) -> String {
    let mut lines = vec![format!("{}: plan {}", e.org, e.plan)];
    for f in &e.features {
        let state = if f.enabled { "on" } else { "off" };
        lines.push(format!("  {}\t{state}\t(from plan {})", f.feature, f.plan));
    }
    for o in &e.overrides {
        let until = o
            .expires_at
            .map(|t| format!(" until {}", crate::clock::rfc3339(t)))
            .unwrap_or_default();
        let state = if o.enabled { "on" } else { "off" };
        lines.push(format!("  override: {} {state}{until}", o.feature));
    }
    lines.join("\n")
}

fn scope(json: bool, config: &Config, actor: &Actor, cmd: ScopeCommand) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    match cmd {
        ScopeCommand::Create {
            name,
            description,
            min_role,
        } => {
            let min_role = parse_role(&min_role)?;
            let scope =
                admin::scopes::create(&mut conn, actor, &name, description.as_deref(), min_role)?;
            emit(json, &scope, || {
                format!("created scope {} (min role {})", scope.name, scope.min_role)
            })
        }
        ScopeCommand::List => {
            let scopes = ScopeDef::list(&mut conn)?;
            emit(json, &scopes, || {
                scopes
                    .iter()
                    .map(|s| format!("{}\t{}\t{}", s.name, s.min_role, s.description))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn create_user(
    json: bool,
    config: &Config,
    actor: &Actor,
    username: &str,
    org: &str,
    role: &str,
) -> Result<(), CliError> {
    let role = parse_role(role)?;
    let password = read_password_line()?;
    let db = open(config)?;
    let mut conn = db.conn()?;
    let user = admin::users::create(&mut conn, actor, username, org, role, &password)?;
    emit(json, &user, || {
        format!(
            "created user {} ({} of {})",
            user.username, user.role, user.org
        )
    })
}

/// `tessera user unlock`.
fn unlock_user(json: bool, config: &Config, actor: &Actor, username: &str) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    let unlocked = admin::users::unlock(&mut conn, actor, username)?;
    emit(json, &unlocked, || {
        if unlocked.was_locked {
            format!(
                "unlocked {} ({} consecutive failed sign-ins forgotten)",
                unlocked.username, unlocked.failures
            )
        } else {
            format!("{} was not locked", unlocked.username)
        }
    })
}

fn client(json: bool, config: &Config, actor: &Actor, cmd: ClientCommand) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    match cmd {
        ClientCommand::Create(args) => {
            let input = admin::clients::ClientInput {
                org: &args.org,
                name: &args.name,
                redirect_uris: &args.redirect_uris,
                scopes: &words(args.scopes),
                public: args.public,
                grant_types: &args.grant_types,
                refresh_grace: args
                    .refresh_grace
                    .as_deref()
                    .map(parse_duration)
                    .transpose()?
                    .unwrap_or_default(),
                cors_origins: &args.cors_origins,
            };
            let created = admin::clients::create(&mut conn, actor, &config.token_brand, &input)?;
            emit(json, &created, || match &created.client_secret {
                Some(secret) => format!(
                    "client_id:     {}\nclient_secret: {secret}\n(the secret is shown only now; store it safely)",
                    created.client.client_id
                ),
                None => format!(
                    "client_id: {} (public client: no secret; use PKCE)",
                    created.client.client_id
                ),
            })
        }
        ClientCommand::List { org } => {
            let org = admin::orgs::find(&mut conn, &org)?;
            let list = admin::clients::list(&mut conn, &org)?;
            emit(json, &list, || {
                list.clients
                    .iter()
                    .map(client_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ClientCommand::Show { client_id } => {
            let org = admin::clients::org_of(&mut conn, &client_id)?;
            let one = admin::clients::show(&mut conn, &org, &client_id)?;
            emit(json, &one, || client_line(&one))
        }
        ClientCommand::Update {
            client_id,
            name,
            redirect_uris,
            scopes,
            cors_origins,
        } => {
            let org = admin::clients::org_of(&mut conn, &client_id)?;
            let given = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let change = admin::clients::ClientUpdate {
                name,
                redirect_uris: given(redirect_uris),
                scopes: given(words(scopes)),
                cors_origins: given(cors_origins),
            };
            let one = admin::clients::update(&mut conn, actor, &org, &client_id, &change)?;
            emit(json, &one, || client_line(&one))
        }
        ClientCommand::Delete { client_id } => {
            let org = admin::clients::org_of(&mut conn, &client_id)?;
            let deleted = admin::clients::delete(&mut conn, actor, &org, &client_id)?;
            emit(json, &deleted, || {
                format!(
                    "client {} deleted; {} grant(s) revoked",
                    deleted.client_id, deleted.grants_revoked
                )
            })
        }
        ClientCommand::RotateSecret { client_id, grace } => {
            let grace = grace
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .unwrap_or_default();
            let org = admin::clients::org_of(&mut conn, &client_id)?;
            let rotated = admin::clients::rotate_secret(
                &mut conn,
                actor,
                &config.token_brand,
                &org,
                &client_id,
                grace,
            )?;
            emit(json, &rotated, || {
                format!(
                    "client_secret: {}\nprevious secret stops at {}",
                    rotated.client_secret,
                    crate::clock::rfc3339(rotated.previous_expires_at)
                )
            })
        }
    }
}

/// A client on one line: id, type, name, scopes.
fn client_line(c: &admin::clients::ClientView) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        c.client_id,
        c.client_type,
        c.name,
        c.scopes.join(" ")
    )
}

fn revoke_consent(
    json: bool,
    config: &Config,
    actor: &Actor,
    user: &str,
    client: &str,
) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    let revoked = admin::consents::revoke(&mut conn, actor, user, client)?;
    emit(json, &revoked, || {
        format!(
            "consent of {} for client {} removed; {} grant(s) revoked",
            revoked.user, revoked.client_id, revoked.grants_revoked
        )
    })
}

fn rotate_keys(
    json: bool,
    config: &Config,
    actor: &Actor,
    alg: Option<String>,
) -> Result<(), CliError> {
    let alg = match alg {
        Some(a) => crate::tokens::jwt::SigningAlg::parse(&a).map_err(CliError::Input)?,
        None => config.signing_alg,
    };
    let db = open(config)?;
    let mut conn = db.conn()?;
    let kid = crate::keys::rotate(&mut conn, alg).map_err(|e| CliError::Failure(e.to_string()))?;
    crate::store::audit::record(
        &mut conn,
        None,
        actor,
        "keys.rotate",
        Some(&kid),
        Some(alg.as_str()),
    )?;
    emit(json, &json!({ "kid": kid, "alg": alg.as_str() }), || {
        format!(
            "new signing key {kid} ({}); the previous key stays published until its tokens expire",
            alg.as_str()
        )
    })
}

fn list_keys(json: bool, config: &Config) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    let keys = crate::keys::in_force(&mut conn, config.access_token_ttl)?;
    let listed: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "alg": k.alg,
                "created_at": crate::clock::rfc3339(k.created_at),
                "retired_at": k.retired_at.map(crate::clock::rfc3339),
            })
        })
        .collect();
    emit(json, &listed, || {
        keys.iter()
            .map(|k| {
                format!(
                    "{}\t{}\t{}",
                    k.kid,
                    k.alg,
                    if k.retired_at.is_some() {
                        "retired"
                    } else {
                        "current"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn purge(json: bool, config: &Config) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    let purged = crate::housekeeping::purge(&mut conn, config)?;
    emit(json, &purged, || format!("{purged:?}"))
}

/// `tessera audit list`: with `--json`, the events as an array, newest first (a page of the
/// `GET /v1/orgs/{org}/audit` answer's `events`; the next page is `--before` the last id).
fn list_audit(
    json: bool,
    config: &Config,
    org: &str,
    filter: crate::store::audit::AuditFilter,
) -> Result<(), CliError> {
    let db = open(config)?;
    let mut conn = db.conn()?;
    let org = admin::orgs::find(&mut conn, org)?;
    // `--json` prints the page the HTTP API answers: `{"events": […], "next_before"}`.
    let page = admin::audit::page(&mut conn, &org, filter)?;
    emit(json, &page, || {
        page.events
            .iter()
            .map(|e| {
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    crate::clock::rfc3339(e.at),
                    e.actor,
                    e.action,
                    e.target.as_deref().unwrap_or("-"),
                    e.ip.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn integration(
    conn: &mut crate::store::DbConn,
    config: &Config,
    actor: &Actor,
    json: bool,
    cmd: IntegrationCommand,
) -> Result<(), CliError> {
    use crate::integrations::{
        self as integ, CreateIntegration, Creator, IntegrationView, UpdateIntegration,
    };
    let optional_duration = |raw: Option<String>| raw.as_deref().map(parse_duration).transpose();
    let show = |v: &IntegrationView| {
        format!(
            "{}\t{}\t{}\t{}…{}\t{:?}\t{}",
            v.id,
            v.name,
            v.env,
            v.prefix,
            v.last4,
            v.status,
            v.scopes.join(" ")
        )
    };
    let issued_text = |i: &integ::IssuedIntegration| {
        format!(
            "{}\ntoken: {}\n(the token is shown only now; store it safely)",
            show(&i.integration),
            i.token
        )
    };
    match cmd {
        IntegrationCommand::Create(args) => {
            let org = admin::orgs::find(conn, &args.org)?;
            let (creator, actor) = match &args.created_by {
                None => (Creator::operator(), actor.clone()),
                Some(name) => {
                    let username = crate::validate::username(name)
                        .map_err(|e| CliError::Input(e.to_string()))?;
                    let user = crate::store::users::User::find_by_username(conn, &username)
                        .map_err(|_| CliError::Input(format!("user {username:?} not found")))?;
                    let role = crate::store::users::User::role_in(conn, user.id, org.id)?
                        .ok_or_else(|| {
                            CliError::Input(format!(
                                "user {username:?} is not a member of {}",
                                org.slug
                            ))
                        })?;
                    let actor = Actor {
                        label: format!("cli:{username}"),
                        user_id: Some(user.id),
                        ip: None,
                    };
                    (
                        Creator {
                            user_id: Some(user.id),
                            role,
                            held: None,
                        },
                        actor,
                    )
                }
            };
            let input = CreateIntegration {
                name: args.name,
                description: args.description,
                env: Some(args.env),
                scopes: words(args.scopes),
                expires_in: optional_duration(args.expires_in)?,
                allow_ips: args.allow_ips,
                inactive_after: optional_duration(args.inactive_after)?,
            };
            let issued = integ::create(conn, &actor, &org, &creator, &config.token_brand, &input)?;
            emit(json, &issued, || issued_text(&issued))
        }
        IntegrationCommand::List { org } => {
            let org = admin::orgs::find(conn, &org)?;
            let all = integ::IntegrationList {
                integrations: integ::list(conn, &org)?,
            };
            emit(json, &all, || {
                all.integrations
                    .iter()
                    .map(show)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        IntegrationCommand::Show { id } => {
            let org = integ::org_of(conn, &id)?;
            let one = integ::show(conn, &org, &id)?;
            emit(json, &one, || show(&one))
        }
        IntegrationCommand::Update {
            id,
            name,
            description,
            allow_ips,
            allow_anywhere,
        } => {
            let org = integ::org_of(conn, &id)?;
            let allow_ips = if allow_anywhere {
                Some(Vec::new())
            } else {
                (!allow_ips.is_empty()).then_some(allow_ips)
            };
            let input = UpdateIntegration {
                name,
                description,
                allow_ips,
            };
            let one = integ::update(conn, actor, &Creator::operator(), &org, &id, &input)?;
            emit(json, &one, || show(&one))
        }
        IntegrationCommand::Rotate { id, grace } => {
            let org = integ::org_of(conn, &id)?;
            let grace = optional_duration(grace)?.unwrap_or_default();
            let issued = integ::rotate(
                conn,
                actor,
                &Creator::operator(),
                &org,
                &id,
                grace,
                &config.token_brand,
            )?;
            emit(json, &issued, || issued_text(&issued))
        }
        IntegrationCommand::Expire { id, after } => {
            let org = integ::org_of(conn, &id)?;
            let after = optional_duration(after)?.unwrap_or_default();
            let one = integ::expire(conn, actor, &org, &id, after)?;
            emit(json, &one, || {
                let note = if one.kept_earlier_expiry {
                    "\n(it already expires sooner: expiring never extends a life)"
                } else {
                    ""
                };
                format!("{}{note}", show(&one.integration))
            })
        }
        IntegrationCommand::Revoke { id } => {
            let org = integ::org_of(conn, &id)?;
            let one = integ::revoke(conn, actor, &org, &id)?;
            emit(json, &one, || show(&one))
        }
    }
}
