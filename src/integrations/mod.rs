//! Private-integration tokens: long-lived, scoped credentials an organization gives its
//! server-to-server integrations.
//!
//! An integration has one token, or two while a rotation's grace period runs. The plaintext is
//! returned once — by create and rotate — and never again: listings, logs, errors and audit
//! events show only the display prefix and the last four characters. Management actions are
//! shared by the CLI and the HTTP API; each runs in one transaction with its audit event.

pub(crate) mod usage;

use std::time::Duration;

use chrono::NaiveDateTime;
use ipnet::IpNet;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::plans::Feature;
use crate::admin::{AdminError, or_not_found};
use crate::clock;
use crate::events::EventType;
use crate::roles::Role;
use crate::store::audit::{self, Actor};
use crate::store::integrations::{
    Integration, IntegrationChanges, IntegrationToken, NewIntegration,
};
use crate::store::orgs::Organization;
use crate::store::scopes::ScopeDef;
use crate::store::{DbConn, transaction, webhooks};
use crate::tokens::secret::{self, NewSecret, SecretKind};
use crate::validate::{self, Invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Env {
    Live,
    Test,
}

impl Env {
    pub(crate) fn parse(raw: &str) -> Result<Env, Invalid> {
        match raw {
            "live" => Ok(Env::Live),
            "test" => Ok(Env::Test),
            other => Err(Invalid {
                field: "env",
                message: format!("{other:?} must be live or test"),
            }),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }

    fn kind(self) -> SecretKind {
        match self {
            Env::Live => SecretKind::Live,
            Env::Test => SecretKind::Test,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Active,
    Expired,
    Revoked,
}

/// Who creates an integration, for the role cap on its scopes. The operator CLI without
/// `--created-by` acts with the authority of an owner.
#[derive(Debug, Clone)]
pub(crate) struct Creator {
    pub user_id: Option<i64>,
    pub role: Role,
    /// An integration token creating an integration (through the management API) may grant
    /// only the scopes it holds itself, so that a token with `integrations:manage` alone
    /// cannot mint one with more. `None` for people.
    pub held: Option<Vec<String>>,
}

impl Creator {
    /// The operator CLI without `--created-by`: an owner's authority.
    pub(crate) fn operator() -> Creator {
        Creator {
            user_id: None,
            role: Role::Owner,
            held: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CreateIntegration {
    pub name: String,
    pub description: Option<String>,
    pub env: Option<String>,
    pub scopes: Vec<String>,
    pub expires_in: Option<Duration>,
    pub allow_ips: Vec<String>,
    pub inactive_after: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct UpdateIntegration {
    pub name: Option<String>,
    pub description: Option<String>,
    pub allow_ips: Option<Vec<String>>,
}

/// One token as listings show it: never its text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TokenView {
    pub prefix: String,
    pub last4: String,
    pub status: Status,
    #[serde(with = "clock::as_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub expires_at: Option<NaiveDateTime>,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub use_count: i64,
}

/// An integration as listings show it. `prefix`, `last4` and usage are those of the current
/// (newest) token; `tokens` lists the current and, during a grace period, the previous one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IntegrationView {
    pub id: String,
    pub org: String,
    pub name: String,
    pub description: String,
    pub env: String,
    pub scopes: Vec<String>,
    pub allow_ips: Vec<String>,
    pub status: Status,
    pub prefix: String,
    pub last4: String,
    #[serde(with = "clock::as_rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub expires_at: Option<NaiveDateTime>,
    /// The inactivity limit as configured, e.g. `"30d"` (`null`: none).
    pub inactive_after: Option<String>,
    #[serde(with = "clock::as_rfc3339_opt")]
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_ip: Option<String>,
    pub use_count: i64,
    pub tokens: Vec<TokenView>,
    /// The username of the user who created it; `null` when the CLI or an integration token
    /// created it.
    pub created_by: Option<String>,
    /// Its creator is no longer a member of the organization: the integration keeps working,
    /// but whoever created it may still know its token — consider rotating.
    pub created_by_former_member: bool,
}

/// An organization's integrations: the answer of `GET /v1/orgs/{org}/integrations` and of
/// `tessera --json integration list`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationList {
    pub integrations: Vec<IntegrationView>,
}

/// The answer to create and rotate: the only time the token's text is ever shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct IssuedIntegration {
    pub token: String,
    #[serde(flatten)]
    pub integration: IntegrationView,
}

impl std::fmt::Debug for IssuedIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedIntegration")
            .field("id", &self.integration.id)
            .field("prefix", &self.integration.prefix)
            .finish_non_exhaustive()
    }
}

/// Whether a token works at `now`, given its integration.
pub(crate) fn token_status(t: &IntegrationToken, i: &Integration, now: NaiveDateTime) -> Status {
    if i.revoked_at.is_some() || t.revoked_at.is_some() {
        return Status::Revoked;
    }
    let ends = [i.expires_at, t.expires_at].into_iter().flatten().min();
    if ends.is_some_and(|e| e <= now) || inactive(t, i, now, None) {
        return Status::Expired;
    }
    Status::Active
}

/// Unused for longer than the integration's inactivity limit. `recent_use` is usage seen but
/// not yet written to the store.
pub(crate) fn inactive(
    t: &IntegrationToken,
    i: &Integration,
    now: NaiveDateTime,
    recent_use: Option<NaiveDateTime>,
) -> bool {
    let Some(limit) = i.inactive_after_secs else {
        return false;
    };
    now - last_use(t, recent_use) > chrono::TimeDelta::seconds(limit)
}

/// When the token was last used — as the store has it, or later in `recent_use` (seen, not
/// yet written) — or created, if never.
pub(crate) fn last_use(t: &IntegrationToken, recent_use: Option<NaiveDateTime>) -> NaiveDateTime {
    [t.last_used_at, recent_use]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(t.created_at)
}

/// Of each creator (by user id): the username, and whether they are a member now.
type Creators = [(i64, String, bool)];

fn creators(
    conn: &mut DbConn,
    org_id: i64,
    all: &[&Integration],
) -> Result<Vec<(i64, String, bool)>, AdminError> {
    let mut ids: Vec<i64> = all.iter().filter_map(|i| i.created_by).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(crate::store::users::names_and_membership(
        conn, org_id, &ids,
    )?)
}

fn view(
    i: &Integration,
    org: &str,
    tokens: &[IntegrationToken],
    creators: &Creators,
    now: NaiveDateTime,
) -> IntegrationView {
    let creator = i
        .created_by
        .and_then(|id| creators.iter().find(|(c, _, _)| *c == id));
    let mine: Vec<&IntegrationToken> = tokens.iter().filter(|t| t.integration_id == i.id).collect();
    let token_views: Vec<TokenView> = mine
        .iter()
        .map(|t| TokenView {
            prefix: t.prefix.clone(),
            last4: t.last4.clone(),
            status: token_status(t, i, now),
            created_at: t.created_at,
            expires_at: [i.expires_at, t.expires_at].into_iter().flatten().min(),
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip.clone(),
            use_count: t.use_count,
        })
        .collect();
    // Listings show the newest token and what is still usable.
    let shown: Vec<TokenView> = token_views
        .iter()
        .enumerate()
        .filter(|(n, t)| *n == 0 || t.status == Status::Active)
        .map(|(_, t)| t.clone())
        .collect();
    // No token works: the integration is what its current token is — revoked when a leak
    // report revoked it, expired otherwise.
    let status = if i.revoked_at.is_some() {
        Status::Revoked
    } else if token_views.iter().any(|t| t.status == Status::Active) {
        Status::Active
    } else {
        token_views.first().map_or(Status::Expired, |t| t.status)
    };
    let current = token_views.first();
    IntegrationView {
        id: i.id.clone(),
        org: org.to_string(),
        name: i.name.clone(),
        description: i.description.clone(),
        env: i.env.clone(),
        scopes: i
            .scopes
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        allow_ips: i
            .allow_ips
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        status,
        prefix: current.map(|t| t.prefix.clone()).unwrap_or_default(),
        last4: current.map(|t| t.last4.clone()).unwrap_or_default(),
        created_at: i.created_at,
        expires_at: i.expires_at,
        inactive_after: i.inactive_after_secs.map(crate::duration::format_seconds),
        last_used_at: current.and_then(|t| t.last_used_at),
        last_used_ip: current.and_then(|t| t.last_used_ip.clone()),
        use_count: current.map(|t| t.use_count).unwrap_or(0),
        tokens: shown,
        created_by: creator.map(|(_, name, _)| name.clone()),
        created_by_former_member: creator.is_some_and(|(_, _, member)| !member),
    }
}

/// Publishes `event_type` about integration `v` to the organization's webhooks, in the
/// transaction of the change (`store::webhooks::publish`). The data never holds a token.
pub(crate) fn publish(
    conn: &mut DbConn,
    org_id: i64,
    event_type: EventType,
    v: &IntegrationView,
    actor: &Actor,
    extra: serde_json::Value,
) -> Result<(), AdminError> {
    let mut data = serde_json::json!({
        "id": v.id,
        "org": v.org,
        "name": v.name,
        "env": v.env,
        "scopes": v.scopes,
        "prefix": v.prefix,
        "last4": v.last4,
        "status": v.status,
        "expires_at": v.expires_at.map(clock::rfc3339),
        "actor": actor.label,
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    webhooks::publish(conn, org_id, event_type, &data, None)?;
    Ok(())
}

/// `integration.updated`, naming the fields that `changed`.
fn publish_updated(
    conn: &mut DbConn,
    org_id: i64,
    v: &IntegrationView,
    actor: &Actor,
    changed: &[&str],
) -> Result<(), AdminError> {
    let extra = serde_json::json!({ "changed": changed });
    publish(conn, org_id, EventType::IntegrationUpdated, v, actor, extra)
}

fn load_view(conn: &mut DbConn, i: &Integration, org: &str) -> Result<IntegrationView, AdminError> {
    let tokens = IntegrationToken::for_integrations(conn, std::slice::from_ref(&i.id))?;
    let creators = creators(conn, i.org_id, &[i])?;
    Ok(view(i, org, &tokens, &creators, clock::now()))
}

fn parse_networks(raw: &[String]) -> Result<Vec<IpNet>, Invalid> {
    if raw.len() > 100 {
        return Err(Invalid {
            field: "allow_ips",
            message: "at most 100 networks".into(),
        });
    }
    let mut nets: Vec<IpNet> = Vec::new();
    for r in raw {
        let net = validate::network(r)?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

fn join_networks(nets: &[IpNet]) -> String {
    nets.iter()
        .map(IpNet::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scopes must exist and be within what the creator's role may hold (422 naming the scope).
fn check_scopes(conn: &mut DbConn, scopes: &[String], creator: &Creator) -> Result<(), AdminError> {
    if scopes.is_empty() {
        return Err(Invalid {
            field: "scopes",
            message: "at least one scope is required".into(),
        }
        .into());
    }
    let defs = ScopeDef::find_many(conn, scopes)?;
    for name in scopes {
        match defs.iter().find(|d| &d.name == name) {
            None => {
                return Err(Invalid {
                    field: "scopes",
                    message: format!("unknown scope {name:?}"),
                }
                .into());
            }
            Some(_)
                if creator
                    .held
                    .as_ref()
                    .is_some_and(|held| !held.contains(name)) =>
            {
                return Err(Invalid {
                    field: "scopes",
                    message: format!(
                        "scope {name:?} is not held by the integration token making this request"
                    ),
                }
                .into());
            }
            Some(d) if !creator.role.allows(d.min_role) => {
                return Err(Invalid {
                    field: "scopes",
                    message: format!(
                        "scope {name:?} needs the role {} or higher; the creator is {}",
                        d.min_role, creator.role
                    ),
                }
                .into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    creator: &Creator,
    brand: &str,
    input: &CreateIntegration,
) -> Result<IssuedIntegration, AdminError> {
    let name = validate::name("name", &input.name)?;
    let description = validate::description(input.description.as_deref().unwrap_or(""))?;
    let env = Env::parse(input.env.as_deref().unwrap_or("live"))?;
    let scopes = validate::scope_names(&input.scopes)?;
    let nets = parse_networks(&input.allow_ips)?;
    if input.inactive_after.is_some_and(|d| d.as_secs() == 0) {
        return Err(Invalid {
            field: "inactive_after",
            message: "must be longer than zero".into(),
        }
        .into());
    }
    check_scopes(conn, &scopes, creator)?;
    crate::admin::plans::entitled(conn, org, Feature::Integrations)?;
    let now = clock::now();
    let id = format!("int_{}", secret::random_base62(16));
    let minted = secret::mint(brand, env.kind());
    let new = NewIntegration {
        id: &id,
        org_id: org.id,
        name: &name,
        description: &description,
        env: env.as_str(),
        scopes: &scopes.join(" "),
        allow_ips: &join_networks(&nets),
        expires_at: input
            .expires_in
            .map(|d| now + crate::duration::to_chrono(d)),
        inactive_after_secs: input.inactive_after.map(secs),
        created_by: creator.user_id,
    };
    transaction(conn, |conn| {
        Integration::insert(conn, &new)?;
        IntegrationToken::insert(conn, &id, &minted.hash.0, &minted.prefix, &minted.last4)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "integration.create",
            Some(&id),
            Some(&format!(
                "name={name} prefix={} scopes={}",
                minted.prefix,
                scopes.join(",")
            )),
        )?;
        let issued = issued(conn, &id, &org.slug, minted)?;
        let extra = serde_json::json!({ "description": issued.integration.description });
        publish(
            conn,
            org.id,
            EventType::IntegrationCreated,
            &issued.integration,
            actor,
            extra,
        )?;
        Ok(issued)
    })
}

fn issued(
    conn: &mut DbConn,
    id: &str,
    org: &str,
    minted: NewSecret,
) -> Result<IssuedIntegration, AdminError> {
    let integration = Integration::find(conn, id)?;
    Ok(IssuedIntegration {
        token: minted.plaintext,
        integration: load_view(conn, &integration, org)?,
    })
}

pub(crate) fn list(
    conn: &mut DbConn,
    org: &Organization,
) -> Result<Vec<IntegrationView>, AdminError> {
    let all = Integration::list_for_org(conn, org.id)?;
    let ids: Vec<String> = all.iter().map(|i| i.id.clone()).collect();
    let tokens = IntegrationToken::for_integrations(conn, &ids)?;
    let creators = creators(conn, org.id, &all.iter().collect::<Vec<_>>())?;
    let now = clock::now();
    Ok(all
        .iter()
        .map(|i| view(i, &org.slug, &tokens, &creators, now))
        .collect())
}

fn find(conn: &mut DbConn, org: &Organization, id: &str) -> Result<Integration, AdminError> {
    or_not_found(Integration::find_in_org(conn, org.id, id), || {
        format!("integration {id:?}")
    })
}

pub(crate) fn show(
    conn: &mut DbConn,
    org: &Organization,
    id: &str,
) -> Result<IntegrationView, AdminError> {
    let i = find(conn, org, id)?;
    load_view(conn, &i, &org.slug)
}

/// The organization an integration belongs to (the CLI addresses integrations by id alone).
pub(crate) fn org_of(conn: &mut DbConn, id: &str) -> Result<Organization, AdminError> {
    let i = or_not_found(Integration::find(conn, id), || {
        format!("integration {id:?}")
    })?;
    Ok(Organization::find(conn, i.org_id)?)
}

pub(crate) fn update(
    conn: &mut DbConn,
    actor: &Actor,
    creator: &Creator,
    org: &Organization,
    id: &str,
    input: &UpdateIntegration,
) -> Result<IntegrationView, AdminError> {
    let i = find(conn, org, id)?;
    if input.allow_ips.is_some() {
        may_hold(conn, &i, creator)?;
    }
    let mut changes = IntegrationChanges {
        updated_at: Some(clock::now()),
        ..Default::default()
    };
    let mut what = Vec::new();
    if let Some(n) = &input.name {
        changes.name = Some(validate::name("name", n)?);
        what.push("name");
    }
    if let Some(d) = &input.description {
        changes.description = Some(validate::description(d)?);
        what.push("description");
    }
    if let Some(ips) = &input.allow_ips {
        changes.allow_ips = Some(join_networks(&parse_networks(ips)?));
        what.push("allow_ips");
    }
    if what.is_empty() {
        return Err(Invalid {
            field: "body",
            message: "nothing to change: send name, description or allow_ips".into(),
        }
        .into());
    }
    transaction(conn, |conn| {
        Integration::update(conn, &i.id, &changes)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "integration.update",
            Some(&i.id),
            Some(&format!("changed={}", what.join(","))),
        )?;
        let updated = Integration::find(conn, &i.id)?;
        let view = load_view(conn, &updated, &org.slug)?;
        publish_updated(conn, org.id, &view, actor, &what)?;
        Ok(view)
    })
}

fn refuse_if_dead(i: &Integration, now: NaiveDateTime) -> Result<(), AdminError> {
    if i.revoked_at.is_some() {
        return Err(AdminError::Conflict(format!(
            "integration {:?} is revoked",
            i.id
        )));
    }
    if i.expires_at.is_some_and(|e| e <= now) {
        return Err(AdminError::Conflict(format!(
            "integration {:?} has expired",
            i.id
        )));
    }
    Ok(())
}

/// The longest a rotated-out token keeps working (Stripe's cap on a rolled key's overlap).
pub(crate) const MAX_ROTATION_GRACE: Duration = Duration::from_secs(7 * 86400);

/// Refuses (403) when `creator` could not have created `i`: a scope above their role, or, for
/// an integration token acting, a scope it does not hold. Rotating hands out a token with
/// those scopes, and widening its allowlist lets it be used from anywhere.
fn may_hold(conn: &mut DbConn, i: &Integration, creator: &Creator) -> Result<(), AdminError> {
    let scopes: Vec<String> = i
        .scopes
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    check_scopes(conn, &scopes, creator).map_err(|e| match e {
        AdminError::Invalid(invalid) => AdminError::Forbidden(format!(
            "you may not rotate or re-fence this integration: {}",
            invalid.message
        )),
        other => other,
    })
}

/// Issues a new token. The old one stops now, or after `grace` (at most
/// [`MAX_ROTATION_GRACE`]; it then works alongside the new one until the grace period ends).
pub(crate) fn rotate(
    conn: &mut DbConn,
    actor: &Actor,
    creator: &Creator,
    org: &Organization,
    id: &str,
    grace: Duration,
    brand: &str,
) -> Result<IssuedIntegration, AdminError> {
    if grace > MAX_ROTATION_GRACE {
        return Err(Invalid {
            field: "grace",
            message: "the old token may keep working at most 7d".into(),
        }
        .into());
    }
    let i = find(conn, org, id)?;
    let now = clock::now();
    refuse_if_dead(&i, now)?;
    // Whoever receives the new token must be someone who could have created it.
    may_hold(conn, &i, creator)?;
    // A new token is a new thing: a plan without integrations keeps the old ones working
    // until they expire, and issues none.
    crate::admin::plans::entitled(conn, org, Feature::Integrations)?;
    let env = Env::parse(&i.env)?;
    let minted = secret::mint(brand, env.kind());
    let old_until = now + crate::duration::to_chrono(grace);
    transaction(conn, |conn| {
        // Concurrent rotations take turns, and each reads what the one before left: afterwards
        // exactly the last one's token (and the grace ones) work.
        crate::store::lock_entity(conn, "integration", &i.id)?;
        refuse_if_dead(&Integration::find(conn, &i.id)?, clock::now())?;
        IntegrationToken::expire_live(conn, &i.id, old_until)?;
        IntegrationToken::insert(conn, &i.id, &minted.hash.0, &minted.prefix, &minted.last4)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "integration.rotate",
            Some(&i.id),
            Some(&format!(
                "prefix={} grace={}",
                minted.prefix,
                crate::duration::format(grace)
            )),
        )?;
        let issued = issued(conn, &i.id, &org.slug, minted)?;
        let extra = serde_json::json!({
            "grace_seconds": grace.as_secs(),
            "previous_token_expires_at": clock::rfc3339(old_until),
        });
        publish(
            conn,
            org.id,
            EventType::IntegrationRotated,
            &issued.integration,
            actor,
            extra,
        )?;
        Ok(issued)
    })
}

/// Ends every token of the integration after `after` (zero: now).
pub(crate) fn expire(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
    after: Duration,
) -> Result<Expiring, AdminError> {
    let i = find(conn, org, id)?;
    let asked = clock::now() + crate::duration::to_chrono(after);
    // Expiring never extends a life: an earlier deadline stands.
    transaction(conn, |conn| {
        // In turn with rotations and revocations of this integration (see `rotate`), and
        // judged on what the one before left.
        crate::store::lock_entity(conn, "integration", &i.id)?;
        if Integration::find(conn, &i.id)?.revoked_at.is_some() {
            return Err(AdminError::Conflict(format!(
                "integration {:?} is revoked",
                i.id
            )));
        }
        let kept_earlier_expiry = !Integration::expire_by(conn, &i.id, asked)?;
        let detail = if kept_earlier_expiry {
            format!("kept the earlier expiry (asked {})", clock::rfc3339(asked))
        } else {
            format!("expires_at={}", clock::rfc3339(asked))
        };
        audit::record(
            conn,
            Some(org.id),
            actor,
            "integration.expire",
            Some(&i.id),
            Some(&detail),
        )?;
        let updated = Integration::find(conn, &i.id)?;
        let view = load_view(conn, &updated, &org.slug)?;
        if !kept_earlier_expiry {
            if after.is_zero() {
                // Announced now; housekeeping must not announce it again.
                webhooks::notice_once(conn, &i.id, webhooks::NOTICE_EXPIRED)?;
                publish(
                    conn,
                    org.id,
                    EventType::IntegrationExpired,
                    &view,
                    actor,
                    serde_json::json!({}),
                )?;
            } else {
                // A new deadline gets its own "expiring" notices.
                webhooks::forget_notices(conn, &i.id)?;
                publish_updated(conn, org.id, &view, actor, &["expires_at"])?;
            }
        }
        Ok(Expiring {
            integration: view,
            kept_earlier_expiry,
        })
    })
}

/// Publishes `integration.expiring` 7 days and 1 day before an integration expires, and
/// `integration.expired` when it has (within a day of it), each once whichever instance
/// looks first (`store::webhooks::notice_once`). Run by housekeeping every minute; returns how
/// many events were published.
pub(crate) fn announce_expiries(conn: &mut DbConn) -> Result<usize, AdminError> {
    const PAGE: i64 = 500;
    let now = clock::now();
    let day = chrono::TimeDelta::days(1);
    let mut published = 0;
    let mut after: Option<(NaiveDateTime, String)> = None;
    loop {
        let page = Integration::awaiting_expiry_notice(
            conn,
            now,
            (now - day, now + day * 7),
            after.as_ref().map(|(at, id)| (*at, id.as_str())),
            PAGE,
        )?;
        for i in &page {
            published += usize::from(announce_expiry(conn, &i.id)?);
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => {
                after = last.expires_at.map(|at| (at, last.id.clone()));
            }
            _ => return Ok(published),
        }
    }
}

/// Publishes the expiry notice now due for integration `id`, unless it went out already.
/// Judged on the integration as it is under its lock, in turn with `expire` and `revoke`.
fn announce_expiry(conn: &mut DbConn, id: &str) -> Result<bool, AdminError> {
    transaction(conn, |conn| {
        crate::store::lock_entity(conn, "integration", id)?;
        let i = Integration::find(conn, id)?;
        let now = clock::now();
        let day = chrono::TimeDelta::days(1);
        let (Some(expires_at), None) = (i.expires_at, i.revoked_at) else {
            return Ok(false);
        };
        let left = expires_at - now;
        let (notices, event_type): (&[&str], EventType) = if left <= chrono::TimeDelta::zero() {
            (&[webhooks::NOTICE_EXPIRED], EventType::IntegrationExpired)
        } else if left <= day {
            (
                &[webhooks::NOTICE_EXPIRING_1D, webhooks::NOTICE_EXPIRING_7D],
                EventType::IntegrationExpiring,
            )
        } else if left <= day * 7 {
            (
                &[webhooks::NOTICE_EXPIRING_7D],
                EventType::IntegrationExpiring,
            )
        } else {
            return Ok(false);
        };
        if !webhooks::notice_once(conn, &i.id, notices[0])? {
            return Ok(false);
        }
        for later in &notices[1..] {
            webhooks::notice_once(conn, &i.id, later)?;
        }
        let org = Organization::find(conn, i.org_id)?;
        let view = load_view(conn, &i, &org.slug)?;
        let extra = serde_json::json!({ "expires_in_seconds": left.num_seconds().max(0) });
        publish(conn, org.id, event_type, &view, &Actor::system(), extra)?;
        Ok(true)
    })
}

/// The answer to "expire": the integration, and whether its earlier deadline was kept
/// because the one asked for would have extended its life.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Expiring {
    #[serde(flatten)]
    pub(crate) integration: IntegrationView,
    pub(crate) kept_earlier_expiry: bool,
}

/// Revokes the integration and all its tokens, at once and for good.
pub(crate) fn revoke(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    id: &str,
) -> Result<IntegrationView, AdminError> {
    let i = find(conn, org, id)?;
    transaction(conn, |conn| {
        // In turn with rotations: a rotation that read "alive" must not add a token after
        // the revocation ended every token there was.
        crate::store::lock_entity(conn, "integration", &i.id)?;
        let revoked_now = Integration::revoke(conn, &i.id)?;
        if revoked_now {
            audit::record(
                conn,
                Some(org.id),
                actor,
                "integration.revoke",
                Some(&i.id),
                None,
            )?;
        }
        let updated = Integration::find(conn, &i.id)?;
        let view = load_view(conn, &updated, &org.slug)?;
        if revoked_now {
            publish(
                conn,
                org.id,
                EventType::IntegrationRevoked,
                &view,
                actor,
                serde_json::json!({}),
            )?;
        }
        Ok(view)
    })
}
