//! `/v1/orgs/{org}/clients…`: an organization's OAuth clients — register, list, show, update,
//! rotate the secret, delete. Each handler: authorise ([`super::caller::acting`], scope
//! `clients:manage`, role `admin` or higher) → parse → call [`crate::admin::clients`] →
//! answer. A client of another organization is 404 here. Secrets appear only in the answers
//! to create and rotate-secret, which are `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::DurationInput;
use super::caller;
use crate::access::caller::Acting;
use crate::admin::clients::{
    self, ClientInput, ClientList, ClientUpdate, ClientView, DeletedClient, RegisteredClient,
    RotatedSecret,
};
use crate::roles::Role;
use crate::web::body::optional_json;
use crate::web::error::ApiError;
use crate::web::state::AppState;

const SCOPE: &str = "clients:manage";

async fn acting(req: &HttpRequest, state: &AppState, org: &str) -> Result<Acting, ApiError> {
    caller::acting(req, state, org, SCOPE, Role::Admin).await
}

/// Whether a client can keep a secret.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientType {
    /// A server-side app: it gets a secret and authenticates at the token endpoint.
    Confidential,
    /// A browser or native app: no secret, PKCE required.
    Public,
}

/// A new client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateClientBody)]
pub(crate) struct CreateBody {
    name: String,
    /// Exact redirect URIs (1 to 20): https, http on a loopback host, or a private-use scheme.
    redirect_uris: Vec<String>,
    #[serde(rename = "type")]
    client_type: ClientType,
    /// Scopes the client may ask for, one name per entry.
    scopes: Vec<String>,
    /// `authorization_code` (required) and `refresh_token`; both by default.
    grant_types: Option<Vec<String>>,
    /// Refresh-token rotation grace, e.g. `"30s"` (at most `"5m"`; none by default: strict).
    #[schema(value_type = Option<String>, example = "30s")]
    refresh_grace: Option<DurationInput>,
    /// Browser origins allowed at the token and revocation endpoints (by default the origins
    /// of a public client's redirect URIs).
    cors_origins: Option<Vec<String>>,
}

/// Registers a client; a confidential client's secret is shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/clients",
    operation_id = "create_client",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug.")),
    request_body = CreateBody,
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 201, description = "Created: the client and its secret (shown only now; `null` for a public client).", body = RegisteredClient, headers(("Location" = String, description = "The new client's URL."))),
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
    let refresh_grace = body
        .refresh_grace
        .map(|d| d.to_duration("refresh_grace"))
        .transpose()?
        .unwrap_or_default();
    let brand = state.config.token_brand.clone();
    let created = state
        .db
        .run(move |conn| {
            let input = ClientInput {
                org: &acting.org.slug,
                name: &body.name,
                redirect_uris: &body.redirect_uris,
                scopes: &body.scopes,
                public: body.client_type == ClientType::Public,
                grant_types: body.grant_types.as_deref().unwrap_or_default(),
                refresh_grace,
                cors_origins: body.cors_origins.as_deref().unwrap_or_default(),
            };
            clients::create(conn, &acting.actor, &brand, &input)
        })
        .await?;
    state.webhook_waker.wake();
    let location = format!(
        "/v1/orgs/{}/clients/{}",
        created.client.org, created.client.client_id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

/// The organization's clients, oldest first (never a secret).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/clients",
    operation_id = "list_clients",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug.")),
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The clients.", body = ClientList),
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
        .run(move |conn| clients::list(conn, &acting.org))
        .await?;
    Ok(HttpResponse::Ok().json(all))
}

/// One client (never its secret).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/clients/{client_id}",
    operation_id = "show_client",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug."), ("client_id" = String, Path, description = "The client's `client_id`.")),
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The client.", body = ClientView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, client_id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let one = state
        .db
        .run(move |conn| clients::show(conn, &acting.org, &client_id))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// What to change; members left out stay as they are, lists given replace the current ones.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateClientBody)]
pub(crate) struct UpdateBody {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    /// One scope name per entry.
    scopes: Option<Vec<String>>,
    cors_origins: Option<Vec<String>>,
}

/// Renames a client or changes its redirect URIs, scopes or CORS origins. Grants already
/// given keep their scopes; a removed redirect URI stops being accepted at once.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/clients/{client_id}",
    operation_id = "update_client",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug."), ("client_id" = String, Path, description = "The client's `client_id`.")),
    request_body = UpdateBody,
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The client as changed.", body = ClientView),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, client_id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body = body.into_inner();
    let input = ClientUpdate {
        name: body.name,
        redirect_uris: body.redirect_uris,
        scopes: body.scopes,
        cors_origins: body.cors_origins,
    };
    let one = state
        .db
        .run(move |conn| clients::update(conn, &acting.actor, &acting.org, &client_id, &input))
        .await?;
    Ok(HttpResponse::Ok().json(one))
}

/// Deletes a client: its grants are revoked (every refresh and access token of it stops
/// working before this answers), then it goes with its secrets, codes and consents.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/clients/{client_id}",
    operation_id = "delete_client",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug."), ("client_id" = String, Path, description = "The client's `client_id`.")),
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "Deleted: how many live grants were revoked with it.", body = DeletedClient),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, client_id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let deleted = state
        .run_change(move |conn| clients::delete(conn, &acting.actor, &acting.org, &client_id))
        .await?;
    Ok(HttpResponse::Ok().json(deleted))
}

/// How to rotate.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RotateClientSecretBody)]
pub(crate) struct RotateBody {
    /// How long the previous secret keeps working, e.g. `"1h"` (at most `"7d"`; none: it stops
    /// now).
    #[schema(value_type = Option<String>, example = "1h")]
    grace: Option<DurationInput>,
}

/// Issues a new client secret, shown only in this answer; the previous one keeps working for
/// `grace`.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/clients/{client_id}/rotate-secret",
    operation_id = "rotate_client_secret",
    tag = "clients",
    params(("org" = String, Path, description = "The organization's slug."), ("client_id" = String, Path, description = "The client's `client_id`.")),
    request_body(content = Option<RotateBody>, description = "Optional; an empty body ends the previous secret now."),
    security(("oauth2" = ["clients:manage"]), ("bearer" = [])),
    responses(
        (status = 200, description = "The new secret (shown only now) and when the previous one stops working.", body = RotatedSecret),
        crate::web::openapi::shapes::ApiErrors,
    ),
)]
pub(crate) async fn rotate_secret(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (org, client_id) = path.into_inner();
    let acting = acting(&req, &state, &org).await?;
    let body: RotateBody = optional_json(&body)?;
    let grace = body
        .grace
        .map(|g| g.to_duration("grace"))
        .transpose()?
        .unwrap_or_default();
    let brand = state.config.token_brand.clone();
    let rotated = state
        .run_change(move |conn| {
            clients::rotate_secret(conn, &acting.actor, &brand, &acting.org, &client_id, grace)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(rotated))
}
