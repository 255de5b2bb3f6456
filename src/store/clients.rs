//! OAuth clients and their secrets' hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{client_secrets, clients, organizations};
use super::{DbConn, StoreError, StoreResult, revocations};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Can keep a secret (a server-side app): authenticates at the token endpoint.
    Confidential,
    /// Cannot keep a secret (SPA, native app): identified by `client_id`, protected by PKCE.
    Public,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    #[serde(skip)]
    pub id: i64,
    pub client_id: String,
    #[serde(skip)]
    pub org_id: i64,
    pub org: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    /// Seconds during which a refresh token just rotated may be presented again without
    /// revoking its family (0: strict rotation).
    pub refresh_grace_seconds: i32,
    /// Browser origins allowed to call the token and revocation endpoints; empty: the origins
    /// of a public client's redirect URIs.
    pub cors_origins: Vec<String>,
    #[serde(with = "crate::clock::as_rfc3339")]
    pub created_at: NaiveDateTime,
}

impl Client {
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub org_id: i64,
    pub name: &'a str,
    pub kind: ClientKind,
    pub redirect_uris: &'a [String],
    pub scopes: &'a [String],
    pub grant_types: &'a [String],
    pub refresh_grace_seconds: i32,
    pub cors_origins: &'a [String],
}

type Row = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    String,
    NaiveDateTime,
);

fn from_row(
    (
        id,
        client_id,
        org_id,
        org,
        name,
        kind,
        redirect_uris,
        scopes,
        grant_types,
        refresh_grace_seconds,
        cors_origins,
        created_at,
    ): Row,
) -> StoreResult<Client> {
    let kind = match kind.as_str() {
        "confidential" => ClientKind::Confidential,
        "public" => ClientKind::Public,
        other => {
            return Err(StoreError::Query(
                diesel::result::Error::DeserializationError(
                    format!("unknown client kind {other:?}").into(),
                ),
            ));
        }
    };
    Ok(Client {
        id,
        client_id,
        org_id,
        org,
        name,
        kind,
        redirect_uris: redirect_uris.lines().map(str::to_string).collect(),
        scopes: scopes
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        grant_types: grant_types
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        refresh_grace_seconds,
        cors_origins: cors_origins
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect(),
        created_at,
    })
}

macro_rules! client_columns {
    () => {
        (
            clients::id,
            clients::client_id,
            clients::org_id,
            organizations::slug,
            clients::name,
            clients::kind,
            clients::redirect_uris,
            clients::scopes,
            clients::grant_types,
            clients::refresh_grace_seconds,
            clients::cors_origins,
            clients::created_at,
        )
    };
}

