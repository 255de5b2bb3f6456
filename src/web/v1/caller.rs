//! The management API's caller: the bearer (an OAuth access token or an integration token),
//! decided by [`crate::access::caller::authorize`].

use actix_web::HttpRequest;

use crate::access::caller::{self, Acting, CallerRefusal, Needs};
use crate::limits::address_key;
use crate::roles::Role;
use crate::store::StoreError;
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
    // An address that presented too many bad credentials is refused before any look-up.
    let address = client_ip(req, &state.config.trusted_proxies);
    let source = address.map(address_key);
    if let Some(wait) = source.and_then(|ip| state.management_failures.blocked(&ip)) {
        return Err(ApiError::rate_limited(wait));
    }
    let ip = address;
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
        Ok(Ok(acting)) => {
            // Per signed-in user, whichever of their tokens they use; per integration.
            state.management_rate.check(&acting.key).map_err(|wait| {
                tracing::info!(caller = ?acting.key, "management API rate limit reached");
                ApiError::rate_limited(wait)
            })?;
            Ok(acting)
        }
        Ok(Err(refusal @ CallerRefusal::InvalidToken)) => {
            if let Some(wait) = source.and_then(|ip| state.management_failures.failed(&ip)) {
                return Err(ApiError::rate_limited(wait));
            }
            Err(refusal.into())
        }
        Ok(Err(refusal)) => Err(refusal.into()),
        Err(StoreError::NotFound) => Err(ApiError::not_found("not found")),
        Err(e) => Err(e.into()),
    }
}
