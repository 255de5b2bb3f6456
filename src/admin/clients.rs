//! OAuth clients: register (secret shown once), list, show, update, rotate a secret with a
//! grace period, delete (revoking its grants). The CLI and the HTTP API
//! (`/v1/orgs/{org}/clients`) call the same functions and print the same shapes.
//!
//! Every function that names a client takes its organization too: a client of another
//! organization is "not found" (the CLI finds the organization with [`org_of`]).

use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminError, or_not_found};
use crate::events::EventType;
use crate::store::audit::{self, Actor};
use crate::store::clients::{Client, ClientKind, NewClient};
use crate::store::orgs::Organization;
use crate::store::{DbConn, revocations, transaction, webhooks};
use crate::tokens::secret::{self, SecretKind};
use crate::validate;

/// A client as listings show it: never a secret. Durations are text (`"30s"`), as they are
/// given.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ClientView {
    pub client_id: String,
    /// The organization's slug.
    pub org: String,
    pub name: String,
    /// `confidential` (has a secret) or `public` (SPA, native app: PKCE, no secret).
    #[serde(rename = "type")]
    #[schema(example = "confidential")]
    pub client_type: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// `authorization_code`, and `refresh_token` unless left out.
    pub grant_types: Vec<String>,
    /// How long a just-rotated refresh token may be presented again without revoking its
    /// family, e.g. `"30s"` (`"0s"`: strict rotation).
    #[schema(example = "0s")]
    pub refresh_grace: String,
    /// Browser origins allowed at the token and revocation endpoints; empty: the origins of a
    /// public client's redirect URIs.
    pub cors_origins: Vec<String>,
    #[serde(with = "crate::clock::as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            org: c.org.clone(),
            name: c.name.clone(),
            client_type: c.kind.as_str().to_string(),
            redirect_uris: c.redirect_uris.clone(),
            scopes: c.scopes.clone(),
            grant_types: c.grant_types.clone(),
            refresh_grace: crate::duration::format_seconds(i64::from(c.refresh_grace_seconds)),
            cors_origins: c.cors_origins.clone(),
            created_at: c.created_at,
        }
    }
}

/// An organization's clients: the answer of `GET /v1/orgs/{org}/clients` and of
/// `tessera --json client list`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientList {
    pub clients: Vec<ClientView>,
}

/// The answer to a client registration: the only time the secret is ever shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct RegisteredClient {
    /// The secret (`tsr_cs_…`), shown only now; `null` for public clients.
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub client: ClientView,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client.client_id)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ClientInput<'a> {
    pub org: &'a str,
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    /// One scope name per entry.
    pub scopes: &'a [String],
    pub public: bool,
    /// Empty means both `authorization_code` and `refresh_token`.
    pub grant_types: &'a [String],
    /// Refresh-token rotation grace (at most [`MAX_REFRESH_GRACE`]); zero is strict.
    pub refresh_grace: std::time::Duration,
    /// Browser origins (`https://app.example.com`) allowed to call the token and revocation
    /// endpoints; empty means the origins of a public client's redirect URIs.
    pub cors_origins: &'a [String],
}

/// The longest refresh-token rotation grace a client may have: a retry after a lost response
/// comes within seconds; a longer window only widens what a stolen token is good for.
pub(crate) const MAX_REFRESH_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

pub(crate) const GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