impl Client {
    pub fn create(conn: &mut DbConn, new: &NewClient) -> StoreResult<i64> {
        diesel::insert_into(clients::table)
            .values((
                clients::client_id.eq(new.client_id),
                clients::org_id.eq(new.org_id),
                clients::name.eq(new.name),
                clients::kind.eq(new.kind.as_str()),
                clients::redirect_uris.eq(new.redirect_uris.join("\n")),
                clients::scopes.eq(new.scopes.join(" ")),
                clients::grant_types.eq(new.grant_types.join(" ")),
                clients::refresh_grace_seconds.eq(new.refresh_grace_seconds),
                clients::cors_origins.eq(new.cors_origins.join(" ")),
                clients::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        clients::table
            .filter(clients::client_id.eq(new.client_id))
            .select(clients::id)
            .get_result(conn)
            .map_err(Into::into)
    }

    pub fn find(conn: &mut DbConn, client_id: &str) -> StoreResult<Client> {
        let row: Row = clients::table
            .inner_join(organizations::table)
            .filter(clients::client_id.eq(client_id))
            .select(client_columns!())
            .get_result(conn)?;
        from_row(row)
    }

    /// Every client of every organization.
    pub fn list_all(conn: &mut DbConn) -> StoreResult<Vec<Client>> {
        let rows: Vec<Row> = clients::table
            .inner_join(organizations::table)
            .order(clients::id)
            .select(client_columns!())
            .load(conn)?;
        rows.into_iter().map(from_row).collect()
    }

    pub fn list_for_org(conn: &mut DbConn, org_id: i64) -> StoreResult<Vec<Client>> {
        let rows: Vec<Row> = clients::table
            .inner_join(organizations::table)
            .filter(clients::org_id.eq(org_id))
            .order(clients::created_at)
            .select(client_columns!())
            .load(conn)?;
        rows.into_iter().map(from_row).collect()
    }

    /// Replaces the client's name, redirect URIs, scopes and CORS origins (as
    /// [`Client::create`] stores them). Servers re-read it: the revocation feed records it.
    pub fn update(conn: &mut DbConn, client: &Client) -> StoreResult<()> {
        diesel::update(clients::table.find(client.id))
            .set((
                clients::name.eq(&client.name),
                clients::redirect_uris.eq(client.redirect_uris.join("\n")),
                clients::scopes.eq(client.scopes.join(" ")),
                clients::cors_origins.eq(client.cors_origins.join(" ")),
            ))
            .execute(conn)?;
        revocations::record(conn, revocations::Kind::Client, &client.client_id)?;
        Ok(())
    }

    pub fn add_secret(
        conn: &mut DbConn,
        client_pk: i64,
        hash: &[u8; 32],
        prefix: &str,
    ) -> StoreResult<()> {
        diesel::insert_into(client_secrets::table)
            .values((
                client_secrets::client_id.eq(client_pk),
                client_secrets::secret_hash.eq(hash.as_slice()),
                client_secrets::prefix.eq(prefix),
                client_secrets::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Ends every secret of the client that is still valid at `at` (or later), keeping earlier
    /// expiries: the start of a rotation.
    pub fn expire_secrets(
        conn: &mut DbConn,
        client_pk: i64,
        at: NaiveDateTime,
    ) -> StoreResult<usize> {
        diesel::update(
            client_secrets::table
                .filter(client_secrets::client_id.eq(client_pk))
                .filter(
                    client_secrets::expires_at
                        .is_null()
                        .or(client_secrets::expires_at.gt(at)),
                ),
        )
        .set(client_secrets::expires_at.eq(Some(at)))
        .execute(conn)
        .map_err(Into::into)
    }

    /// Deletes the client with its secrets, codes, consents and grants (and so every token
    /// descended from them). Servers re-read it: the revocation feed records it.
    pub fn delete(conn: &mut DbConn, client: &Client) -> StoreResult<bool> {
        let n = diesel::delete(clients::table.find(client.id)).execute(conn)?;
        revocations::record(conn, revocations::Kind::Client, &client.client_id)?;
        Ok(n == 1)
    }

    /// Ends, now, the secret whose SHA-256 is `hash` (a leak report). Returns the client's
    /// `client_id` and whether the secret was still valid — `None` when no secret has it.
    pub fn end_secret_by_hash(
        conn: &mut DbConn,
        hash: &[u8; 32],
    ) -> StoreResult<Option<(Client, bool)>> {
        let now = crate::clock::now();
        let row: Option<(i64, Vec<u8>, i64)> = client_secrets::table
            .filter(client_secrets::secret_hash.eq(hash.as_slice()))
            .select((
                client_secrets::id,
                client_secrets::secret_hash,
                client_secrets::client_id,
            ))
            .get_result(conn)
            .optional()?;
        let Some((id, _, client_pk)) =
            row.filter(|(_, stored, _)| super::digest_matches(hash, stored))
        else {
            return Ok(None);
        };
        let n = diesel::update(
            client_secrets::table.find(id).filter(
                client_secrets::expires_at
                    .is_null()
                    .or(client_secrets::expires_at.gt(now)),
            ),
        )
        .set(client_secrets::expires_at.eq(Some(now)))
        .execute(conn)?;
        let client_id: String = clients::table
            .find(client_pk)
            .select(clients::client_id)
            .get_result(conn)?;
        if n == 1 {
            revocations::record(conn, revocations::Kind::Client, &client_id)?;
        }
        Ok(Some((Self::find(conn, &client_id)?, n == 1)))
    }

    /// The client's secrets that have not ended yet, with when they end (if they do).
    pub fn unexpired_secrets(
        conn: &mut DbConn,
        client_pk: i64,
    ) -> StoreResult<Vec<(Vec<u8>, Option<NaiveDateTime>)>> {
        let now = crate::clock::now();
        client_secrets::table
            .filter(client_secrets::client_id.eq(client_pk))
            .filter(
                client_secrets::expires_at
                    .is_null()
                    .or(client_secrets::expires_at.gt(now)),
            )
            .select((client_secrets::secret_hash, client_secrets::expires_at))
            .load(conn)
            .map_err(Into::into)
    }
}
