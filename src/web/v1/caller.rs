//! The management API's caller: the bearer, decided by [`crate::access::caller::authorize`].

use actix_web::HttpRequest;

use crate::access::caller::{self, Acting, Needs};
use crate::roles::Role;
use crate::store::StoreError;
use crate::tokens::secret::SecretHash;
use crate::web::bearer::bearer;
use crate::web::client_ip::client_ip;
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// Authorises a management call on organization `org_slug` needing `scope`, and a role of at
/// least `min_role` there.
pub(crate) async fn acting(
    req: &HttpRequest,
    state: &AppState,
    org_slug: &str,
    scope: &'static str,
    min_role: Role,
) -> Result<Acting, ApiError> {
    let token = bearer(req)?
        .map(str::to_string)
        .ok_or_else(|| ApiError::unauthorized("a bearer access token is required", false))?;
    // Per caller (the credential presented), before anything is looked up.
    state
        .management_rate
        .check(&SecretHash::of(&token).0)
        .map_err(|wait| {
            tracing::info!("management API rate limit reached");
            ApiError::rate_limited(wait)
        })?;
    let ip = client_ip(req, &state.config.trusted_proxies).map(|ip| ip.to_string());
    let signer = state.oauth.signer.clone();
    let brand = state.config.token_brand.clone();
    let usage = state.usage.clone();
    let org_slug = org_slug.to_string();
    let outcome = state
        .db
        .run(move |conn| {
            let needs = Needs {
                org_slug: &org_slug,
                scope,
                min_role,
            };
            caller::authorize(conn, &signer, &brand, &usage, &token, &needs, ip)
        })
        .await;
    match outcome {
        Ok(Ok(acting)) => Ok(acting),
        Ok(Err(refusal)) => Err(refusal.into()),
        Err(StoreError::NotFound) => Err(ApiError::not_found("not found")),
        Err(e) => Err(e.into()),
    }
}