fn grant_types(requested: &[String]) -> Result<Vec<String>, AdminError> {
    if requested.is_empty() {
        return Ok(GRANT_TYPES.iter().map(|g| g.to_string()).collect());
    }
    let mut out = Vec::new();
    for g in requested {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(validate::Invalid {
                field: "grant_type",
                message: format!(
                    "{g:?} is not a supported grant type (authorization_code, refresh_token)"
                ),
            }
            .into());
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    if !out.iter().any(|g| g == "authorization_code") {
        return Err(validate::Invalid {
            field: "grant_type",
            message: "authorization_code is required: it is how a client obtains tokens".into(),
        }
        .into());
    }
    Ok(out)
}

/// Redirect URIs: at least one, at most 20, each valid, duplicates removed.
fn redirect_uris(raw: &[String]) -> Result<Vec<String>, AdminError> {
    if raw.is_empty() {
        return Err(validate::Invalid {
            field: "redirect_uri",
            message: "at least one redirect URI is required".into(),
        }
        .into());
    }
    if raw.len() > 20 {
        return Err(validate::Invalid {
            field: "redirect_uri",
            message: "at most 20 redirect URIs".into(),
        }
        .into());
    }
    let mut out = Vec::new();
    for uri in raw {
        let uri = validate::redirect_uri(uri)?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// Scopes: at least one, each a defined scope.
fn scopes(conn: &mut DbConn, raw: &[String]) -> Result<Vec<String>, AdminError> {
    let scopes = validate::scope_names(raw)?;
    if scopes.is_empty() {
        return Err(validate::Invalid {
            field: "scope",
            message: "at least one scope is required".into(),
        }
        .into());
    }
    super::scopes::require_all(conn, &scopes)?;
    Ok(scopes)
}

/// Browser origins: each valid, duplicates removed.
fn cors_origins(raw: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out = Vec::new();
    for origin in raw {
        let origin = validate::origin(origin)?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Registers a client of `input.org`; a confidential one gets its first secret, returned
/// only here. Errors: invalid input (422 over HTTP), an unknown organization or scope.
pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    brand: &str,
    input: &ClientInput,
) -> Result<RegisteredClient, AdminError> {
    let name = validate::name("name", input.name)?;
    let redirect_uris = redirect_uris(input.redirect_uris)?;
    let grant_types = grant_types(input.grant_types)?;
    if input.refresh_grace > MAX_REFRESH_GRACE {
        return Err(validate::Invalid {
            field: "refresh_grace",
            message: "at most 300 seconds (5m)".into(),
        }
        .into());
    }
    let refresh_grace_seconds = input.refresh_grace.as_secs() as i32;
    let cors_origins = cors_origins(input.cors_origins)?;
    let org = super::orgs::find(conn, input.org)?;
    let scopes = scopes(conn, input.scopes)?;
    let kind = if input.public {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    let client_id = secret::random_base62(24);
    let new_secret =
        (kind == ClientKind::Confidential).then(|| secret::mint(brand, SecretKind::ClientSecret));
    transaction(conn, |conn| {
        let pk = Client::create(
            conn,
            &NewClient {
                client_id: &client_id,
                org_id: org.id,
                name: &name,
                kind,
                redirect_uris: &redirect_uris,
                scopes: &scopes,
                grant_types: &grant_types,
                refresh_grace_seconds,
                cors_origins: &cors_origins,
            },
        )?;
        if let Some(s) = &new_secret {
            Client::add_secret(conn, pk, &s.hash.0, &s.prefix)?;
        }
        // A server may remember that this id was unknown until now.
        revocations::record(conn, revocations::Kind::Client, &client_id)?;
        audit::record(
            conn,
            Some(org.id),
            actor,
            "client.create",
            Some(&client_id),
            Some(&format!("name={name}")),
        )?;
        let client = ClientView::from(&Client::find(conn, &client_id)?);
        // The client as listings show it (no secret), to the organization's webhooks.
        let mut data =
            serde_json::to_value(&client).map_err(|e| AdminError::Internal(e.to_string()))?;
        data["actor"] = actor.label.clone().into();
        webhooks::publish(conn, org.id, EventType::ClientCreated, &data, None)?;
        Ok(RegisteredClient {
            client_secret: new_secret.map(|s| s.plaintext),
            client,
        })
    })
}

/// The organization's clients, oldest first.
pub(crate) fn list(conn: &mut DbConn, org: &Organization) -> Result<ClientList, AdminError> {
    let clients = Client::list_for_org(conn, org.id)?;
    Ok(ClientList {
        clients: clients.iter().map(ClientView::from).collect(),
    })
}

/// The client, whatever its organization (consents, the CLI's [`org_of`]).
pub(crate) fn find(conn: &mut DbConn, client_id: &str) -> Result<Client, AdminError> {
    or_not_found(Client::find(conn, client_id), || {
        format!("client {client_id:?}")
    })
}

/// The client if it belongs to `org`; a client of another organization is not found there.
pub(crate) fn find_in(
    conn: &mut DbConn,
    org: &Organization,
    client_id: &str,
) -> Result<Client, AdminError> {
    match find(conn, client_id)? {
        c if c.org_id == org.id => Ok(c),
        _ => Err(AdminError::NotFound(format!("client {client_id:?}"))),
    }
}

/// The organization of a client (for the CLI, which names a client by its id alone).
pub(crate) fn org_of(conn: &mut DbConn, client_id: &str) -> Result<Organization, AdminError> {
    let client = find(conn, client_id)?;
    Ok(Organization::find(conn, client.org_id)?)
}

/// One client of `org`.
pub(crate) fn show(
    conn: &mut DbConn,
    org: &Organization,
    client_id: &str,
) -> Result<ClientView, AdminError> {
    Ok(ClientView::from(&find_in(conn, org, client_id)?))
}

/// What to change; `None` keeps what is there. Lists replace the current ones whole.
#[derive(Debug, Default)]
pub(crate) struct ClientUpdate {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    /// One scope name per entry.
    pub scopes: Option<Vec<String>>,
    pub cors_origins: Option<Vec<String>>,
}

/// Changes a client's name, redirect URIs, scopes or CORS origins, and records
/// `client.update` naming what changed. Grants already given keep their scopes (narrowing
/// a client's scopes limits what it may ask for from now on; revoke grants to take back more).
/// Running servers re-read the client (the revocation feed), so a removed redirect URI stops
/// being accepted at once. Errors: not found (another organization's client too), invalid.
pub(crate) fn update(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    client_id: &str,
    change: &ClientUpdate,
) -> Result<ClientView, AdminError> {
    let name = change
        .name
        .as_deref()
        .map(|n| validate::name("name", n))
        .transpose()?;
    let uris = change
        .redirect_uris
        .as_deref()
        .map(redirect_uris)
        .transpose()?;
    let origins = change
        .cors_origins
        .as_deref()
        .map(cors_origins)
        .transpose()?;
    let wanted_scopes = change
        .scopes
        .as_deref()
        .map(|s| scopes(conn, s))
        .transpose()?;
    find_in(conn, org, client_id)?;
    transaction(conn, |conn| {
        // In turn with rotations and deletions of this client: one that deleted it first
        // leaves nothing to update (404).
        crate::store::lock_entity(conn, "client", client_id)?;
        let mut client = find_in(conn, org, client_id)?;
        let mut changed = Vec::new();
        if let Some(name) = &name {
            client.name = name.clone();
            changed.push("name");
        }
        if let Some(uris) = uris.as_ref().filter(|u| **u != client.redirect_uris) {
            client.redirect_uris = uris.clone();
            changed.push("redirect_uris");
            // Whoever approved this client approved it sending codes to the old addresses: a
            // remembered approval must not send them silently to new ones.
            crate::store::consents::forget_client(conn, client.id)?;
        }
        if let Some(scopes) = &wanted_scopes {
            client.scopes = scopes.clone();
            changed.push("scopes");
        }
        if let Some(origins) = &origins {
            client.cors_origins = origins.clone();
            changed.push("cors_origins");
        }
        if !changed.is_empty() {
            Client::update(conn, &client)?;
            audit::record(
                conn,
                Some(client.org_id),
                actor,
                "client.update",
                Some(client_id),
                Some(&format!("changed={}", changed.join(","))),
            )?;
        }
        Ok(ClientView::from(&client))
    })
}

/// The longest a rotated-out secret keeps working: long enough to roll a deployment out,
/// short enough that a forgotten old secret does not live on.
pub(crate) const MAX_SECRET_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// The answer to a secret rotation: the only time the new secret is ever shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct RotatedSecret {
    pub client_id: String,
    /// The new secret (`tsr_cs_…`), shown only now.
    pub client_secret: String,
    /// When the previous secret stops working (now, unless a grace period was asked for).
    #[serde(with = "crate::clock::as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub previous_expires_at: chrono::NaiveDateTime,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Issues a new secret; the old ones keep working for `grace` (zero: they stop now; at most
/// [`MAX_SECRET_GRACE`]). Concurrent rotations take turns: afterwards the newest secret
/// works, and the earlier ones only within their grace. Errors: not found, a public client,
/// a grace over seven days.
pub(crate) fn rotate_secret(
    conn: &mut DbConn,
    actor: &Actor,
    brand: &str,
    org: &Organization,
    client_id: &str,
    grace: Duration,
) -> Result<RotatedSecret, AdminError> {
    if grace > MAX_SECRET_GRACE {
        return Err(validate::Invalid {
            field: "grace",
            message: "at most 7d".into(),
        }
        .into());
    }
    let client = find_in(conn, org, client_id)?;
    if client.kind == ClientKind::Public {
        return Err(validate::Invalid {
            field: "client_id",
            message: "a public client has no secret to rotate".into(),
        }
        .into());
    }
    let new_secret = secret::mint(brand, SecretKind::ClientSecret);
    let previous_expires_at = crate::clock::now() + crate::duration::to_chrono(grace);
    transaction(conn, |conn| -> Result<(), AdminError> {
        // Concurrent rotations take turns: afterwards only the last one's secret (and those in
        // their grace) work.
        crate::store::lock_entity(conn, "client", client_id)?;
        // A deletion that went first leaves nothing to rotate.
        find_in(conn, org, client_id)?;
        Client::expire_secrets(conn, client.id, previous_expires_at)?;
        Client::add_secret(conn, client.id, &new_secret.hash.0, &new_secret.prefix)?;
        // Servers keep clients in memory: the feed tells them to read this one again.
        revocations::record(conn, revocations::Kind::Client, client_id)?;
        audit::record(
            conn,
            Some(client.org_id),
            actor,
            "client.rotate_secret",
            Some(client_id),
            Some(&format!("grace={}", crate::duration::format(grace))),
        )?;
        let data = serde_json::json!({
            "client_id": client.client_id,
            "org": client.org,
            "name": client.name,
            "secret_prefix": new_secret.prefix,
            "previous_secret_expires_at": crate::clock::rfc3339(previous_expires_at),
            "actor": actor.label,
        });
        webhooks::publish(
            conn,
            client.org_id,
            EventType::ClientSecretRotated,
            &data,
            None,
        )?;
        Ok(())
    })?;
    Ok(RotatedSecret {
        client_id: client.client_id,
        client_secret: new_secret.plaintext,
        previous_expires_at,
    })
}

/// What deleting a client did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeletedClient {
    pub client_id: String,
    /// Live grants revoked with it (their refresh and access tokens stop working now).
    pub grants_revoked: usize,
}

/// Deletes a client: its live grants are revoked first (every instance stops honouring their
/// tokens before this returns), then the client goes with its secrets, codes and consents.
pub(crate) fn delete(
    conn: &mut DbConn,
    actor: &Actor,
    org: &Organization,
    client_id: &str,
) -> Result<DeletedClient, AdminError> {
    let client = find_in(conn, org, client_id)?;
    transaction(conn, |conn| {
        // In turn with secret rotations and other deletions of this client; one that went
        // first leaves nothing to delete (404).
        crate::store::lock_entity(conn, "client", client_id)?;
        find_in(conn, org, client_id)?;
        let revoked =
            crate::store::grants::Grant::revoke_for_client(conn, client.id, "client deleted")?;
        Client::delete(conn, &client)?;
        audit::record(
            conn,
            Some(client.org_id),
            actor,
            "client.delete",
            Some(client_id),
            Some(&format!(
                "name={} grants_revoked={}",
                client.name,
                revoked.len()
            )),
        )?;
        let data = serde_json::json!({
            "client_id": client.client_id,
            "org": client.org,
            "name": client.name,
            "grants_revoked": revoked.len(),
            "actor": actor.label,
        });
        webhooks::publish(conn, client.org_id, EventType::ClientDeleted, &data, None)?;
        Ok(DeletedClient {
            client_id: client.client_id.clone(),
            grants_revoked: revoked.len(),
        })
    })
}
