//! Client authentication for revocation and introspection, through the same registrar check
//! the token endpoint uses.

use oxide_auth::primitives::prelude::Registrar;
use oxide_auth::primitives::registrar::RegistrarError;

use super::OAuthContext;
use super::errors::Refusal;
use super::params::ClientCredentials;
use super::primitives::StoreEndpoint;
use crate::store::clients::{Client, ClientKind};
use crate::store::{DbConn, StoreError};

/// The authenticated client, or the refusal to send. `confidential_only` refuses public
/// clients (introspection reveals facts about other clients' tokens).
pub fn authenticate(
    conn: &mut DbConn,
    ctx: &OAuthContext,
    credentials: Option<&ClientCredentials>,
    confidential_only: bool,
) -> Result<Result<Client, Refusal>, StoreError> {
    let Some(creds) = credentials else {
        return Ok(Err(Refusal::new(
            "invalid_client",
            "client authentication is required",
        )));
    };
    let endpoint = StoreEndpoint::new(conn, ctx);
    let result = endpoint.check(&creds.client_id, creds.secret.as_deref().map(str::as_bytes));
    if let Some(e) = endpoint.store_error.take() {
        return Err(e);
    }
    match (result, endpoint.client()) {
        (Ok(()), Some(client)) if !(confidential_only && client.kind == ClientKind::Public) => {
            Ok(Ok(client))
        }
        (Err(RegistrarError::PrimitiveError), _) => {
            Err(StoreError::Unavailable("client look-up failed".into()))
        }
        _ => Ok(Err(Refusal::new(
            "invalid_client",
            "client authentication failed",
        ))),
    }
}
