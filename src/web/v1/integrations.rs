//! `/v1/orgs/{org}/integrations…`: create, list, show, update, rotate, expire, revoke.
//! Each handler: authorise ([`super::caller::acting`]) → parse → call
//! [`crate::integrations`] → answer.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::DurationInput;
use super::caller;
use crate::access::caller::Acting;
use crate::integrations::{
    self, CreateIntegration, Expiring, IntegrationList, IntegrationView, IssuedIntegration,
    UpdateIntegration,
};
use crate::roles::Role;
use crate::web::body::optional_json;
use crate::web::error::ApiError;
use crate::web::state::AppState;

const SCOPE: &str = "integrations:manage";

async fn acting(req: &HttpRequest, state: &AppState, org: &str) -> Result<Acting, ApiError> {
    caller::acting(req, state, org, SCOPE, Role::Admin).await
}

/// A new integration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateIntegrationBody)]
pub(crate) struct CreateBody {
    name: String,
    description: Option<String>,
    /// `live` (the default) or `test`: the token's prefix says which.
    env: Option<String>,
    /// Scopes the token may use; each at most what the caller's role may grant.
    scopes: Vec<String>,
    /// When the integration expires, from now: a duration such as `"90d"` (none by default).
    #[schema(value_type = Option<String>, example = "90d")]
    expires_in: Option<DurationInput>,
    /// IP addresses or CIDR networks the token may be used from (anywhere by default).
    allow_ips: Option<Vec<String>>,
    /// The token stops working after this long unused, e.g. `"30d"` (never by default).
    #[schema(value_type = Option<String>, example = "30d")]
    inactive_after: Option<DurationInput>,
}

/// Creates an integration and its first token, shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/integrations",
    operation_id = "create_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug.")),
    request_body = CreateBody,
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 201, description = "Created: the integration and its token (shown only now).", body = IssuedIntegration, headers(("Location" = String, description = "The new integration's URL."))),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<CreateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let body = body.into_inner();
    let input = CreateIntegration {
        name: body.name,
        description: body.description,
        env: body.env,
        scopes: body.scopes,
        expires_in: body
            .expires_in
            .map(|d| d.to_duration("expires_in"))
            .transpose()?,
        allow_ips: body.allow_ips.unwrap_or_default(),
        inactive_after: body
            .inactive_after
            .map(|d| d.to_duration("inactive_after"))
            .transpose()?,
    };
    let brand = state.config.token_brand.clone();
    let issued = state
        .db
        .run(move |conn| {
            let creator = acting.creator();
            integrations::create(conn, &acting.actor, &acting.org, &creator, &brand, &input)
        })
        .await?;
    state.webhook_waker.wake();
    let location = format!(
        "/v1/orgs/{}/integrations/{}",
        issued.integration.org, issued.integration.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

/// The organization's integrations (never a token's text).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/integrations",
    operation_id = "list_integrations",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug.")),
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integrations.", body = IntegrationList),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&req, &state, &path).await?;
    let all = state
        .db
        .run(move |conn| integrations::list(conn, &acting.org))
        .await?;
    Ok(HttpResponse::Ok().json(IntegrationList { integrations: all }))
}

/// One integration.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/integrations/{id}",
    operation_id = "show_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The integration's id.")),
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integration.", body = IntegrationView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = state
        .db
        .run(move |conn| integrations::show(conn, &acting.org, &id))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// What to change; members left out stay as they are.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateIntegrationBody)]
pub(crate) struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    /// IP addresses or CIDR networks; an empty list allows anywhere.
    allow_ips: Option<Vec<String>>,
}

/// Renames an integration, or changes its description or IP allowlist.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/integrations/{id}",
    operation_id = "update_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The integration's id.")),
    request_body = UpdateBody,
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integration as changed.", body = IntegrationView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body = body.into_inner();
    let input = UpdateIntegration {
        name: body.name,
        description: body.description,
        allow_ips: body.allow_ips,
    };
    let one = state
        .run_change(move |conn| {
            integrations::update(
                conn,
                &acting.actor,
                &acting.creator(),
                &acting.org,
                &id,
                &input,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// How to rotate.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateIntegrationBody)]
pub(crate) struct RotateBody {
    /// How long the previous token keeps working, e.g. `"24h"` (it ends now by default).
    #[schema(value_type = Option<String>, example = "24h")]
    grace: Option<DurationInput>,
}

/// Issues a new token; the previous one keeps working for `grace` (none: it ends now).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/integrations/{id}/rotate",
    operation_id = "rotate_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The integration's id.")),
    request_body(content = Option<RotateBody>, description = "Optional; an empty body rotates with no grace period."),
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integration and its new token (shown only now).", body = IssuedIntegration),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn rotate(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: RotateBody = optional_json(&body)?;
    let grace = body
        .grace
        .map(|g| g.to_duration("grace"))
        .transpose()?
        .unwrap_or_default();
    let brand = state.config.token_brand.clone();
    let issued = state
        .run_change(move |conn| {
            integrations::rotate(
                conn,
                &acting.actor,
                &acting.creator(),
                &acting.org,
                &id,
                grace,
                &brand,
            )
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(issued))
}

/// When to expire: `in` a while (e.g. `"7d"`); without it, now.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExpireIntegrationBody)]
pub(crate) struct ExpireBody {
    /// A duration from now, e.g. `"7d"`.
    #[serde(rename = "in")]
    #[schema(value_type = Option<String>, example = "7d")]
    after: Option<DurationInput>,
}

/// Sets the integration to expire now or after a while (never later than an earlier deadline).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/integrations/{id}/expire",
    operation_id = "expire_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The integration's id.")),
    request_body(content = Option<ExpireBody>, description = "Optional; an empty body expires it now."),
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integration, and whether an earlier deadline was kept.", body = Expiring),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn expire(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: ExpireBody = optional_json(&body)?;
    let after = body
        .after
        .map(|d| d.to_duration("in"))
        .transpose()?
        .unwrap_or_default();
    let one = state
        .run_change(move |conn| integrations::expire(conn, &acting.actor, &acting.org, &id, after))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// Revokes the integration and every token it has, at once and for good.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/integrations/{id}/revoke",
    operation_id = "revoke_integration",
    tag = "integrations",
    params(("org" = String, Path, description = "The organization's slug."), ("id" = String, Path, description = "The integration's id.")),
    security(("oauth2" = ["integrations:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The integration, revoked.", body = IntegrationView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = state
        .run_change(move |conn| integrations::revoke(conn, &acting.actor, &acting.org, &id))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}
