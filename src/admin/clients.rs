//! OAuth clients: register (secret shown once), list, rotate a secret with a grace period.

use std::time::Duration;

use serde::Serialize;

use super::{AdminError, or_not_found};
use crate::events::EventType;
use crate::store::audit::{self, Actor};
use crate::store::clients::{Client, ClientKind, NewClient};
use crate::store::{DbConn, revocations, transaction, webhooks};
use crate::tokens::secret::{self, SecretKind};
use crate::validate;

/// The answer to a client registration: the only time the secret is ever shown.
#[derive(Serialize)]
pub(crate) struct RegisteredClient {
    /// `null` for public clients.
    pub client_secret: Option<String>,
    #[serde(flatten)]
    pub client: Client,
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
    pub scope: &'a str,
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

pub(crate) fn create(
    conn: &mut DbConn,
    actor: &Actor,
    brand: &str,
    input: &ClientInput,
) -> Result<RegisteredClient, AdminError> {
    let name = validate::name("name", input.name)?;
    if input.redirect_uris.is_empty() {
        return Err(validate::Invalid {
            field: "redirect_uri",
            message: "at least one redirect URI is required".into(),
        }
        .into());
    }
    if input.redirect_uris.len() > 20 {
        return Err(validate::Invalid {
            field: "redirect_uri",
            message: "at most 20 redirect URIs".into(),
        }
        .into());
    }
    let mut redirect_uris = Vec::new();
    for uri in input.redirect_uris {
        let uri = validate::redirect_uri(uri)?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    let scopes = validate::scope_list(input.scope)?;
    if scopes.is_empty() {
        return Err(validate::Invalid {
            field: "scope",
            message: "at least one scope is required".into(),
        }
        .into());
    }
    let grant_types = grant_types(input.grant_types)?;
    if input.refresh_grace > MAX_REFRESH_GRACE {
        return Err(validate::Invalid {
            field: "refresh_grace",
            message: "at most 300 seconds (5m)".into(),
        }
        .into());
    }
    let refresh_grace_seconds = input.refresh_grace.as_secs() as i32;
    let mut cors_origins = Vec::new();
    for origin in input.cors_origins {
        let origin = validate::origin(origin)?;
        if !cors_origins.contains(&origin) {
            cors_origins.push(origin);
        }
    }
    let org = super::orgs::find(conn, input.org)?;
    super::scopes::require_all(conn, &scopes)?;
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
        let client = Client::find(conn, &client_id)?;
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

pub(crate) fn list(conn: &mut DbConn, org: &str) -> Result<Vec<Client>, AdminError> {
    let org = super::orgs::find(conn, org)?;
    Ok(Client::list_for_org(conn, org.id)?)
}

pub(crate) fn find(conn: &mut DbConn, client_id: &str) -> Result<Client, AdminError> {
    or_not_found(Client::find(conn, client_id), || {
        format!("client {client_id:?}")
    })
}

#[derive(Serialize)]
pub(crate) struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    /// When the previous secret stops working (now, unless a grace period was asked for).
    #[serde(with = "crate::clock::as_rfc3339")]
    pub previous_expires_at: chrono::NaiveDateTime,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Issues a new secret; the old one keeps working for `grace` (zero: stops now).
pub(crate) fn rotate_secret(
    conn: &mut DbConn,
    actor: &Actor,
    brand: &str,
    client_id: &str,
    grace: Duration,
) -> Result<RotatedSecret, AdminError> {
    let client = find(conn, client_id)?;
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
        find(conn, client_id)?;
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
            Some(&format!("grace_seconds={}", grace.as_secs())),
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
#[derive(Debug, Serialize)]
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
    client_id: &str,
) -> Result<DeletedClient, AdminError> {
    let client = find(conn, client_id)?;
    transaction(conn, |conn| {
        // In turn with secret rotations and other deletions of this client; one that went
        // first leaves nothing to delete (404).
        crate::store::lock_entity(conn, "client", client_id)?;
        find(conn, client_id)?;
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
